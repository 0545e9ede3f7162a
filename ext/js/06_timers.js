// Timers (HTML §8.6), queueMicrotask (HTML §8.7) and Workers' `scheduler.wait()`.

const { addAbortAlgorithm, defineGlobals, defineInterface, isAbortSignal, reportError, webidl } = internal;

// WebIDL `long` conversion, then negative delays count as zero.
function toDelay(timeout) {
  return Math.max(0, webidl.toInteger(timeout, { bits: 32, signed: true }));
}

function checkHandler(handler, name) {
  if (typeof handler !== "function") {
    throw new TypeError(`Failed to execute '${name}': parameter 1 is not of type 'Function'.`);
  }
}

function startTimer(handler, timeout, args, repeat) {
  const delay = toDelay(timeout);
  return native.timerStart(() => {
    try {
      Reflect.apply(handler, globalThis, args);
    } catch (error) {
      reportError(error);
    }
  }, delay, repeat);
}

function clearTimer(id) {
  const n = webidl.toInteger(id, { bits: 32, signed: true });
  if (n > 0) native.timerClear(n);
}

function setTimeout(handler, timeout = 0, ...args) {
  checkHandler(handler, "setTimeout");
  return startTimer(handler, timeout, args, false);
}

function setInterval(handler, timeout = 0, ...args) {
  checkHandler(handler, "setInterval");
  return startTimer(handler, timeout, args, true);
}

function clearTimeout(id = 0) {
  clearTimer(id);
}

function clearInterval(id = 0) {
  clearTimer(id);
}

const resolved = Promise.resolve();

function queueMicrotask(callback) {
  webidl.requiredArguments(arguments.length, 1, "Failed to execute 'queueMicrotask'");
  if (typeof callback !== "function") {
    throw new TypeError("Failed to execute 'queueMicrotask': parameter 1 is not of type 'Function'.");
  }
  // Errors are reported like the HTML spec does, never turned into rejections.
  Promise.prototype.then.call(resolved, () => {
    try {
      callback();
    } catch (error) {
      reportError(error);
    }
  });
}

// `scheduler` (the WICG scheduling API, of which Workers have `wait()`): a timer to await,
// which an AbortSignal cancels.
const illegalConstructor = Symbol("illegal constructor");

class Scheduler {
  #brand = true;

  constructor(key = undefined) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
  }

  wait(delay, options = undefined) {
    if (!(webidl.isObject(this) && #brand in this)) throw webidl.illegalInvocation();
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'wait' on 'Scheduler'");
    const ms = toDelay(delay);
    const signal = options === undefined || options === null ? undefined : options.signal;
    if (signal !== undefined && !isAbortSignal(signal)) {
      throw new TypeError("Failed to execute 'wait' on 'Scheduler': member signal is not of type 'AbortSignal'.");
    }
    return new Promise((resolve, reject) => {
      if (signal === undefined) {
        native.timerStart(() => resolve(), ms, false);
        return;
      }
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const id = native.timerStart(() => {
        forget();
        resolve();
      }, ms, false);
      const forget = addAbortAlgorithm(signal, (reason) => {
        native.timerClear(id);
        reject(reason);
      });
    });
  }
}
defineInterface(Scheduler);

defineGlobals({
  setTimeout, setInterval, clearTimeout, clearInterval, queueMicrotask, scheduler: new Scheduler(illegalConstructor),
});
