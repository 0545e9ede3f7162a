// RSA for crypto.subtle: RSASSA-PKCS1-v1_5, RSA-PSS and RSA-OAEP (WebCrypto §20–22).
// Keys are SPKI (public) or PKCS #8 (private) DER, handled by the natives in crypto_natives.cc.

const { cryptoHelpers } = internal;

const { algorithms, hashes, newKey, domError, guard, param, checkUsages, checkJwk, checkJwkAlg, jwkBytes,
  base64urlEncode, requireKeyType, exportDer } = cryptoHelpers;

// Generating larger keys blocks the thread for seconds, beyond the reach of the CPU limits.
const maxGeneratedModulus = 4096;

const jwkNames = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];

function hashedKeyParams(dict, name) {
  return { name, hash: param.hash(dict, name) };
}

function keyGenParams(dict, name) {
  return {
    name,
    modulusLength: param.integer(dict, "modulusLength", 32, name),
    publicExponent: param.bytes(dict, "publicExponent", name),
    hash: param.hash(dict, name),
  };
}

function exponentValue(bytes) {
  let value = 0;
  for (const byte of bytes) value = value * 256 + byte;
  return value;
}

// `info` is what native.keyInfo returns: ["RSA", der, modulusLength, publicExponent].
function rsaKey(type, extractable, name, hash, info, usages) {
  const [, der, modulusLength, exponent] = info;
  const algorithm = { name, modulusLength, publicExponent: new Uint8Array(exponent), hash: { name: hash } };
  return newKey(type, extractable, algorithm, usages, new Uint8Array(der));
}

// One RSA algorithm: its public and private usages and the JWK "alg" values per hash.
function defineRsa(name, publicUsages, privateUsages, use, jwkAlg, operations) {
  algorithms[name] = {
    name,
    params: { importKey: hashedKeyParams, generateKey: keyGenParams, ...operations.params },

    generateKey({ modulusLength, publicExponent, hash }, extractable, usages) {
      usages = checkUsages(usages, [...publicUsages, ...privateUsages]);
      const exponent = exponentValue(publicExponent);
      if (modulusLength < 512 || modulusLength > maxGeneratedModulus || modulusLength % 8 !== 0) {
        throw domError("OperationError", `The modulus length must be a multiple of 8 from 512 to ${maxGeneratedModulus}`);
      }
      if (exponent !== 3 && exponent !== 65537) throw domError("OperationError", "The public exponent must be 3 or 65537");
      const [spki, pkcs8] = guard("OperationError",
        () => native.generateKeyPair("RSA", modulusLength, publicExponent));
      return {
        publicKey: rsaKey("public", true, name, hash, ["RSA", spki, modulusLength, publicExponent],
          usages.filter((u) => publicUsages.includes(u))),
        privateKey: rsaKey("private", extractable, name, hash, ["RSA", pkcs8, modulusLength, publicExponent],
          usages.filter((u) => privateUsages.includes(u))),
      };
    },

    importKey(format, keyData, { hash }, extractable, usages) {
      let isPrivate;
      let der = keyData;
      if (format === "spki" || format === "pkcs8") {
        isPrivate = format === "pkcs8";
        usages = checkUsages(usages, isPrivate ? privateUsages : publicUsages);
      } else if (format === "jwk") {
        isPrivate = keyData.d !== undefined;
        usages = checkUsages(usages, isPrivate ? privateUsages : publicUsages);
        checkJwk(keyData, "RSA", use, usages, extractable);
        checkJwkAlg(keyData, [jwkAlg[hash]]);
        if (keyData.oth !== undefined) throw domError("NotSupportedError", "Multi-prime RSA keys are not supported");
        const components = jwkNames.slice(0, isPrivate ? 8 : 2).map((member) => jwkBytes(keyData, member));
        der = guard("DataError", () => native.rsaFromComponents(components));
      } else {
        throw domError("NotSupportedError", `Unsupported import key format for ${name}: ${format}`);
      }
      const info = guard("DataError", () => native.keyInfo(der, isPrivate));
      if (info[0] !== "RSA") throw domError("DataError", "The key is not an RSA key");
      return rsaKey(isPrivate ? "private" : "public", extractable, name, hash, info, usages);
    },

    exportKey(format, k) {
      const der = exportDer(format, k);
      if (der !== null) return der;
      if (format !== "jwk") throw domError("NotSupportedError", `Unsupported export key format for ${name}: ${format}`);
      const components = guard("OperationError", () => native.rsaComponents(k.keyBytes, k.type === "private"));
      const jwk = { kty: "RSA" };
      components.forEach((bytes, i) => { jwk[jwkNames[i]] = base64urlEncode(bytes); });
      return { ...jwk, alg: jwkAlg[k.algorithm.hash.name], key_ops: [...k.usages], ext: k.extractable };
    },

    ...operations.methods,
  };
}

function signatureOperations(name, saltLength) {
  const signParams = saltLength
    ? (dict, n) => ({ name: n, saltLength: param.integer(dict, "saltLength", 32, n) })
    : param.nameOnly;
  return {
    params: { sign: signParams, verify: signParams },
    methods: {
      sign(params, k, data) {
        requireKeyType(k, "private");
        return guard("OperationError",
          () => native.sign(name, k.algorithm.hash.name, k.keyBytes, data, params.saltLength));
      },
      verify(params, k, signature, data) {
        requireKeyType(k, "public");
        return guard("OperationError",
          () => native.verify(name, k.algorithm.hash.name, k.keyBytes, signature, data, params.saltLength));
      },
    },
  };
}

function jwkAlgs(prefix, suffix = "") {
  return Object.fromEntries(Object.keys(hashes).map((h) => [h, `${prefix}${h.slice(4)}${suffix}`]));
}

defineRsa("RSASSA-PKCS1-v1_5", ["verify"], ["sign"], "sig", jwkAlgs("RS"),
  signatureOperations("RSASSA-PKCS1-v1_5", false));
defineRsa("RSA-PSS", ["verify"], ["sign"], "sig", jwkAlgs("PS"), signatureOperations("RSA-PSS", true));

const oaepParams = (dict, name) => ({ name, label: param.optionalBytes(dict, "label", name) ?? new Uint8Array(0) });

defineRsa("RSA-OAEP", ["encrypt", "wrapKey"], ["decrypt", "unwrapKey"], "enc",
  { "SHA-1": "RSA-OAEP", "SHA-256": "RSA-OAEP-256", "SHA-384": "RSA-OAEP-384", "SHA-512": "RSA-OAEP-512" }, {
    params: { encrypt: oaepParams, decrypt: oaepParams },
    methods: {
      encrypt(params, k, data) {
        requireKeyType(k, "public");
        return guard("OperationError", () => native.rsaOaep(true, k.algorithm.hash.name, k.keyBytes, data, params.label));
      },
      decrypt(params, k, data) {
        requireKeyType(k, "private");
        return guard("OperationError",
          () => native.rsaOaep(false, k.algorithm.hash.name, k.keyBytes, data, params.label));
      },
    },
  });
