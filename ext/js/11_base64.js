// atob and btoa (HTML §8.3), with forgiving-base64 decoding (WHATWG Infra §4.5).

const { defineGlobals, DOMException, webidl } = internal;

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const decodeTable = new Int8Array(128).fill(-1);
for (let i = 0; i < alphabet.length; i++) decodeTable[alphabet.charCodeAt(i)] = i;

// Builds a string from char codes in chunks, avoiding argument-count limits.
function fromCharCodes(codes, length) {
  let out = "";
  for (let i = 0; i < length; i += 0x2000) {
    out += String.fromCharCode.apply(null, codes.subarray(i, Math.min(i + 0x2000, length)));
  }
  return out;
}

// Base64 of a sequence of byte values (a Uint8Array or a binary string's codes).
function encodeBytes(length, byteAt) {
  const out = new Uint16Array(Math.ceil(length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < length; i += 3) {
    const n = (byteAt(i) << 16) | (byteAt(i + 1) << 8) | byteAt(i + 2);
    out[o++] = alphabet.charCodeAt(n >> 18);
    out[o++] = alphabet.charCodeAt((n >> 12) & 63);
    out[o++] = alphabet.charCodeAt((n >> 6) & 63);
    out[o++] = alphabet.charCodeAt(n & 63);
  }
  if (i < length) {
    const n = (byteAt(i) << 16) | (i + 1 < length ? byteAt(i + 1) << 8 : 0);
    out[o++] = alphabet.charCodeAt(n >> 18);
    out[o++] = alphabet.charCodeAt((n >> 12) & 63);
    out[o++] = i + 1 < length ? alphabet.charCodeAt((n >> 6) & 63) : 61;
    out[o++] = 61;
  }
  return fromCharCodes(out, o);
}

// ASCII whitespace, which forgiving-base64 ignores: tab, line feed, form feed, carriage return, space.
const isAsciiWhitespace = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;

// Forgiving-base64 decode; returns a Uint8Array, or null on failure. Whitespace is skipped as
// the text is read, not removed first: a global replace made a copy, and a text past the
// RegExp guards' cap (07_builtin_guards.js) was refused with their RangeError.
function forgivingDecode(input) {
  let length = 0;
  for (let i = 0; i < input.length; i++) if (!isAsciiWhitespace(input.charCodeAt(i))) length++;
  let end = input.length;
  if (length % 4 === 0) {
    for (let removed = 0; removed < 2; removed++) {  // one or two trailing "="
      let last = end - 1;
      while (last >= 0 && isAsciiWhitespace(input.charCodeAt(last))) last--;
      if (last < 0 || input.charCodeAt(last) !== 61) break;
      end = last;
      length--;
    }
  }
  if (length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = input.charCodeAt(i);
    if (isAsciiWhitespace(c)) continue;
    const v = c < 128 ? decodeTable[c] : -1;
    if (v < 0) return null;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

const base64 = {
  encode: (bytes) => encodeBytes(bytes.length, (i) => bytes[i]),
  decode: forgivingDecode,
};

function btoa(data) {
  webidl.requiredArguments(arguments.length, 1, "Failed to execute 'btoa'");
  data = webidl.toDOMString(data, "Failed to execute 'btoa'");
  for (let i = 0; i < data.length; i++) {
    if (data.charCodeAt(i) > 0xff) {
      throw new DOMException(
        "Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range.",
        "InvalidCharacterError",
      );
    }
  }
  return encodeBytes(data.length, (i) => data.charCodeAt(i));
}

function atob(data) {
  webidl.requiredArguments(arguments.length, 1, "Failed to execute 'atob'");
  data = webidl.toDOMString(data, "Failed to execute 'atob'");
  const bytes = forgivingDecode(data);
  if (bytes === null) {
    throw new DOMException(
      "Failed to execute 'atob': The string to be decoded is not correctly encoded.",
      "InvalidCharacterError",
    );
  }
  return fromCharCodes(bytes, bytes.length);
}

defineGlobals({ atob, btoa });

Object.assign(internal, { base64 });
