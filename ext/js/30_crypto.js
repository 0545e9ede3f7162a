// Web Crypto (W3C WebCryptoAPI): crypto.getRandomValues, randomUUID, and crypto.subtle.
// This file holds CryptoKey, the SubtleCrypto methods (argument checks, algorithm
// normalization, key usage checks), SHA digests and HMAC. The other algorithms register in
// `internal.cryptoHelpers.algorithms` from 31_crypto_rsa.js, 32_crypto_ec.js, 33_crypto_aes.js and
// 34_crypto_kdf.js. Key material lives in a CryptoKey as bytes: SPKI or PKCS #8 DER for
// asymmetric keys, raw bytes for secret keys; the natives are stateless.

const { base64, defineGlobals, defineInterface, DOMException, inspectCustom, webidl } = internal;

const illegalConstructor = Symbol("illegal constructor");

const integerArrayTypes = [
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array",
];

const hashes = {
  "SHA-1": { blockBits: 512, outputBytes: 20 },
  "SHA-256": { blockBits: 512, outputBytes: 32 },
  "SHA-384": { blockBits: 1024, outputBytes: 48 },
  "SHA-512": { blockBits: 1024, outputBytes: 64 },
};

const keyUsages = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];
const keyFormats = ["raw", "spki", "pkcs8", "jwk"];

