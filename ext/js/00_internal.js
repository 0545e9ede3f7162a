// Shared helpers for the other bootstrap files (see README.md in this folder).

internal.defineGlobals = function defineGlobals(values) {
  for (const name of Object.keys(values)) {
    Object.defineProperty(globalThis, name, {
      value: values[name],
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
};

// Adds operations to a prototype the way WebIDL does: writable, enumerable, configurable.
internal.defineMethods = function defineMethods(proto, methods) {
  for (const key of Object.keys(methods)) {
    Object.defineProperty(proto, key, {
      value: methods[key],
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
};

// Gives a class the `[Symbol.toStringTag]` browsers show, e.g. "[object Headers]".
internal.setToStringTag = function setToStringTag(ctor, tag = ctor.name) {
  Object.defineProperty(ctor.prototype, Symbol.toStringTag, {
    value: tag,
    configurable: true,
  });
};

internal.defineGlobals({ self: globalThis });
