// DOM events: Event, EventTarget, CustomEvent, ErrorEvent, PromiseRejectionEvent,
// the global object as an event target, and error reporting.

const {
  defineGlobals, defineInterface, DOMException, inspect, inspectCustom, isDOMException, webidl,
} = internal;

// 05_abort.js defines AbortSignal, an EventTarget, after this file; it plugs in here the
// two operations addEventListener's `signal` option needs.
const abortHooks = { isAbortSignal: () => false, addAbortAlgorithm: undefined };

const NONE = 0;
const CAPTURING_PHASE = 1;
const AT_TARGET = 2;
const BUBBLING_PHASE = 3;

// Shared getter for the per-instance, unforgeable `isTrusted` attribute.
let isTrustedGetter;

let isEvent;
let eventInternals;
class Event {
  #type;
  #bubbles;
  #cancelable;
  #composed;
  #target = null;
  #currentTarget = null;
  #eventPhase = NONE;
  #timeStamp;
  #isTrusted = false;
  #stopPropagation = false;
  #stopImmediatePropagation = false;
  #canceled = false;
  #inPassiveListener = false;
  #dispatching = false;
  #initialized = true;

  constructor(type, eventInitDict = undefined) {
    const context = `Failed to construct '${new.target?.name ?? "Event"}'`;
    webidl.requiredArguments(arguments.length, 1, context);
    this.#type = webidl.toDOMString(type, context);
    const init = webidl.toDictionary(eventInitDict, context);
    this.#bubbles = Boolean(init.bubbles);
    this.#cancelable = Boolean(init.cancelable);
    this.#composed = Boolean(init.composed);
    this.#timeStamp = native.now();
    Object.defineProperty(this, "isTrusted", { get: isTrustedGetter, enumerable: true, configurable: false });
  }

  static {
    isTrustedGetter = function isTrusted() {
      Event.#check(this);
      return this.#isTrusted;
    };
    Object.defineProperty(isTrustedGetter, "name", { value: "get isTrusted" });

    isEvent = (value) => webidl.isObject(value) && #type in value;
    eventInternals = {
      setTrusted(event, trusted) {
        event.#isTrusted = trusted;
      },
      isDispatching: (event) => event.#dispatching,
      isInitialized: (event) => event.#initialized,
      stopImmediate: (event) => event.#stopImmediatePropagation,
      canceled: (event) => event.#canceled,
      setInPassive(event, value) {
        event.#inPassiveListener = value;
      },
      beginDispatch(event, target) {
        event.#dispatching = true;
        event.#target = target;
      },
      setPhase(event, phase, currentTarget) {
        event.#eventPhase = phase;
        event.#currentTarget = currentTarget;
      },
      endDispatch(event) {
        event.#dispatching = false;
        event.#eventPhase = NONE;
        event.#currentTarget = null;
        event.#stopPropagation = false;
        event.#stopImmediatePropagation = false;
      },
    };
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#type in self)) throw webidl.illegalInvocation();
  }

  get type() {
    Event.#check(this);
    return this.#type;
  }

  get target() {
    Event.#check(this);
    return this.#target;
  }

  get srcElement() {
    Event.#check(this);
    return this.#target;
  }

  get currentTarget() {
    Event.#check(this);
    return this.#currentTarget;
  }

  composedPath() {
    Event.#check(this);
    return this.#currentTarget === null ? [] : [this.#currentTarget];
  }

  get eventPhase() {
    Event.#check(this);
    return this.#eventPhase;
  }

  stopPropagation() {
    Event.#check(this);
    this.#stopPropagation = true;
  }

  get cancelBubble() {
    Event.#check(this);
    return this.#stopPropagation;
  }

  set cancelBubble(value) {
    Event.#check(this);
    if (value) this.#stopPropagation = true;
  }

  stopImmediatePropagation() {
    Event.#check(this);
    this.#stopPropagation = true;
    this.#stopImmediatePropagation = true;
  }

  get bubbles() {
    Event.#check(this);
    return this.#bubbles;
  }

  get cancelable() {
    Event.#check(this);
    return this.#cancelable;
  }

  get returnValue() {
    Event.#check(this);
    return !this.#canceled;
  }

  set returnValue(value) {
    Event.#check(this);
    if (!value) this.#setCanceled();
  }

  #setCanceled() {
    if (this.#cancelable && !this.#inPassiveListener) this.#canceled = true;
  }

  preventDefault() {
    Event.#check(this);
    this.#setCanceled();
  }

  get defaultPrevented() {
    Event.#check(this);
    return this.#canceled;
  }

  get composed() {
    Event.#check(this);
    return this.#composed;
  }

