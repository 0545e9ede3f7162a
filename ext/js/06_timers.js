// Timers (HTML §8.6) and queueMicrotask (HTML §8.7).

const { defineGlobals, reportError, webidl } = internal;

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

defineGlobals({ setTimeout, setInterval, clearTimeout, clearInterval, queueMicrotask });
