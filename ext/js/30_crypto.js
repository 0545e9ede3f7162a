// Web Crypto (W3C WebCryptoAPI): crypto.getRandomValues, randomUUID, and
// crypto.subtle with SHA digests and HMAC keys.

const { webidl, DOMException } = internal;

const illegalConstructor = Symbol("illegal constructor");

const integerArrayTypes = [
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array",
];

const hashes = {
  "SHA-1": { blockBits: 512, jwkAlg: "HS1" },
  "SHA-256": { blockBits: 512, jwkAlg: "HS256" },
  "SHA-384": { blockBits: 1024, jwkAlg: "HS384" },
  "SHA-512": { blockBits: 1024, jwkAlg: "HS512" },
};

const keyUsages = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];
const keyFormats = ["raw", "spki", "pkcs8", "jwk"];

class CryptoKey {
  #type;
  #extractable;
  #algorithm;
  #usages;
  #keyBytes;
  #algorithmCache = null;
  #usagesCache = null;

  constructor(key = undefined, type, extractable, algorithm, usages, keyBytes) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
    this.#type = type;
    this.#extractable = extractable;
    this.#algorithm = algorithm;
    this.#usages = usages;
    this.#keyBytes = keyBytes;
  }

  static {
    internal.isCryptoKey = (value) => webidl.isObject(value) && #type in value;
    internal.cryptoKeyInternals = (key) => ({
      algorithm: key.#algorithm,
      usages: key.#usages,
      extractable: key.#extractable,
      keyBytes: key.#keyBytes,
    });
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#type in self)) throw webidl.illegalInvocation();
  }

  get type() {
    CryptoKey.#check(this);
    return this.#type;
  }

  get extractable() {
    CryptoKey.#check(this);
    return this.#extractable;
  }

  // The same object on every read, like the spec's [[algorithm_cached]].
  get algorithm() {
    CryptoKey.#check(this);
    this.#algorithmCache ??= structuredCopy(this.#algorithm);
    return this.#algorithmCache;
  }

  get usages() {
    CryptoKey.#check(this);
    this.#usagesCache ??= [...this.#usages];
    return this.#usagesCache;
  }

  [internal.inspectCustom](inspect) {
    return `CryptoKey ${inspect({
      type: this.#type,
      extractable: this.#extractable,
      algorithm: this.#algorithm,
      usages: this.#usages,
    }, { depthOffset: 0 })}`;
  }
}
internal.setToStringTag(CryptoKey);

function structuredCopy(algorithm) {
  const copy = { ...algorithm };
  if (copy.hash) copy.hash = { ...copy.hash };
  return copy;
}

function domError(name, message) {
  return new DOMException(message, name);
}

// Normalizes an AlgorithmIdentifier to {name, ...}; `name` is canonical.
function algorithmName(algorithm, supported) {
  let name;
  if (typeof algorithm === "string") {
    name = algorithm;
  } else {
    const dict = webidl.toDictionary(algorithm, "Algorithm");
    if (dict.name === undefined) throw new TypeError("Algorithm: name is required");
    name = webidl.toDOMString(dict.name);
  }
  const canonical = supported.find((s) => s.toLowerCase() === name.toLowerCase());
  if (canonical === undefined) throw domError("NotSupportedError", `Unrecognized algorithm name: ${name}`);
  return canonical;
}

function normalizeHash(hash) {
  if (hash === undefined) throw new TypeError("HMAC: hash is required");
  return algorithmName(hash, Object.keys(hashes));
}

function optionalLength(dict) {
  if (dict.length === undefined) return undefined;
  return webidl.toInteger(dict.length, { bits: 32, enforceRange: true }, "HMAC length");
}

// HmacImportParams / HmacKeyGenParams.
function normalizeHmacParams(algorithm) {
  algorithmName(algorithm, ["HMAC"]);
  const dict = webidl.toDictionary(algorithm);
  return { hash: normalizeHash(dict.hash), length: optionalLength(dict) };
}

function toUsages(usages) {
  return webidl.toSequence(usages, (u) => webidl.toEnum(u, keyUsages, "KeyUsage"), "keyUsages");
}

// Usages deduplicated, in the order of the KeyUsage enumeration.
function checkHmacUsages(usages) {
  for (const usage of usages) {
    if (usage !== "sign" && usage !== "verify") {
      throw domError("SyntaxError", `Cannot create an HMAC key with usage '${usage}'`);
    }
  }
  const normalized = keyUsages.filter((u) => usages.includes(u));
  if (normalized.length === 0) throw domError("SyntaxError", "Usages cannot be empty when creating a key.");
  return normalized;
}

