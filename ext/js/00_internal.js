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

// Prototypes of the web API classes (those finished by defineInterface): the console shows
// their instances' attribute getters, like `TextEncoder { encoding: 'utf-8' }`.
const webPrototypes = new WeakSet();

// WebIDL makes attributes and operations enumerable; class syntax makes them not.
function makeMembersEnumerable(object) {
  for (const key of Object.getOwnPropertyNames(object)) {
    const desc = Object.getOwnPropertyDescriptor(object, key);
    const member = desc.get !== undefined || desc.set !== undefined || typeof desc.value === "function";
    if (member && !desc.enumerable && desc.configurable && key !== "constructor" && key !== "prototype") {
      Object.defineProperty(object, key, { enumerable: true });
    }
  }
}

// Finishes a class as a WebIDL interface: its attributes and operations, on the prototype
// and static, become enumerable, and instances get the `[Symbol.toStringTag]` browsers
// show, e.g. "[object Headers]". Called once the class has all its members.
function defineInterface(ctor, tag = ctor.name) {
  webPrototypes.add(ctor.prototype);
  makeMembersEnumerable(ctor.prototype);
  makeMembersEnumerable(ctor);
  Object.defineProperty(ctor.prototype, Symbol.toStringTag, {
    value: tag,
    configurable: true,
  });
}

defineGlobals({ self: globalThis });

// Object.keys as the bootstrap found it, before user code could replace it: the core lists
// a plain object's keys with it when the object goes to the host (ext/host_value.h, FromJs).
const objectKeys = Object.keys;

Object.assign(internal, { defineGlobals, defineMethods, webPrototypes, defineInterface, objectKeys });
