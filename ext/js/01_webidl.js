// WebIDL-style argument conversions shared by the bootstrap files.

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get;

function prefix(context) {
  return context ? `${context}: ` : "";
}

// Brand checks are natives: a getter in try/catch threw, with a stack trace, for every other value.
const { isArrayBuffer, isSharedArrayBuffer, isDataView } = native;

// The [[TypedArrayName]] of a typed array, or undefined for anything else.
function typedArrayName(value) {
  return typedArrayTag.call(value);
}

function isObject(value) {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

const webidl = {
  isObject,
  isArrayBuffer,
  isSharedArrayBuffer,
  isDataView,
  typedArrayName,

  requiredArguments(given, required, context) {
    if (given < required) {
      throw new TypeError(
        `${prefix(context)}${required} argument${required === 1 ? "" : "s"} required, but only ${given} present.`,
      );
    }
  },

  illegalInvocation() {
    return new TypeError("Illegal invocation");
  },

  toDOMString(value, context) {
    if (typeof value === "symbol") {
      throw new TypeError(`${prefix(context)}Cannot convert a Symbol value to a string`);
    }
    return String(value);
  },

  // DOMString then every lone surrogate replaced by U+FFFD.
  toUSVString(value, context) {
    const s = webidl.toDOMString(value, context);
    if (!/[\uD800-\uDFFF]/.test(s)) return s;
    let out = "";
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          out += s[i] + s[i + 1];
          i++;
          continue;
        }
      }
      out += c >= 0xd800 && c <= 0xdfff ? "\uFFFD" : s[i];
    }
    return out;
  },

  // Integer conversions per WebIDL; `bits` and `signed` pick the type.
  toInteger(value, { bits = 32, signed = false, enforceRange = false } = {}, context) {
    const upper = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    const lower = signed ? -(2 ** (bits - 1)) : 0;
    let x = Number(value);
    if (Object.is(x, -0)) x = 0;
    if (enforceRange) {
      if (!Number.isFinite(x)) throw new TypeError(`${prefix(context)}Value is not a finite number`);
      x = Math.trunc(x);
      if (x < lower || x > upper) {
        throw new TypeError(`${prefix(context)}Value is outside the accepted range of ${lower} to ${upper}`);
      }
      return x;
    }
    if (!Number.isFinite(x)) return 0;
    x = Math.trunc(x);
    if (bits === 64) {
      // Exact modulo is not representable; the range is what matters in practice.
      return x;
    }
    x = ((x % 2 ** bits) + 2 ** bits) % 2 ** bits;
    if (signed && x > upper) x -= 2 ** bits;
    return x;
  },

  // A dictionary argument: undefined/null means empty, other non-objects throw.
  toDictionary(value, context) {
    if (value === undefined || value === null) return {};
    if (!isObject(value)) {
      throw new TypeError(`${prefix(context)}Value can not be converted to a dictionary`);
    }
    return value;
  },

  // An IDL enumeration value.
  toEnum(value, allowed, typeName, context) {
    const s = webidl.toDOMString(value, context);
    if (!allowed.includes(s)) {
      throw new TypeError(`${prefix(context)}'${s}' is not a valid value for enumeration ${typeName}`);
    }
    return s;
  },

  // sequence<T>: any iterable object, each item converted with `convert`.
  toSequence(value, convert, context) {
    if (!isObject(value)) {
      throw new TypeError(`${prefix(context)}Value can not be converted to a sequence`);
    }
    const method = value[Symbol.iterator];
    if (typeof method !== "function") {
      throw new TypeError(`${prefix(context)}Value can not be converted to a sequence`);
    }
    const out = [];
    for (const item of { [Symbol.iterator]: () => method.call(value) }) {
      out.push(convert(item));
    }
    return out;
  },

  isBufferSource(value) {
    return ArrayBuffer.isView(value) || isArrayBuffer(value) || isSharedArrayBuffer(value);
  },

  // A Uint8Array view (not a copy) of the bytes of a BufferSource.
  bufferSourceView(value, context) {
    if (ArrayBuffer.isView(value)) {
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
    if (isArrayBuffer(value) || isSharedArrayBuffer(value)) {
      return new Uint8Array(value);
    }
    throw new TypeError(
      `${prefix(context)}Argument is not an ArrayBuffer, SharedArrayBuffer, TypedArray or DataView`,
    );
  },

  // A fresh copy of the bytes of a BufferSource, as a Uint8Array.
  bufferSourceCopy(value, context) {
    return new Uint8Array(webidl.bufferSourceView(value, context));
  },
};

Object.assign(internal, { webidl });