function makeHmacKey(hash, length, bytes, extractable, usages) {
  return new CryptoKey(illegalConstructor, "secret", extractable,
    { name: "HMAC", length, hash: { name: hash } }, usages, bytes);
}

function base64urlEncode(bytes) {
  return internal.base64.encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlDecode(text) {
  if (/[^A-Za-z0-9_-]/.test(text)) return null;
  return internal.base64.decode(text.replace(/-/g, "+").replace(/_/g, "/"));
}

function importHmac(format, keyData, algorithm, extractable, usages) {
  const { hash, length: requestedLength } = normalizeHmacParams(algorithm);
  for (const usage of usages) {
    if (usage !== "sign" && usage !== "verify") {
      throw domError("SyntaxError", `Cannot create an HMAC key with usage '${usage}'`);
    }
  }
  let bytes;
  if (format === "raw") {
    bytes = keyData;
  } else if (format === "jwk") {
    const jwk = keyData;
    if (jwk.kty !== "oct") throw domError("DataError", "The JWK 'kty' member was not 'oct'");
    if (typeof jwk.k !== "string") throw domError("DataError", "The JWK 'k' member is missing");
    bytes = base64urlDecode(jwk.k);
    if (bytes === null) throw domError("DataError", "The JWK 'k' member is not valid base64url");
    const expectedAlg = hashes[hash].jwkAlg;
    if (jwk.alg !== undefined && jwk.alg !== expectedAlg) {
      throw domError("DataError", `The JWK 'alg' member was inconsistent with that specified by the Web Crypto call`);
    }
    if (usages.length > 0 && jwk.use !== undefined && jwk.use !== "sig") {
      throw domError("DataError", "The JWK 'use' member was not 'sig'");
    }
    if (jwk.key_ops !== undefined) {
      if (new Set(jwk.key_ops).size !== jwk.key_ops.length) {
        throw domError("DataError", "The JWK 'key_ops' member contains duplicates");
      }
      if (!usages.every((u) => jwk.key_ops.includes(u))) {
        throw domError("DataError", "The JWK 'key_ops' member was inconsistent with the requested usages");
      }
    }
    if (jwk.ext === false && extractable) {
      throw domError("DataError", "The JWK 'ext' member was false but the key is extractable");
    }
  } else {
    throw domError("NotSupportedError", `Unsupported import key format for HMAC: ${format}`);
  }
  let length = bytes.length * 8;
  if (length === 0) throw domError("DataError", "HMAC key data must not be empty");
  if (requestedLength !== undefined) {
    if (requestedLength > length) throw domError("DataError", "The length is greater than the key data");
    if (requestedLength <= length - 8) throw domError("DataError", "The length is too small for the key data");
    length = requestedLength;
  }
  return makeHmacKey(hash, length, bytes, extractable, checkHmacUsages(usages));
}

// JsonWebKey dictionary members used for "oct" keys.
function toJsonWebKey(value) {
  const dict = webidl.toDictionary(value, "JsonWebKey");
  const jwk = {};
  for (const member of ["alg", "k", "kty", "use"]) {
    if (dict[member] !== undefined) jwk[member] = webidl.toDOMString(dict[member]);
  }
  if (dict.ext !== undefined) jwk.ext = Boolean(dict.ext);
  if (dict.key_ops !== undefined) jwk.key_ops = webidl.toSequence(dict.key_ops, (op) => webidl.toDOMString(op));
  return jwk;
}

function requireKey(key, context) {
  if (!internal.isCryptoKey(key)) {
    throw new TypeError(`${context}: parameter is not of type 'CryptoKey'.`);
  }
  return internal.cryptoKeyInternals(key);
}

function checkSignUsage(key, algorithm, usage, context) {
  const name = algorithmName(algorithm, ["HMAC"]);
  const k = requireKey(key, context);
  if (k.algorithm.name !== name) {
    throw domError("InvalidAccessError", "The requested operation is not valid for the provided key");
  }
  if (!k.usages.includes(usage)) {
    throw domError("InvalidAccessError", `The provided key does not have '${usage}' in its usages`);
  }
  return k;
}

class SubtleCrypto {
  constructor(key = undefined) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
  }

  static #brand(self) {
    if (!webidl.isObject(self) || !(#marker in self)) throw webidl.illegalInvocation();
  }

  #marker = true;

  async digest(algorithm, data) {
    SubtleCrypto.#brand(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'digest' on 'SubtleCrypto'");
    const bytes = webidl.bufferSourceCopy(data, "Failed to execute 'digest' on 'SubtleCrypto'");
    const name = algorithmName(algorithm, Object.keys(hashes));
    return native.digest(name, bytes);
  }

  async importKey(format, keyData, algorithm, extractable, keyUsages) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'importKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 5, context);
    format = webidl.toEnum(format, keyFormats, "KeyFormat", context);
    if (format === "jwk") {
      if (webidl.isBufferSource(keyData)) throw new TypeError(`${context}: a JWK import needs a JsonWebKey`);
      keyData = toJsonWebKey(keyData);
    } else {
      keyData = webidl.bufferSourceCopy(keyData, context);
    }
    extractable = Boolean(extractable);
    const usages = toUsages(keyUsages);
    return importHmac(format, keyData, algorithm, extractable, usages);
  }

  async exportKey(format, key) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'exportKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 2, context);
    format = webidl.toEnum(format, keyFormats, "KeyFormat", context);
    const k = requireKey(key, context);
    if (!k.extractable) throw domError("InvalidAccessError", "key is not extractable");
    if (format === "raw") return new Uint8Array(k.keyBytes).buffer;
    if (format === "jwk") {
      return {
        kty: "oct",
        k: base64urlEncode(k.keyBytes),
        alg: hashes[k.algorithm.hash.name].jwkAlg,
        key_ops: [...k.usages],
        ext: k.extractable,
      };
    }
    throw domError("NotSupportedError", `Unsupported export key format for HMAC: ${format}`);
  }

  async generateKey(algorithm, extractable, keyUsages) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'generateKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 3, context);
    extractable = Boolean(extractable);
    const usages = toUsages(keyUsages);
    const { hash, length: requested } = normalizeHmacParams(algorithm);
    const normalized = checkHmacUsages(usages);
    const length = requested ?? hashes[hash].blockBits;
    if (length === 0) throw domError("OperationError", "HMAC key length must not be zero");
    const bytes = new Uint8Array(Math.ceil(length / 8));
    native.randomFill(bytes);
    return makeHmacKey(hash, length, bytes, extractable, normalized);
  }

  async sign(algorithm, key, data) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'sign' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 3, context);
    const bytes = webidl.bufferSourceCopy(data, context);
    const k = checkSignUsage(key, algorithm, "sign", context);
    return native.hmac(k.algorithm.hash.name, k.keyBytes, bytes);
  }

  async verify(algorithm, key, signature, data) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'verify' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 4, context);
    const sig = webidl.bufferSourceCopy(signature, context);
    const bytes = webidl.bufferSourceCopy(data, context);
    const k = checkSignUsage(key, algorithm, "verify", context);
    const expected = new Uint8Array(native.hmac(k.algorithm.hash.name, k.keyBytes, bytes));
    if (expected.length !== sig.length) return false;
    return native.timingSafeEqual(expected, sig);
  }
}
internal.setToStringTag(SubtleCrypto);