  get timeStamp() {
    Event.#check(this);
    return this.#timeStamp;
  }

  initEvent(type, bubbles = false, cancelable = false) {
    Event.#check(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'initEvent' on 'Event'");
    if (this.#dispatching) return;
    this.#initialized = true;
    this.#stopPropagation = false;
    this.#stopImmediatePropagation = false;
    this.#canceled = false;
    this.#isTrusted = false;
    this.#target = null;
    this.#type = webidl.toDOMString(type);
    this.#bubbles = Boolean(bubbles);
    this.#cancelable = Boolean(cancelable);
  }

  [inspectCustom](inspect) {
    const name = this.constructor?.name ?? "Event";
    const fields = {
      type: this.#type,
      defaultPrevented: this.#canceled,
      cancelable: this.#cancelable,
      timeStamp: this.#timeStamp,
    };
    for (const key of ["message", "error", "reason", "detail"]) {
      if (key in this) fields[key] = this[key];
    }
    return `${name} ${inspect(fields, { depthOffset: 0 })}`;
  }
}

const eventConstants = { NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE };
for (const [key, value] of Object.entries(eventConstants)) {
  const desc = { value, enumerable: true, writable: false, configurable: false };
  Object.defineProperty(Event, key, desc);
  Object.defineProperty(Event.prototype, key, desc);
}
defineInterface(Event);

const ev = eventInternals;

function flattenOptions(options) {
  if (webidl.isObject(options)) return Boolean(options.capture);
  return Boolean(options);
}

// Called when a listener throws; replaced below once reportError exists.
let reportException;

let isEventTarget;
let setEventTargetOwner;
let hasEventListeners;
let dispatchEvent;
class EventTarget {
  // type -> array of listener records {callback, capture, once, passive, removed}
  #listeners = new Map();
  // What listeners see as `this`, `target` and `currentTarget` (the global object
  // for the hidden target that backs it).
  #owner = this;

  constructor() {}

