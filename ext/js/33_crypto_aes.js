// AES for crypto.subtle: AES-CTR, AES-CBC, AES-GCM and AES-KW (WebCrypto §26–29). Keys are
// their raw 16, 24 or 32 bytes.

const { cryptoHelpers } = internal;

const { algorithms, newKey, domError, guard, param, checkUsages, checkJwk, checkJwkAlg, jwkBytes,
  base64urlEncode, exportedBuffer } = cryptoHelpers;

const keyLengths = [128, 192, 256];
const gcmTagLengths = [32, 64, 96, 104, 112, 120, 128];

const lengthParams = (dict, name) => ({ name, length: param.integer(dict, "length", 16, name) });

function defineAes(mode, usages, operations) {
  const name = `AES-${mode}`;
  const jwkAlg = (bits) => `A${bits}${mode}`;
  algorithms[name] = {
    name,
    params: {
      importKey: param.nameOnly, generateKey: lengthParams, "get key length": lengthParams, ...operations.params,
    },

    generateKey({ length }, extractable, requested) {
      requested = checkUsages(requested, usages);
      if (!keyLengths.includes(length)) throw domError("OperationError", "AES key length must be 128, 192 or 256");
      const bytes = new Uint8Array(length / 8);
      native.randomFill(bytes);
      return newKey("secret", extractable, { name, length }, requested, bytes);
    },

    importKey(format, keyData, params, extractable, requested) {
      requested = checkUsages(requested, usages);
      let bytes;
      if (format === "raw") {
        bytes = keyData;
      } else if (format === "jwk") {
        checkJwk(keyData, "oct", "enc", requested, extractable);
        bytes = jwkBytes(keyData, "k");
      } else {
        throw domError("NotSupportedError", `Unsupported import key format for ${name}: ${format}`);
      }
      if (!keyLengths.includes(bytes.length * 8)) throw domError("DataError", "AES key data must be 128, 192 or 256 bits");
      if (format === "jwk") checkJwkAlg(keyData, [jwkAlg(bytes.length * 8)]);
      return newKey("secret", extractable, { name, length: bytes.length * 8 }, requested, bytes);
    },

    exportKey(format, k) {
      if (format === "raw") return exportedBuffer(k.keyBytes);
      if (format === "jwk") {
        return {
          kty: "oct", k: base64urlEncode(k.keyBytes), alg: jwkAlg(k.algorithm.length),
          key_ops: [...k.usages], ext: k.extractable,
        };
      }
      throw domError("NotSupportedError", `Unsupported export key format for ${name}: ${format}`);
    },

    getKeyLength({ length }) {
      if (!keyLengths.includes(length)) throw domError("OperationError", "AES key length must be 128, 192 or 256");
      return length;
    },

    ...operations.methods,
  };
}

// encrypt and decrypt through native.aes with the arguments `extra(params)` gives.
function cipherMethods(mode, check, extra) {
  const run = (encrypt) => (params, k, data) => {
    check(params);
    return guard("OperationError", () => native.aes(mode, encrypt, k.keyBytes, data, ...extra(params)));
  };
  return { encrypt: run(true), decrypt: run(false) };
}

const ctrParams = (dict, name) => ({
  name, counter: param.bytes(dict, "counter", name), length: param.integer(dict, "length", 8, name),
});
defineAes("CTR", ["encrypt", "decrypt", "wrapKey", "unwrapKey"], {
  params: { encrypt: ctrParams, decrypt: ctrParams },
  methods: cipherMethods("CTR", ({ counter, length }) => {
    if (counter.length !== 16) throw domError("OperationError", "AES-CTR counter must be 16 bytes");
    if (length === 0 || length > 128) throw domError("OperationError", "AES-CTR length must be from 1 to 128");
  }, ({ counter, length }) => [counter, length]),
});

const cbcParams = (dict, name) => ({ name, iv: param.bytes(dict, "iv", name) });
defineAes("CBC", ["encrypt", "decrypt", "wrapKey", "unwrapKey"], {
  params: { encrypt: cbcParams, decrypt: cbcParams },
  methods: cipherMethods("CBC", ({ iv }) => {
    if (iv.length !== 16) throw domError("OperationError", "AES-CBC iv must be 16 bytes");
  }, ({ iv }) => [iv]),
});

const gcmParams = (dict, name) => ({
  name,
  iv: param.bytes(dict, "iv", name),
  additionalData: param.optionalBytes(dict, "additionalData", name) ?? new Uint8Array(0),
  tagLength: param.optionalInteger(dict, "tagLength", 8, name) ?? 128,
});
defineAes("GCM", ["encrypt", "decrypt", "wrapKey", "unwrapKey"], {
  params: { encrypt: gcmParams, decrypt: gcmParams },
  methods: cipherMethods("GCM", ({ iv, tagLength }) => {
    if (!gcmTagLengths.includes(tagLength)) throw domError("OperationError", `Invalid AES-GCM tag length: ${tagLength}`);
    if (iv.length === 0) throw domError("OperationError", "AES-GCM iv must not be empty");
  }, ({ iv, additionalData, tagLength }) => [iv, additionalData, tagLength / 8]),
});

defineAes("KW", ["wrapKey", "unwrapKey"], {
  params: { wrapKey: param.nameOnly, unwrapKey: param.nameOnly },
  methods: {
    wrapKey(params, k, data) {
      if (data.length % 8 !== 0) throw domError("OperationError", "AES-KW data must be a multiple of 8 bytes");
      return guard("OperationError", () => native.aes("KW", true, k.keyBytes, data));
    },
    unwrapKey(params, k, data) {
      return guard("OperationError", () => native.aes("KW", false, k.keyBytes, data));
    },
  },
});