const subtle = new SubtleCrypto(illegalConstructor);

class Crypto {
  constructor(key = undefined) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
  }

  static #brand(self) {
    if (!webidl.isObject(self) || !(#marker in self)) throw webidl.illegalInvocation();
  }

  #marker = true;

  get subtle() {
    Crypto.#brand(this);
    return subtle;
  }

  getRandomValues(array) {
    Crypto.#brand(this);
    const context = "Failed to execute 'getRandomValues' on 'Crypto'";
    webidl.requiredArguments(arguments.length, 1, context);
    if (!ArrayBuffer.isView(array)) {
      throw new TypeError(`${context}: parameter 1 is not of type 'ArrayBufferView'.`);
    }
    if (!integerArrayTypes.includes(webidl.typedArrayName(array))) {
      throw domError("TypeMismatchError",
        `${context}: The provided ArrayBufferView is of type '${webidl.typedArrayName(array) ?? "DataView"}', which is not an integer array type.`);
    }
    if (array.byteLength > 65536) {
      throw domError("QuotaExceededError",
        `${context}: The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536).`);
    }
    native.randomFill(array);
    return array;
  }

  randomUUID() {
    Crypto.#brand(this);
    const bytes = new Uint8Array(16);
    native.randomFill(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}
internal.setToStringTag(Crypto);

const crypto = new Crypto(illegalConstructor);

internal.defineGlobals({ crypto, Crypto, SubtleCrypto, CryptoKey });