  static {
    isEventTarget = (value) => webidl.isObject(value) && #listeners in value;
    setEventTargetOwner = (target, owner) => {
      target.#owner = owner;
    };
    hasEventListeners = (target, type) =>
      (target.#listeners.get(type) ?? []).some((l) => !l.removed);
  }

  static #self(value) {
    if (!webidl.isObject(value) || !(#listeners in value)) throw webidl.illegalInvocation();
    return value;
  }

  addEventListener(type, callback, options = undefined) {
    const self = EventTarget.#self(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'addEventListener' on 'EventTarget'");
    type = webidl.toDOMString(type);
    if (callback !== null && callback !== undefined && !webidl.isObject(callback)) {
      throw new TypeError(
        "Failed to execute 'addEventListener' on 'EventTarget': parameter 2 is not of type 'Object'.",
      );
    }
    let capture = false;
    let once = false;
    let passive = false;
    let signal = null;
    if (webidl.isObject(options)) {
      capture = Boolean(options.capture);
      once = Boolean(options.once);
      passive = Boolean(options.passive);
      if (options.signal !== undefined) {
        signal = options.signal;
        if (!abortHooks.isAbortSignal(signal)) {
          throw new TypeError(
            "Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type AbortSignal.",
          );
        }
      }
    } else {
      capture = Boolean(options);
    }
    if (signal !== null && signal.aborted) return;
    if (callback === null || callback === undefined) return;
    let list = self.#listeners.get(type);
    if (list === undefined) {
      list = [];
      self.#listeners.set(type, list);
    }
    if (list.some((l) => l.callback === callback && l.capture === capture)) return;
    const listener = { callback, capture, once, passive, removed: false };
    list.push(listener);
    if (signal !== null) {
      abortHooks.addAbortAlgorithm(signal, () => self.#remove(type, listener));
    }
  }

  #remove(type, listener) {
    listener.removed = true;
    const list = this.#listeners.get(type);
    if (list === undefined) return;
    const i = list.indexOf(listener);
    if (i !== -1) list.splice(i, 1);
  }

  removeEventListener(type, callback, options = undefined) {
    const self = EventTarget.#self(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'removeEventListener' on 'EventTarget'");
    type = webidl.toDOMString(type);
    const capture = flattenOptions(options);
    const list = self.#listeners.get(type);
    if (list === undefined) return;
    const listener = list.find((l) => l.callback === callback && l.capture === capture);
    if (listener !== undefined) self.#remove(type, listener);
  }

  dispatchEvent(event) {
    const self = EventTarget.#self(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'dispatchEvent' on 'EventTarget'");
    if (!isEvent(event)) {
      throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
    }
    if (ev.isDispatching(event) || !ev.isInitialized(event)) {
      throw new DOMException("The event is already being dispatched.", "InvalidStateError");
    }
    ev.setTrusted(event, false);
    return self.#dispatch(event);
  }

  static {
    dispatchEvent = (target, event) => target.#dispatch(event);
  }

  // Dispatch on a target with no parent: capture listeners, then the others.
  #dispatch(event) {
    const owner = this.#owner;
    ev.beginDispatch(event, owner);
    try {
      ev.setPhase(event, AT_TARGET, owner);
      this.#invoke(event, true);
      this.#invoke(event, false);
    } finally {
      ev.endDispatch(event);
    }
    return !ev.canceled(event);
  }

  #invoke(event, capturePhase) {
    const list = this.#listeners.get(event.type);
    if (list === undefined) return;
    for (const listener of list.slice()) {
      if (listener.removed || listener.capture !== capturePhase) continue;
      if (listener.once) this.#remove(event.type, listener);
      if (listener.passive) ev.setInPassive(event, true);
      try {
        const { callback } = listener;
        if (typeof callback === "function") {
          callback.call(this.#owner, event);
        } else {
          const handleEvent = callback.handleEvent;
          if (typeof handleEvent !== "function") {
            throw new TypeError("The 'handleEvent' property of the event listener is not callable");
          }
          handleEvent.call(callback, event);
        }
      } catch (error) {
        reportException(error);
      } finally {
        ev.setInPassive(event, false);
      }
      if (ev.stopImmediate(event)) return;
    }
  }
}
defineInterface(EventTarget);

// `on<type>` event handler attributes (HTML §8.1.8) on a prototype.
function defineEventHandler(proto, type) {
  const handlers = new WeakMap();
  const accessors = {
    get() {
      if (!isEventTarget(this)) throw webidl.illegalInvocation();
      return handlers.get(this)?.handler ?? null;
    },
    set(value) {
      if (!isEventTarget(this)) throw webidl.illegalInvocation();
      const handler = webidl.isObject(value) ? value : null;
      let record = handlers.get(this);
      if (record === undefined) {
        if (handler === null) return;
        record = { handler };
        handlers.set(this, record);
        const target = this;
        EventTarget.prototype.addEventListener.call(this, type, function (event) {
          const current = record.handler;
          if (typeof current !== "function") return;
          const result = current.call(target, event);
          if (result === false) event.preventDefault();
        });
      }
      record.handler = handler;
    },
  };
  Object.defineProperty(accessors.get, "name", { value: `get on${type}` });
  Object.defineProperty(accessors.set, "name", { value: `set on${type}` });
  Object.defineProperty(proto, `on${type}`, { ...accessors, enumerable: true, configurable: true });
}

class CustomEvent extends Event {
  #detail;

  constructor(type, eventInitDict = undefined) {
    webidl.requiredArguments(arguments.length, 1, "Failed to construct 'CustomEvent'");
    super(type, eventInitDict);
    const init = webidl.toDictionary(eventInitDict);
    this.#detail = init.detail === undefined ? null : init.detail;
  }

