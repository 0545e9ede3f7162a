// Shared helpers for the other bootstrap files (see README.md in this folder).

function defineGlobals(values) {
  for (const name of Object.keys(values)) {
    Object.defineProperty(globalThis, name, {
      value: values[name],
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

// Adds operations to a prototype the way WebIDL does: writable, enumerable, configurable.
function defineMethods(proto, methods) {
  for (const key of Object.keys(methods)) {
    Object.defineProperty(proto, key, {
      value: methods[key],
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
}

// Prototypes of the web API classes (those given a toStringTag below): the console shows
// their instances' attribute getters, like `TextEncoder { encoding: 'utf-8' }`.
const webPrototypes = new WeakSet();

// Gives a class the `[Symbol.toStringTag]` browsers show, e.g. "[object Headers]".
function setToStringTag(ctor, tag = ctor.name) {
  webPrototypes.add(ctor.prototype);
  Object.defineProperty(ctor.prototype, Symbol.toStringTag, {
    value: tag,
    configurable: true,
  });
}

defineGlobals({ self: globalThis });

Object.assign(internal, { defineGlobals, defineMethods, webPrototypes, setToStringTag });
