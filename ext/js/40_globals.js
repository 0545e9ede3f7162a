// structuredClone, performance and navigator.

const {
  defineGlobals, defineInterface, DOMException, EventTarget, isDOMException, webidl,
} = internal;

const illegalConstructor = Symbol("illegal constructor");

// Host objects (made with native.HostObject: Blob and File) are copied by `clone(object)`,
// which 62_blob.js fills in.
const hostObjectCloning = { clone: undefined };

function structuredClone(value, options = undefined) {
  const context = "Failed to execute 'structuredClone'";
  webidl.requiredArguments(arguments.length, 1, context);
  const dict = webidl.toDictionary(options, context);
  const transfer = dict.transfer === undefined
    ? []
    : webidl.toSequence(dict.transfer, (item) => {
      if (!webidl.isObject(item)) throw new TypeError(`${context}: transfer list items must be objects.`);
      return item;
    }, context);
  if (new Set(transfer).size !== transfer.length) {
    throw new DOMException("Transfer list contains duplicate objects.", "DataCloneError");
  }
  try {
    return native.structuredClone(value, transfer, hostObjectCloning.clone);
  } catch (error) {
    if (webidl.isObject(error) && error.name === "DataCloneError" && !isDOMException(error)) {
      throw new DOMException(String(error.message), "DataCloneError");
    }
    throw error;
  }
}

class Performance extends EventTarget {
  constructor(key = undefined) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
    super();
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#marker in self)) throw webidl.illegalInvocation();
  }

  #marker = true;

  get timeOrigin() {
    Performance.#check(this);
    return native.timeOrigin;
  }

  now() {
    Performance.#check(this);
    return native.now();
  }

  toJSON() {
    Performance.#check(this);
    return { timeOrigin: native.timeOrigin };
  }
}
defineInterface(Performance);

class Navigator {
  constructor(key = undefined) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#marker in self)) throw webidl.illegalInvocation();
  }

  #marker = true;

  get userAgent() {
    Navigator.#check(this);
    return "pyruntime";
  }
}
defineInterface(Navigator);

defineGlobals({
  structuredClone,
  Performance,
  performance: new Performance(illegalConstructor),
  Navigator,
  navigator: new Navigator(illegalConstructor),
});

Object.assign(internal, { hostObjectCloning });
