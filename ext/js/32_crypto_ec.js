// Elliptic curves for crypto.subtle: ECDSA and ECDH on P-256, P-384 and P-521, Ed25519,
// Ed448, X25519 and X448 (WebCrypto §23–24 and the Secure Curves sections). Keys are SPKI (public) or
// PKCS #8 (private) DER; ECDSA signatures are IEEE P1363 r || s.

const { cryptoHelpers, cryptoKeyInternals, webidl } = internal;

const { algorithms, newKey, domError, guard, param, checkUsages, checkJwk, checkJwkAlg, jwkBytes,
  base64urlEncode, truncateBits, requireKeyType, exportDer } = cryptoHelpers;

const curves = { "P-256": { bytes: 32, jwkAlg: "ES256" }, "P-384": { bytes: 48, jwkAlg: "ES384" },
  "P-521": { bytes: 66, jwkAlg: "ES512" } };

function curveParams(dict, name) {
  if (dict.namedCurve === undefined) throw new TypeError(`${name}: 'namedCurve' is required`);
  const namedCurve = webidl.toDOMString(dict.namedCurve);
  if (!(namedCurve in curves)) throw domError("NotSupportedError", `Unsupported named curve: ${namedCurve}`);
  return { name, namedCurve };
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function sameBytes(a, b) {
  return a.length === b.length && native.timingSafeEqual(a, b);
}

// Imports a key of `kind` ("EC", "Ed25519", "Ed448", "X25519", "X448") from DER, checking what it holds.
function fromDer(kind, der, isPrivate, namedCurve) {
  const info = guard("DataError", () => native.keyInfo(der, isPrivate));
  if (info[0] !== kind) throw domError("DataError", `The key is not an ${kind} key`);
  if (kind === "EC" && info[2] !== namedCurve) throw domError("DataError", "The key's curve is not the requested one");
  return new Uint8Array(info[1]);
}

// ECDSA or ECDH. `use` is the JWK "use" value; `checkAlg` whether "alg" is checked.
function defineEc(name, publicUsages, privateUsages, use, checkAlg, { params: operationParams, ...operations }) {
  algorithms[name] = {
    name,
    params: { importKey: curveParams, generateKey: curveParams, ...operationParams },

    generateKey({ namedCurve }, extractable, usages) {
      usages = checkUsages(usages, [...publicUsages, ...privateUsages]);
      const [spki, pkcs8] = guard("OperationError", () => native.generateKeyPair("EC", namedCurve));
      const algorithm = { name, namedCurve };
      return {
        publicKey: newKey("public", true, algorithm, usages.filter((u) => publicUsages.includes(u)),
          new Uint8Array(spki)),
        privateKey: newKey("private", extractable, { ...algorithm },
          usages.filter((u) => privateUsages.includes(u)), new Uint8Array(pkcs8)),
      };
    },

    importKey(format, keyData, { namedCurve }, extractable, usages) {
      let isPrivate;
      let der;
      if (format === "spki" || format === "pkcs8") {
        isPrivate = format === "pkcs8";
        usages = checkUsages(usages, isPrivate ? privateUsages : publicUsages);
        der = fromDer("EC", keyData, isPrivate, namedCurve);
      } else if (format === "raw") {
        isPrivate = false;
        usages = checkUsages(usages, publicUsages);
        der = new Uint8Array(guard("DataError", () => native.ecFromComponents(namedCurve, keyData)));
      } else if (format === "jwk") {
        isPrivate = keyData.d !== undefined;
        usages = checkUsages(usages, isPrivate ? privateUsages : publicUsages);
        checkJwk(keyData, "EC", use, usages, extractable);
        if (keyData.crv !== namedCurve) throw domError("DataError", "The JWK 'crv' member is not the requested curve");
        if (checkAlg) checkJwkAlg(keyData, [curves[namedCurve].jwkAlg]);
        const size = curves[namedCurve].bytes;
        const [x, y] = [jwkBytes(keyData, "x"), jwkBytes(keyData, "y")];
        const d = isPrivate ? jwkBytes(keyData, "d") : undefined;
        if (x.length !== size || y.length !== size || (d !== undefined && d.length !== size)) {
          throw domError("DataError", "The JWK coordinates have the wrong length for the curve");
        }
        const point = concat([4], x, y);
        der = new Uint8Array(guard("DataError", () => native.ecFromComponents(namedCurve, point, d)));
      } else {
        throw domError("NotSupportedError", `Unsupported import key format for ${name}: ${format}`);
      }
      return newKey(isPrivate ? "private" : "public", extractable, { name, namedCurve }, usages, der);
    },

    exportKey(format, k) {
      const der = exportDer(format, k);
      if (der !== null) return der;
      if (format === "raw") {
        requireKeyType(k, "public");
        return guard("OperationError", () => native.ecComponents(k.keyBytes, false))[0];
      }
      const [point, d] = guard("OperationError", () => native.ecComponents(k.keyBytes, k.type === "private"));
      const size = curves[k.algorithm.namedCurve].bytes;
      const bytes = new Uint8Array(point);
      const jwk = {
        kty: "EC", crv: k.algorithm.namedCurve,
        x: base64urlEncode(bytes.subarray(1, 1 + size)), y: base64urlEncode(bytes.subarray(1 + size)),
      };
      if (d !== undefined) jwk.d = base64urlEncode(d);
      return { ...jwk, key_ops: [...k.usages], ext: k.extractable };
    },

    ...operations,
  };
}

// Key agreement for ECDH, X25519 and X448: the private key `k` with params.public.
function agree(params, k, length) {
  requireKeyType(k, "private");
  const peer = cryptoKeyInternals(params.public);
  if (peer.type !== "public") throw domError("InvalidAccessError", "The 'public' member is not a public key");
  if (peer.algorithm.name !== k.algorithm.name || peer.algorithm.namedCurve !== k.algorithm.namedCurve) {
    throw domError("InvalidAccessError", "The public key is not for the same algorithm and curve");
  }
  return truncateBits(guard("OperationError", () => native.ecdh(k.keyBytes, peer.keyBytes)), length);
}

const deriveParams = (dict, name) => ({ name, public: param.key(dict, "public", name) });

function signatureMethods(kind) {
  return {
    sign(params, k, data) {
      requireKeyType(k, "private");
      return guard("OperationError", () => native.sign(kind, params.hash ?? "", k.keyBytes, data));
    },
    verify(params, k, signature, data) {
      requireKeyType(k, "public");
      return guard("OperationError", () => native.verify(kind, params.hash ?? "", k.keyBytes, signature, data));
    },
  };
}

const ecdsaParams = (dict, name) => ({ name, hash: param.hash(dict, name) });

defineEc("ECDSA", ["verify"], ["sign"], "sig", true, {
  params: { sign: ecdsaParams, verify: ecdsaParams },
  ...signatureMethods("ECDSA"),
});

defineEc("ECDH", [], ["deriveKey", "deriveBits"], "enc", false, {
  params: { deriveBits: deriveParams },
  deriveBits: agree,
});

// Ed25519, Ed448, X25519 and X448: raw keys of a fixed size (32, 57, 32, 56 bytes), JWK "OKP".
function defineOkp(name, publicUsages, privateUsages, use, jwkAlg, { params: operationParams, ...operations }) {
  algorithms[name] = {
    name,
    params: { importKey: param.nameOnly, generateKey: param.nameOnly, ...operationParams },

    generateKey(params, extractable, usages) {
      usages = checkUsages(usages, [...publicUsages, ...privateUsages]);
      const [spki, pkcs8] = guard("OperationError", () => native.generateKeyPair(name));
      return {
        publicKey: newKey("public", true, { name }, usages.filter((u) => publicUsages.includes(u)),
          new Uint8Array(spki)),
        privateKey: newKey("private", extractable, { name }, usages.filter((u) => privateUsages.includes(u)),
          new Uint8Array(pkcs8)),
      };
    },

    importKey(format, keyData, params, extractable, usages) {
      let isPrivate;
      let der;
      if (format === "spki" || format === "pkcs8") {
        isPrivate = format === "pkcs8";
        usages = checkUsages(usages, isPrivate ? privateUsages : publicUsages);
        der = fromDer(name, keyData, isPrivate);
      } else if (format === "raw") {
        isPrivate = false;
        usages = checkUsages(usages, publicUsages);
        der = new Uint8Array(guard("DataError", () => native.okpFromRaw(name, keyData, false)));
      } else if (format === "jwk") {
        isPrivate = keyData.d !== undefined;
        usages = checkUsages(usages, isPrivate ? privateUsages : publicUsages);
        checkJwk(keyData, "OKP", use, usages, extractable);
        if (keyData.crv !== name) throw domError("DataError", `The JWK 'crv' member is not '${name}'`);
        if (jwkAlg) checkJwkAlg(keyData, jwkAlg);
        const x = jwkBytes(keyData, "x");
        if (isPrivate) {
          der = new Uint8Array(guard("DataError", () => native.okpFromRaw(name, jwkBytes(keyData, "d"), true)));
          const [publicBytes] = native.okpRaw(der, true);
          if (!sameBytes(new Uint8Array(publicBytes), x)) {
            throw domError("DataError", "The JWK 'x' member does not match the private key");
          }
        } else {
          der = new Uint8Array(guard("DataError", () => native.okpFromRaw(name, x, false)));
        }
      } else {
        throw domError("NotSupportedError", `Unsupported import key format for ${name}: ${format}`);
      }
      return newKey(isPrivate ? "private" : "public", extractable, { name }, usages, der);
    },

    exportKey(format, k) {
      const der = exportDer(format, k);
      if (der !== null) return der;
      if (format === "raw") {
        requireKeyType(k, "public");
        return guard("OperationError", () => native.okpRaw(k.keyBytes, false))[0];
      }
      const [x, d] = guard("OperationError", () => native.okpRaw(k.keyBytes, k.type === "private"));
      const jwk = { kty: "OKP", crv: name, x: base64urlEncode(x) };
      if (d !== undefined) jwk.d = base64urlEncode(d);
      return { ...jwk, key_ops: [...k.usages], ext: k.extractable };
    },

    ...operations,
  };
}

defineOkp("Ed25519", ["verify"], ["sign"], "sig", ["EdDSA", "Ed25519"], {
  params: { sign: param.nameOnly, verify: param.nameOnly },
  ...signatureMethods("Ed25519"),
});

defineOkp("X25519", [], ["deriveKey", "deriveBits"], "enc", null, {
  params: { deriveBits: deriveParams },
  deriveBits: agree,
});

// Ed448Params may carry a context; OpenSSL 3.0 signs only with the empty one.
function ed448Params(dict, name) {
  const context = param.optionalBytes(dict, "context", name);
  if (context !== undefined && context.length > 0) {
    throw domError("NotSupportedError", "Ed448 signatures with a non-empty context are not supported");
  }
  return { name };
}

defineOkp("Ed448", ["verify"], ["sign"], "sig", ["EdDSA", "Ed448"], {
  params: { sign: ed448Params, verify: ed448Params },
  ...signatureMethods("Ed448"),
});

defineOkp("X448", [], ["deriveKey", "deriveBits"], "enc", null, {
  params: { deriveBits: deriveParams },
  deriveBits: agree,
});