let isCryptoKey;
let cryptoKeyInternals;
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
    isCryptoKey = (value) => webidl.isObject(value) && #type in value;
    cryptoKeyInternals = (key) => ({
      type: key.#type,
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

  [inspectCustom](inspect) {
    return `CryptoKey ${inspect({
      type: this.#type,
      extractable: this.#extractable,
      algorithm: this.#algorithm,
      usages: this.#usages,
    }, { depthOffset: 0 })}`;
  }
}
defineInterface(CryptoKey);

function structuredCopy(algorithm) {
  const copy = { ...algorithm };
  if (copy.hash) copy.hash = { ...copy.hash };
  if (copy.publicExponent) copy.publicExponent = new Uint8Array(copy.publicExponent);
  return copy;
}

function newKey(type, extractable, algorithm, usages, keyBytes) {
  return new CryptoKey(illegalConstructor, type, extractable, algorithm, usages, keyBytes);
}

// The spec's "copy of the bytes held by" a BufferSource. The copy is native and done in
// steps: a copy of hundreds of MB stops at the call's time or CPU limit.
function copyBytes(data, context) {
  return new Uint8Array(native.copyBytes(webidl.bufferSourceView(data, context)));
}

function domError(name, message) {
  return new DOMException(message, name);
}

// Runs a native; its failure becomes the DOMException `name` (allocation RangeErrors pass).
function guard(name, call) {
  try {
    return call();
  } catch (error) {
    if (error instanceof RangeError) throw error;
    throw domError(name, error.message);
  }
}

// --- algorithm normalization (WebCrypto §18.4) ---------------------------------------------

// Canonical name -> implementation. An implementation has `params[op](dict, name)` for each
// operation it supports (returning the normalized algorithm) and the operation methods.
const algorithms = {};

function normalize(op, algorithm) {
  let dict;
  if (typeof algorithm === "string") {
    dict = { name: algorithm };
  } else {
    dict = webidl.toDictionary(algorithm, "Algorithm");
    if (dict.name === undefined) throw new TypeError("Algorithm: name is required");
  }
  const name = webidl.toDOMString(dict.name);
  const lower = name.toLowerCase();
  const impl = Object.values(algorithms).find((a) => a.name.toLowerCase() === lower && op in a.params);
  if (impl === undefined) throw domError("NotSupportedError", `Unrecognized algorithm name: ${name}`);
  return impl.params[op](dict, impl.name);
}

function normalizeDigest(algorithm) {
  const dict = typeof algorithm === "string" ? { name: algorithm } : webidl.toDictionary(algorithm, "Algorithm");
  if (dict.name === undefined) throw new TypeError("Algorithm: name is required");
  const name = webidl.toDOMString(dict.name);
  const canonical = Object.keys(hashes).find((h) => h.toLowerCase() === name.toLowerCase());
  if (canonical === undefined) throw domError("NotSupportedError", `Unrecognized algorithm name: ${name}`);
  return canonical;
}

// Readers of algorithm dictionary members, each a TypeError when required and missing.
function required(dict, member, name) {
  if (dict[member] === undefined) throw new TypeError(`${name}: '${member}' is required`);
  return dict[member];
}

const param = {
  hash: (dict, name) => normalizeDigest(required(dict, "hash", name)),
  bytes: (dict, member, name) => copyBytes(required(dict, member, name), `${name} ${member}`),
  optionalBytes: (dict, member, name) =>
    (dict[member] === undefined ? undefined : copyBytes(dict[member], `${name} ${member}`)),
  integer: (dict, member, bits, name) =>
    webidl.toInteger(required(dict, member, name), { bits, enforceRange: true }, `${name} ${member}`),
  optionalInteger: (dict, member, bits, name) =>
    (dict[member] === undefined ? undefined
      : webidl.toInteger(dict[member], { bits, enforceRange: true }, `${name} ${member}`)),
  key: (dict, member, name) => {
    const value = required(dict, member, name);
    if (!isCryptoKey(value)) throw new TypeError(`${name}: '${member}' is not a CryptoKey`);
    return value;
  },
  nameOnly: (dict, name) => ({ name }),
};

// --- key usages and JWK helpers --------------------------------------------------------------

// Usages deduplicated, in the order of the KeyUsage enumeration; a usage outside `allowed`
// is a SyntaxError.
function checkUsages(usages, allowed) {
  for (const usage of usages) {
    if (!allowed.includes(usage)) throw domError("SyntaxError", `Cannot create a key with usage '${usage}'`);
  }
  return keyUsages.filter((u) => usages.includes(u));
}

function base64urlEncode(bytes) {
  return base64.encode(new Uint8Array(bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlDecode(text) {
  if (/[^A-Za-z0-9_-]/.test(text)) return null;
  return base64.decode(text.replace(/-/g, "+").replace(/_/g, "/"));
}

const jwkStringMembers = ["kty", "use", "alg", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "k"];

// The JsonWebKey dictionary.
function toJsonWebKey(value, context) {
  const dict = webidl.toDictionary(value, context);
  const jwk = {};
  for (const member of jwkStringMembers) {
    if (dict[member] !== undefined) jwk[member] = webidl.toDOMString(dict[member]);
  }
  if (dict.ext !== undefined) jwk.ext = Boolean(dict.ext);
  if (dict.key_ops !== undefined) jwk.key_ops = webidl.toSequence(dict.key_ops, (op) => webidl.toDOMString(op));
  if (dict.oth !== undefined) jwk.oth = dict.oth;
  return jwk;
}

// The checks every JWK import makes: kty, use, key_ops and ext against the request.
function checkJwk(jwk, kty, use, usages, extractable) {
  if (jwk.kty !== kty) throw domError("DataError", `The JWK 'kty' member was not '${kty}'`);
  if (usages.length > 0 && jwk.use !== undefined && jwk.use !== use) {
    throw domError("DataError", `The JWK 'use' member was not '${use}'`);
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
}

function checkJwkAlg(jwk, expected) {
  if (jwk.alg !== undefined && !expected.includes(jwk.alg)) {
    throw domError("DataError", "The JWK 'alg' member was inconsistent with that specified by the Web Crypto call");
  }
}

// A base64url JWK member as bytes; DataError when missing or malformed.
function jwkBytes(jwk, member) {
  if (jwk[member] === undefined) throw domError("DataError", `The JWK '${member}' member is missing`);
  const bytes = base64urlDecode(jwk[member]);
  if (bytes === null) throw domError("DataError", `The JWK '${member}' member is not valid base64url`);
  return bytes;
}

function exportedBuffer(bytes) {
  return new Uint8Array(bytes).buffer;
}

// The bits of a key agreement or derivation, truncated to `length` bits (null: all).
function truncateBits(secret, length) {
  const bytes = new Uint8Array(secret);
  if (length === null) return bytes.buffer;
  if (length > bytes.length * 8) throw domError("OperationError", "The length is too large for the derived bits");
  const out = bytes.slice(0, Math.ceil(length / 8));
  if (length % 8 !== 0) out[out.length - 1] &= 0xff << (8 - (length % 8));
  return out.buffer;
}

function requireKey(key, context) {
  if (!isCryptoKey(key)) {
    throw new TypeError(`${context}: parameter is not of type 'CryptoKey'.`);
  }
  return cryptoKeyInternals(key);
}

// The key's algorithm must be the one requested, and `usage` one of its usages.
function checkKeyFor(normalized, key, usage, context) {
  const k = requireKey(key, context);
  if (k.algorithm.name !== normalized.name) {
    throw domError("InvalidAccessError", "The requested operation is not valid for the provided key");
  }
  if (!k.usages.includes(usage)) {
    throw domError("InvalidAccessError", `The provided key does not have '${usage}' in its usages`);
  }
  return k;
}

function requireKeyType(k, type) {
  if (k.type !== type) throw domError("InvalidAccessError", `The operation requires a ${type} key`);
}

// Asymmetric keys are held as DER, so "spki" (public) and "pkcs8" (private) export it as it
// is; null for other formats, which each algorithm builds itself.
function exportDer(format, k) {
  if (format !== "spki" && format !== "pkcs8") return null;
  requireKeyType(k, format === "spki" ? "public" : "private");
  return exportedBuffer(k.keyBytes);
}

const cryptoHelpers = {
  algorithms, hashes, newKey, domError, guard, param, checkUsages, checkJwk, checkJwkAlg, jwkBytes,
  base64urlEncode, exportedBuffer, truncateBits, requireKeyType, exportDer,
};

// --- HMAC --------------------------------------------------------------------------------

const hmacJwkAlg = { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };

function hmacParams(dict, name) {
  return { name, hash: param.hash(dict, name), length: param.optionalInteger(dict, "length", 32, name) };
}

function makeHmacKey(hash, length, bytes, extractable, usages) {
  return newKey("secret", extractable, { name: "HMAC", length, hash: { name: hash } }, usages, bytes);
}

algorithms.HMAC = {
  name: "HMAC",
  params: {
    sign: param.nameOnly, verify: param.nameOnly, importKey: hmacParams, generateKey: hmacParams,
    "get key length": hmacParams,
  },

  generateKey({ hash, length: requested }, extractable, usages) {
    usages = checkUsages(usages, ["sign", "verify"]);
    const length = requested ?? hashes[hash].blockBits;
    if (length === 0) throw domError("OperationError", "HMAC key length must not be zero");
    const bytes = new Uint8Array(Math.ceil(length / 8));
    native.randomFill(bytes);
    return makeHmacKey(hash, length, bytes, extractable, usages);
  },

  importKey(format, keyData, { hash, length: requestedLength }, extractable, usages) {
    usages = checkUsages(usages, ["sign", "verify"]);
    let bytes;
    if (format === "raw") {
      bytes = keyData;
    } else if (format === "jwk") {
      checkJwk(keyData, "oct", "sig", usages, extractable);
      bytes = jwkBytes(keyData, "k");
      checkJwkAlg(keyData, [hmacJwkAlg[hash]]);
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
    return makeHmacKey(hash, length, bytes, extractable, usages);
  },

  exportKey(format, k) {
    if (format === "raw") return exportedBuffer(k.keyBytes);
    if (format === "jwk") {
      return {
        kty: "oct", k: base64urlEncode(k.keyBytes), alg: hmacJwkAlg[k.algorithm.hash.name],
        key_ops: [...k.usages], ext: k.extractable,
      };
    }
    throw domError("NotSupportedError", `Unsupported export key format for HMAC: ${format}`);
  },

  getKeyLength({ hash, length }) {
    if (length === undefined) return hashes[hash].blockBits;
    if (length === 0) throw new TypeError("HMAC length must not be zero");
    return length;
  },

  sign(params, k, data) {
    return native.hmac(k.algorithm.hash.name, k.keyBytes, data);
  },

  verify(params, k, signature, data) {
    const expected = new Uint8Array(native.hmac(k.algorithm.hash.name, k.keyBytes, data));
    return expected.length === signature.length && native.timingSafeEqual(expected, signature);
  },
};

// --- SubtleCrypto ------------------------------------------------------------------------------

function implementation(k) {
  return algorithms[k.algorithm.name];
}

function toUsages(usages) {
  return webidl.toSequence(usages, (u) => webidl.toEnum(u, keyUsages, "KeyUsage"), "keyUsages");
}

function toKeyData(format, keyData, context) {
  if (format !== "jwk") return copyBytes(keyData, context);
  if (webidl.isBufferSource(keyData)) throw new TypeError(`${context}: a JWK import needs a JsonWebKey`);
  return toJsonWebKey(keyData, context);
}

// Import, then the checks the spec makes on every imported key.
function importWith(format, keyData, normalized, extractable, usages) {
  const key = algorithms[normalized.name].importKey(format, keyData, normalized, extractable, usages);
  const k = cryptoKeyInternals(key);
  if ((k.type === "secret" || k.type === "private") && k.usages.length === 0) {
    throw domError("SyntaxError", "Usages cannot be empty when creating a key.");
  }
  return key;
}

function exportWith(format, key, context) {
  const k = requireKey(key, context);
  const impl = implementation(k);
  if (impl.exportKey === undefined) throw domError("NotSupportedError", `${k.algorithm.name} keys cannot be exported`);
  if (!k.extractable) throw domError("InvalidAccessError", "key is not extractable");
  return impl.exportKey(format, k);
}

function deriveWith(normalized, k, length) {
  return algorithms[normalized.name].deriveBits(normalized, k, length);
}

// The normalized wrapping algorithm and the operation that wraps (or unwraps) with it: its
// own wrapKey/unwrapKey when it has one (AES-KW), else encrypt/decrypt.
function normalizeWrap(op, fallback, algorithm) {
  try {
    return { normalized: normalize(op, algorithm), op };
  } catch {
    return { normalized: normalize(fallback, algorithm), op: fallback };
  }
}

// encrypt, decrypt and sign share their steps: copy the data, normalise the algorithm,
// check the key's algorithm and usages, then run the algorithm's operation.
function runWithKey(op, algorithm, key, data) {
  const context = `Failed to execute '${op}' on 'SubtleCrypto'`;
  const bytes = copyBytes(data, context);
  const normalized = normalize(op, algorithm);
  const k = checkKeyFor(normalized, key, op, context);
  return algorithms[normalized.name][op](normalized, k, bytes);
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
    const bytes = copyBytes(data, "Failed to execute 'digest' on 'SubtleCrypto'");
    return native.digest(normalizeDigest(algorithm), bytes);
  }

  async encrypt(algorithm, key, data) {
    SubtleCrypto.#brand(this);
    webidl.requiredArguments(arguments.length, 3, "Failed to execute 'encrypt' on 'SubtleCrypto'");
    return runWithKey("encrypt", algorithm, key, data);
  }

  async decrypt(algorithm, key, data) {
    SubtleCrypto.#brand(this);
    webidl.requiredArguments(arguments.length, 3, "Failed to execute 'decrypt' on 'SubtleCrypto'");
    return runWithKey("decrypt", algorithm, key, data);
  }

  async sign(algorithm, key, data) {
    SubtleCrypto.#brand(this);
    webidl.requiredArguments(arguments.length, 3, "Failed to execute 'sign' on 'SubtleCrypto'");
    return runWithKey("sign", algorithm, key, data);
  }

  async verify(algorithm, key, signature, data) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'verify' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 4, context);
    const sig = copyBytes(signature, context);
    const bytes = copyBytes(data, context);
    const normalized = normalize("verify", algorithm);
    const k = checkKeyFor(normalized, key, "verify", context);
    return algorithms[normalized.name].verify(normalized, k, sig, bytes);
  }

  async generateKey(algorithm, extractable, keyUsages) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'generateKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 3, context);
    extractable = Boolean(extractable);
    const usages = toUsages(keyUsages);
    const normalized = normalize("generateKey", algorithm);
    const result = algorithms[normalized.name].generateKey(normalized, extractable, usages);
    const secretOrPrivate = cryptoKeyInternals(result.privateKey ?? result);
    if (secretOrPrivate.usages.length === 0) {
      throw domError("SyntaxError", "Usages cannot be empty when creating a key.");
    }
    return result;
  }

  async deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'deriveKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 5, context);
    extractable = Boolean(extractable);
    const usages = toUsages(keyUsages);
    const normalized = normalize("deriveBits", algorithm);
    const importAlgorithm = normalize("importKey", derivedKeyType);
    const lengthAlgorithm = normalize("get key length", derivedKeyType);
    const k = checkKeyFor(normalized, baseKey, "deriveKey", context);
    const length = algorithms[lengthAlgorithm.name].getKeyLength(lengthAlgorithm);
    const secret = new Uint8Array(deriveWith(normalized, k, length));
    return importWith("raw", secret, importAlgorithm, extractable, usages);
  }

  async deriveBits(algorithm, baseKey, length = null) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'deriveBits' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 2, context);
    length = length === null || length === undefined ? null : webidl.toInteger(length, { bits: 32 });
    const normalized = normalize("deriveBits", algorithm);
    const k = checkKeyFor(normalized, baseKey, "deriveBits", context);
    return deriveWith(normalized, k, length);
  }

  async importKey(format, keyData, algorithm, extractable, keyUsages) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'importKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 5, context);
    format = webidl.toEnum(format, keyFormats, "KeyFormat", context);
    keyData = toKeyData(format, keyData, context);
    extractable = Boolean(extractable);
    const usages = toUsages(keyUsages);
    return importWith(format, keyData, normalize("importKey", algorithm), extractable, usages);
  }

  async exportKey(format, key) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'exportKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 2, context);
    format = webidl.toEnum(format, keyFormats, "KeyFormat", context);
    return exportWith(format, key, context);
  }

  async wrapKey(format, key, wrappingKey, wrapAlgorithm) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'wrapKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 4, context);
    format = webidl.toEnum(format, keyFormats, "KeyFormat", context);
    const { normalized, op } = normalizeWrap("wrapKey", "encrypt", wrapAlgorithm);
    const wrapping = checkKeyFor(normalized, wrappingKey, "wrapKey", context);
    const exported = exportWith(format, key, context);
    const bytes = format === "jwk" ? native.utf8Encode(JSON.stringify(exported)) : new Uint8Array(exported);
    return algorithms[normalized.name][op](normalized, wrapping, bytes);
  }

  async unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable,
    keyUsages) {
    SubtleCrypto.#brand(this);
    const context = "Failed to execute 'unwrapKey' on 'SubtleCrypto'";
    webidl.requiredArguments(arguments.length, 7, context);
    format = webidl.toEnum(format, keyFormats, "KeyFormat", context);
    const wrapped = copyBytes(wrappedKey, context);
    extractable = Boolean(extractable);
    const usages = toUsages(keyUsages);
    const { normalized, op } = normalizeWrap("unwrapKey", "decrypt", unwrapAlgorithm);
    const importAlgorithm = normalize("importKey", unwrappedKeyAlgorithm);
    const unwrapping = checkKeyFor(normalized, unwrappingKey, "unwrapKey", context);
    const bytes = new Uint8Array(algorithms[normalized.name][op](normalized, unwrapping, wrapped));
    let keyData = bytes;
    if (format === "jwk") {
      let parsed;
      try {
        parsed = JSON.parse(native.utf8Decode(bytes, true));
      } catch {
        throw domError("DataError", "The unwrapped key is not a valid JSON Web Key");
      }
      keyData = toJsonWebKey(parsed, context);
      if (keyData.kty === undefined) throw domError("DataError", "The JWK 'kty' member is missing");
    }
    return importWith(format, keyData, importAlgorithm, extractable, usages);
  }
}
defineInterface(SubtleCrypto);

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
defineInterface(Crypto);

const crypto = new Crypto(illegalConstructor);

defineGlobals({ crypto, Crypto, SubtleCrypto, CryptoKey });

Object.assign(internal, { cryptoKeyInternals, cryptoHelpers });
