// AbortController and AbortSignal (DOM §3.1, §3.2).

const {
  abortHooks, defineEventHandler, defineGlobals, defineInterface, dispatchEvent, DOMException,
  Event, eventInternals, EventTarget, inspectCustom, webidl,
} = internal;

const illegalConstructor = Symbol("illegal constructor");

let isAbortSignal;
let createAbortSignal;
let addAbortAlgorithm;
let signalAbort;
class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  #algorithms = new Set();
  // For AbortSignal.any(): the signals this one follows, and those following it.
  #sources = new Set();
  #dependents = new Set();
  #dependent = false;

  constructor(key = undefined) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
    super();
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#aborted in self)) throw webidl.illegalInvocation();
  }

  static {
    isAbortSignal = (value) => webidl.isObject(value) && #aborted in value;
    createAbortSignal = () => new AbortSignal(illegalConstructor);
    // Runs `algorithm(reason)` when the signal aborts; returns a function removing it.
    addAbortAlgorithm = (signal, algorithm) => {
      if (signal.#aborted) return () => {};
      signal.#algorithms.add(algorithm);
      return () => signal.#algorithms.delete(algorithm);
    };
    signalAbort = (signal, reason) => signal.#signalAbort(reason);
  }

  #signalAbort(reason) {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined
      ? new DOMException("signal is aborted without reason", "AbortError")
      : reason;
    const dependents = [];
    for (const dependent of this.#dependents) {
      if (dependent.#aborted) continue;
      dependent.#aborted = true;
      dependent.#reason = this.#reason;
      dependents.push(dependent);
    }
    this.#runAbortSteps();
    for (const dependent of dependents) dependent.#runAbortSteps();
  }

  #runAbortSteps() {
    const algorithms = [...this.#algorithms];
    this.#algorithms.clear();
    for (const algorithm of algorithms) algorithm(this.#reason);
    // Unlink from the graph so aborted signals can be collected.
    for (const source of this.#sources) source.#dependents.delete(this);
    this.#sources.clear();
    this.#dependents.clear();
    const event = new Event("abort");
    eventInternals.setTrusted(event, true);
    dispatchEvent(this, event);
  }

  get aborted() {
    AbortSignal.#check(this);
    return this.#aborted;
  }

  get reason() {
    AbortSignal.#check(this);
    return this.#reason;
  }

  throwIfAborted() {
    AbortSignal.#check(this);
    if (this.#aborted) throw this.#reason;
  }

  static abort(reason = undefined) {
    const signal = new AbortSignal(illegalConstructor);
    signal.#signalAbort(reason);
    return signal;
  }

  static timeout(milliseconds) {
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'timeout' on 'AbortSignal'");
    const ms = webidl.toInteger(milliseconds, { bits: 64, enforceRange: true },
      "Failed to execute 'timeout' on 'AbortSignal'");
    const signal = new AbortSignal(illegalConstructor);
    native.timerStart(() => {
      signal.#signalAbort(new DOMException("signal timed out", "TimeoutError"));
    }, ms, false);
    return signal;
  }

  static any(signals) {
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'any' on 'AbortSignal'");
    const list = webidl.toSequence(signals, (s) => {
      if (!isAbortSignal(s)) {
        throw new TypeError("Failed to execute 'any' on 'AbortSignal': Failed to convert value to 'AbortSignal'.");
      }
      return s;
    }, "Failed to execute 'any' on 'AbortSignal'");
    const result = new AbortSignal(illegalConstructor);
    for (const signal of list) {
      if (signal.#aborted) {
        result.#aborted = true;
        result.#reason = signal.#reason;
        return result;
      }
    }
    result.#dependent = true;
    for (const signal of list) {
      const sources = signal.#dependent ? signal.#sources : [signal];
      for (const source of sources) {
        if (source.#aborted) continue;
        result.#sources.add(source);
        source.#dependents.add(result);
      }
    }
    return result;
  }

  [inspectCustom](inspect) {
    return `AbortSignal ${inspect({ aborted: this.#aborted }, { depthOffset: 0 })}`;
  }
}
defineEventHandler(AbortSignal.prototype, "abort");
defineInterface(AbortSignal);

class AbortController {
  #signal = new AbortSignal(illegalConstructor);

  static #check(self) {
    if (!webidl.isObject(self) || !(#signal in self)) throw webidl.illegalInvocation();
  }

  get signal() {
    AbortController.#check(this);
    return this.#signal;
  }

  abort(reason = undefined) {
    AbortController.#check(this);
    signalAbort(this.#signal, reason);
  }

  [inspectCustom](inspect) {
    return `AbortController ${inspect({ signal: this.#signal }, { depthOffset: 0 })}`;
  }
}
defineInterface(AbortController);

defineGlobals({ AbortController, AbortSignal });

Object.assign(abortHooks, { isAbortSignal, addAbortAlgorithm });

Object.assign(internal, { isAbortSignal, createAbortSignal, addAbortAlgorithm });
