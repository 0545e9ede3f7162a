// Key derivation for crypto.subtle: PBKDF2 and HKDF (WebCrypto §30–31). Their keys are raw
// bytes, never extractable.

const { cryptoHelpers } = internal;

const { algorithms, hashes, newKey, domError, guard, param, checkUsages } = cryptoHelpers;

// Workers' limit on iterations. The output is capped too (a few KB is more than any key
// needs; the native refuses more), so the work a call asks for is bounded before it starts.
const maxPbkdf2Iterations = 100000;
const maxPbkdf2Bytes = 4096;

function defineKdf(name, deriveParams, derive) {
  algorithms[name] = {
    name,
    params: { importKey: param.nameOnly, deriveBits: deriveParams, "get key length": param.nameOnly },

    importKey(format, keyData, params, extractable, usages) {
      if (format !== "raw") throw domError("NotSupportedError", `Unsupported import key format for ${name}: ${format}`);
      usages = checkUsages(usages, ["deriveKey", "deriveBits"]);
      if (extractable) throw domError("SyntaxError", `${name} keys cannot be extractable`);
      return newKey("secret", false, { name }, usages, keyData);
    },

    getKeyLength() {
      return null;
    },

    deriveBits(params, k, length) {
      if (length === null || length % 8 !== 0) {
        throw domError("OperationError", `${name} needs a length that is a multiple of 8`);
      }
      return derive(params, k.keyBytes, length / 8);
    },
  };
}

defineKdf("PBKDF2", (dict, name) => ({
  name,
  salt: param.bytes(dict, "salt", name),
  iterations: param.integer(dict, "iterations", 32, name),
  hash: param.hash(dict, name),
}), ({ salt, iterations, hash }, key, bytes) => {
  if (iterations === 0) throw domError("OperationError", "PBKDF2 iterations must not be zero");
  if (iterations > maxPbkdf2Iterations) {
    throw domError("NotSupportedError", `PBKDF2 iteration counts above ${maxPbkdf2Iterations} are not supported`);
  }
  if (bytes > maxPbkdf2Bytes) {
    throw domError("OperationError",
      `PBKDF2 output is limited to ${maxPbkdf2Bytes * 8} bits (${maxPbkdf2Bytes} bytes); ${bytes * 8} were requested`);
  }
  return guard("OperationError", () => native.pbkdf2(hash, key, salt, iterations, bytes));
});

defineKdf("HKDF", (dict, name) => ({
  name,
  hash: param.hash(dict, name),
  salt: param.bytes(dict, "salt", name),
  info: param.bytes(dict, "info", name),
}), ({ hash, salt, info }, key, bytes) => {
  if (bytes > 255 * hashes[hash].outputBytes) {
    throw domError("OperationError", "HKDF cannot derive more than 255 times the hash length");
  }
  return guard("OperationError", () => native.hkdf(hash, key, salt, info, bytes));
});
