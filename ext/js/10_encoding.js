// TextEncoder and TextDecoder (WHATWG Encoding), UTF-8 only.

const { defineGlobals, defineInterface, webidl } = internal;

const utf8Labels = ["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"];

class TextEncoder {
  constructor() {}

  static #check(self) {
    if (!webidl.isObject(self) || !(#brand in self)) throw webidl.illegalInvocation();
  }

  #brand = true;

  get encoding() {
    TextEncoder.#check(this);
    return "utf-8";
  }

  encode(input = "") {
    TextEncoder.#check(this);
    return native.utf8Encode(webidl.toDOMString(input));
  }

  encodeInto(source, destination) {
    TextEncoder.#check(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'encodeInto' on 'TextEncoder'");
    source = webidl.toDOMString(source);
    if (webidl.typedArrayName(destination) !== "Uint8Array") {
      throw new TypeError(
        "Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.",
      );
    }
    const [read, written] = native.utf8EncodeInto(source, destination);
    return { read, written };
  }
}
defineInterface(TextEncoder);

// Number of trailing bytes that start a UTF-8 sequence not yet complete but still
// valid so far; those are held back while streaming.
function incompleteTail(bytes) {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const lead = bytes[n - back];
    if (lead < 0x80) return 0;
    if (lead < 0xc0) continue;
    let needed;
    if (lead >= 0xc2 && lead <= 0xdf) needed = 1;
    else if (lead >= 0xe0 && lead <= 0xef) needed = 2;
    else if (lead >= 0xf0 && lead <= 0xf4) needed = 3;
    else return 0;
    if (back > needed) return 0;
    if (back >= 2) {
      const second = bytes[n - back + 1];
      const lower = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
      const upper = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
      if (second < lower || second > upper) return 0;
    }
    return back;
  }
  return 0;
}

class TextDecoder {
  #fatal;
  #ignoreBOM;
  #pending = null;
  #bomSeen = false;
  #streaming = false;

  constructor(label = "utf-8", options = undefined) {
    const context = "Failed to construct 'TextDecoder'";
    const name = webidl.toDOMString(label, context).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").toLowerCase();
    const opts = webidl.toDictionary(options, context);
    const fatal = Boolean(opts.fatal);
    const ignoreBOM = Boolean(opts.ignoreBOM);
    if (!utf8Labels.includes(name)) {
      throw new RangeError(`${context}: The encoding label provided ('${label}') is invalid.`);
    }
    this.#fatal = fatal;
    this.#ignoreBOM = ignoreBOM;
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#fatal in self)) throw webidl.illegalInvocation();
  }

  get encoding() {
    TextDecoder.#check(this);
    return "utf-8";
  }

  get fatal() {
    TextDecoder.#check(this);
    return this.#fatal;
  }

  get ignoreBOM() {
    TextDecoder.#check(this);
    return this.#ignoreBOM;
  }

  decode(input = undefined, options = undefined) {
    TextDecoder.#check(this);
    const context = "Failed to execute 'decode' on 'TextDecoder'";
    let bytes = input === undefined ? new Uint8Array(0) : webidl.bufferSourceView(input, context);
    const stream = Boolean(webidl.toDictionary(options, context).stream);

    if (!this.#streaming) {
      this.#pending = null;
      this.#bomSeen = false;
    }
    this.#streaming = stream;

    if (this.#pending !== null) {
      const joined = new Uint8Array(this.#pending.length + bytes.length);
      joined.set(this.#pending);
      joined.set(bytes, this.#pending.length);
      bytes = joined;
      this.#pending = null;
    } else if (webidl.isSharedArrayBuffer(bytes.buffer)) {
      bytes = new Uint8Array(bytes);
    }

    if (stream) {
      const tail = incompleteTail(bytes);
      if (tail > 0) {
        this.#pending = bytes.slice(bytes.length - tail);
        bytes = bytes.subarray(0, bytes.length - tail);
      }
    }

    let text;
    try {
      text = native.utf8Decode(bytes, this.#fatal);
    } catch {
      this.#streaming = false;
      this.#pending = null;
      throw new TypeError(`${context}: The encoded data was not valid for encoding utf-8`);
    }

    if (!this.#ignoreBOM && !this.#bomSeen && text.length > 0) {
      this.#bomSeen = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  }
}
defineInterface(TextDecoder);

defineGlobals({ TextEncoder, TextDecoder });
