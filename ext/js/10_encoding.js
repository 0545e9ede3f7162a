// TextEncoder and TextDecoder (WHATWG Encoding). TextDecoder knows every encoding of the
// standard: UTF-8 through V8's own decoder (native.utf8Decode), the others through ICU
// (native.decoderCreate / decoderDecode, ext/encoding_natives.cc, which lists where ICU's
// converters differ from the WHATWG decoders and what is done about it).

const { defineGlobals, defineInterface, webidl } = internal;

// Encoding name -> its labels, from the Encoding Standard's "Names and labels" table.
const encodingLabels = {
  "utf-8": "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8",
  "ibm866": "866 cp866 csibm866 ibm866",
  "iso-8859-2": "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2",
  "iso-8859-3": "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3",
  "iso-8859-4": "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4",
  "iso-8859-5": "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988",
  "iso-8859-6":
    "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 " +
    "iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
  "iso-8859-7":
    "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 " +
    "iso-ir-126 iso8859-7 iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek",
  "iso-8859-8":
    "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e " +
    "iso-ir-138 iso8859-8 iso88598 iso_8859-8 iso_8859-8:1988 visual",
  "iso-8859-8-i": "csiso88598i iso-8859-8-i logical",
  "iso-8859-10": "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
  "iso-8859-13": "iso-8859-13 iso8859-13 iso885913",
  "iso-8859-14": "iso-8859-14 iso8859-14 iso885914",
  "iso-8859-15": "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
  "iso-8859-16": "iso-8859-16",
  "koi8-r": "cskoi8r koi koi8 koi8-r koi8_r",
  "koi8-u": "koi8-ru koi8-u",
  "macintosh": "csmacintosh mac macintosh x-mac-roman",
  "windows-874": "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
  "windows-1250": "cp1250 windows-1250 x-cp1250",
  "windows-1251": "cp1251 windows-1251 x-cp1251",
  "windows-1252":
    "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 " +
    "iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
  "windows-1253": "cp1253 windows-1253 x-cp1253",
  "windows-1254":
    "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 " +
    "iso_8859-9 iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254",
  "windows-1255": "cp1255 windows-1255 x-cp1255",
  "windows-1256": "cp1256 windows-1256 x-cp1256",
  "windows-1257": "cp1257 windows-1257 x-cp1257",
  "windows-1258": "cp1258 windows-1258 x-cp1258",
  "x-mac-cyrillic": "x-mac-cyrillic x-mac-ukrainian",
  "gbk": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk",
  "gb18030": "gb18030",
  "big5": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
  "euc-jp": "cseucpkdfmtjapanese euc-jp x-euc-jp",
  "iso-2022-jp": "csiso2022jp iso-2022-jp",
  "shift_jis": "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
  "euc-kr": "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 windows-949",
  "replacement": "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr replacement",
  "utf-16be": "unicodefffe utf-16be",
  "utf-16le": "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
  "x-user-defined": "x-user-defined",
};

const nameOfLabel = new Map();
for (const [name, labels] of Object.entries(encodingLabels)) {
  for (const label of labels.split(" ")) nameOfLabel.set(label, name);
}

// "get an encoding": trim ASCII whitespace, ASCII-lowercase (not Unicode: "\u212Aoi8-r" is
// no label), look up.
function encodingOfLabel(label) {
  const key = label.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").replace(/[A-Z]/g, (c) => c.toLowerCase());
  return nameOfLabel.get(key);
}

// Huge inputs are decoded this many bytes at a time: V8 honours a termination request (a
// time limit, Isolate.terminate) between chunks, never inside one native call.
const chunkBytes = 1 << 20;

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

const bomEncodings = new Set(["utf-8", "utf-16le", "utf-16be"]);

class TextDecoder {
  #encoding;
  #fatal;
  #ignoreBOM;
  #handle = null; // the ICU decoder of every encoding but UTF-8
  #pending = null; // UTF-8: the start of a sequence held back while streaming
  #bomSeen = false;
  #streaming = false;

  constructor(label = "utf-8", options = undefined) {
    const context = "Failed to construct 'TextDecoder'";
    label = webidl.toDOMString(label, context);
    const opts = webidl.toDictionary(options, context);
    const fatal = Boolean(opts.fatal);
    const ignoreBOM = Boolean(opts.ignoreBOM);
    const encoding = encodingOfLabel(label);
    if (encoding === undefined || encoding === "replacement") {
      throw new RangeError(`${context}: The encoding label provided ('${label}') is invalid.`);
    }
    if (encoding !== "utf-8") {
      try {
        this.#handle = native.decoderCreate(encoding, fatal);
      } catch {
        throw new RangeError(`${context}: The encoding '${encoding}' is not available in this build's ICU.`);
      }
    }
    this.#encoding = encoding;
    this.#fatal = fatal;
    this.#ignoreBOM = ignoreBOM;
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#fatal in self)) throw webidl.illegalInvocation();
  }

  get encoding() {
    TextDecoder.#check(this);
    return this.#encoding;
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
    if (webidl.isSharedArrayBuffer(bytes.buffer)) bytes = new Uint8Array(bytes);

    let text = "";
    try {
      for (let start = 0; start < bytes.length || start === 0; start += chunkBytes) {
        const end = Math.min(start + chunkBytes, bytes.length);
        text += this.#decodeChunk(bytes.subarray(start, end), !stream && end === bytes.length);
      }
    } catch (e) {
      this.#streaming = false;
      this.#pending = null;
      if (!(e instanceof TypeError)) throw e;
      throw new TypeError(`${context}: The encoded data was not valid for encoding ${this.#encoding}`);
    }

    if (!this.#ignoreBOM && !this.#bomSeen && text.length > 0 && bomEncodings.has(this.#encoding)) {
      this.#bomSeen = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  }

  // One chunk; an incomplete sequence at its end waits for the next unless `flush`.
  #decodeChunk(bytes, flush) {
    if (this.#handle !== null) return native.decoderDecode(this.#handle, bytes, flush);
    if (this.#pending !== null) {
      const joined = new Uint8Array(this.#pending.length + bytes.length);
      joined.set(this.#pending);
      joined.set(bytes, this.#pending.length);
      bytes = joined;
      this.#pending = null;
    }
    if (!flush) {
      const tail = incompleteTail(bytes);
      if (tail > 0) {
        this.#pending = bytes.slice(bytes.length - tail);
        bytes = bytes.subarray(0, bytes.length - tail);
      }
    }
    return native.utf8Decode(bytes, this.#fatal);
  }
}
defineInterface(TextDecoder);

defineGlobals({ TextEncoder, TextDecoder });