  get detail() {
    if (!(#detail in this)) throw webidl.illegalInvocation();
    return this.#detail;
  }

  initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
    if (!(#detail in this)) throw webidl.illegalInvocation();
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'initCustomEvent' on 'CustomEvent'");
    if (ev.isDispatching(this)) return;
    this.initEvent(type, bubbles, cancelable);
    this.#detail = detail;
  }
}
defineInterface(CustomEvent);

class ErrorEvent extends Event {
  #message;
  #filename;
  #lineno;
  #colno;
  #error;

  constructor(type, eventInitDict = undefined) {
    webidl.requiredArguments(arguments.length, 1, "Failed to construct 'ErrorEvent'");
    super(type, eventInitDict);
    const init = webidl.toDictionary(eventInitDict);
    this.#message = init.message === undefined ? "" : webidl.toDOMString(init.message);
    this.#filename = init.filename === undefined ? "" : webidl.toUSVString(init.filename);
    this.#lineno = init.lineno === undefined ? 0 : webidl.toInteger(init.lineno);
    this.#colno = init.colno === undefined ? 0 : webidl.toInteger(init.colno);
    this.#error = init.error;
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#message in self)) throw webidl.illegalInvocation();
  }

  get message() {
    ErrorEvent.#check(this);
    return this.#message;
  }

  get filename() {
    ErrorEvent.#check(this);
    return this.#filename;
  }

  get lineno() {
    ErrorEvent.#check(this);
    return this.#lineno;
  }

  get colno() {
    ErrorEvent.#check(this);
    return this.#colno;
  }

  get error() {
    ErrorEvent.#check(this);
    return this.#error;
  }
}
defineInterface(ErrorEvent);

class PromiseRejectionEvent extends Event {
  #promise;
  #reason;

  constructor(type, eventInitDict) {
    webidl.requiredArguments(arguments.length, 2, "Failed to construct 'PromiseRejectionEvent'");
    const init = webidl.toDictionary(eventInitDict, "Failed to construct 'PromiseRejectionEvent'");
    if (!("promise" in init) || init.promise === undefined) {
      throw new TypeError(
        "Failed to construct 'PromiseRejectionEvent': required member promise is undefined.",
      );
    }
    if (!webidl.isObject(init.promise)) {
      throw new TypeError("Failed to construct 'PromiseRejectionEvent': member promise is not an object.");
    }
    super(type, init);
    this.#promise = init.promise;
    this.#reason = init.reason;
  }

  get promise() {
    if (!webidl.isObject(this) || !(#promise in this)) throw webidl.illegalInvocation();
    return this.#promise;
  }

  get reason() {
    if (!webidl.isObject(this) || !(#promise in this)) throw webidl.illegalInvocation();
    return this.#reason;
  }
}
defineInterface(PromiseRejectionEvent);

// The global object acts as an EventTarget through one hidden target.
const globalTarget = new EventTarget();
setEventTargetOwner(globalTarget, globalThis);

// Fires a runtime-created (trusted) event at the global object; returns false when
// a listener canceled it.
function dispatchGlobalEvent(event) {
  ev.setTrusted(event, true);
  return dispatchEvent(globalTarget, event);
}

function errorLocation(error) {
  const stack = webidl.isObject(error) ? (() => {
    try {
      return error.stack;
    } catch {
      return undefined;
    }
  })() : undefined;
  const match = typeof stack === "string" ? /\n\s+at (?:.*\()?(.*?):(\d+):(\d+)\)?/.exec(stack) : null;
  return match ? { filename: match[1], lineno: Number(match[2]), colno: Number(match[3]) } : {};
}

function errorMessage(error) {
  try {
    if (isDOMException(error) || error instanceof Error) {
      return `Uncaught ${error.name}: ${error.message}`;
    }
  } catch {
    // Fall through to the generic text.
  }
  return `Uncaught ${inspect(error)}`;
}

let reportingDepth = 0;

// HTML "report an exception": fire a cancelable `error` ErrorEvent at the global
// object, print "Uncaught ..." unless a listener canceled it.
function reportError(error) {
  let handled = false;
  // An error thrown by an `error` listener is printed, not re-dispatched.
  if (reportingDepth === 0) {
    reportingDepth++;
    try {
      const event = new ErrorEvent("error", {
        cancelable: true,
        message: errorMessage(error),
        error,
        ...errorLocation(error),
      });
      handled = !dispatchGlobalEvent(event);
    } finally {
      reportingDepth--;
    }
  }
  // "uncaught": an error-level line the host also counts (pyruntime run exits 1 after one).
  if (!handled) native.print("uncaught", "Uncaught " + inspect(error));
  return handled;
}
reportException = reportError;

// Fires a cancelable `unhandledrejection` event; prints the reason unless a listener
// canceled it. Returns true when it was handled.
function reportUnhandledRejection(promise, reason) {
  const event = new PromiseRejectionEvent("unhandledrejection", { cancelable: true, promise, reason });
  const handled = !dispatchGlobalEvent(event);
  if (!handled) native.print("error", "Uncaught (in promise) " + inspect(reason));
  return handled;
}

const globalMethods = {
  addEventListener(type, callback, options = undefined) {
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'addEventListener' on 'EventTarget'");
    return EventTarget.prototype.addEventListener.call(globalTarget, type, callback, options);
  },
  removeEventListener(type, callback, options = undefined) {
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'removeEventListener' on 'EventTarget'");
    return EventTarget.prototype.removeEventListener.call(globalTarget, type, callback, options);
  },
  dispatchEvent(event) {
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'dispatchEvent' on 'EventTarget'");
    return EventTarget.prototype.dispatchEvent.call(globalTarget, event);
  },
  reportError(error) {
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'reportError'");
    reportError(error);
  },
};

defineGlobals({
  Event,
  EventTarget,
  CustomEvent,
  ErrorEvent,
  PromiseRejectionEvent,
  ...globalMethods,
});

Object.assign(internal, {
  abortHooks, eventInternals, Event, hasEventListeners, dispatchEvent, EventTarget,
  defineEventHandler, dispatchGlobalEvent, reportError, reportUnhandledRejection,
  globalEventTarget: globalTarget,
});
