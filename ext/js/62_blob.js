// Blob and File (File API §3, §4). A Blob holds one immutable Uint8Array.

const {
  byteStreams, defineGlobals, defineInspect, defineInterface, DOMException, hostObjectCloning,
  webidl,
} = internal;

const kChunkSize = 65536;

// A type is kept only when every character is printable ASCII; it is lowercased.
function normalizeType(type) {
  return /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
}

function concatBytes(chunks) {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

// A readable byte stream of copies of `bytes` in chunks (the bytes stay untouched).
function bytesToStream(bytes) {
  const { createByteStream, enqueue, close } = byteStreams;
  let offset = 0;
  let s;
  s = createByteStream(
    () => {},
    () => {
      if (offset < bytes.length) {
        const end = Math.min(offset + kChunkSize, bytes.length);
        enqueue(s.controller, bytes.slice(offset, end));
        offset = end;
      }
      if (offset >= bytes.length) close(s.controller);
      return Promise.resolve();
    },
    () => Promise.resolve(),
  );
  return s.pub;
}

// UTF-8 decoding with the BOM stripped, as Body and Blob text() do.
function utf8DecodeStripBOM(bytes) {
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return native.utf8Decode(start === 0 ? bytes : bytes.subarray(start), false);
}

function relativeIndex(value, size) {
  let n = Number(value);
  if (!Number.isFinite(n)) n = Number.isNaN(n) ? 0 : n;
  n = Math.trunc(n);
  return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
}

// Every line break (CR LF, a lone CR, a lone LF) as `newline`: for Blob's "native" endings
// and multipart/form-data's CR LF (70_body.js). Text past the guards' caps (4M characters
// under 128 MB for split and for a global RegExp: 07_builtin_guards.js) goes a piece at a time,
// each cut after a CR LF rather than inside it. Split and join, not replace: a replace's
// result is a rope of its matches, and the pieces of 2.5M line breaks held past 128 MB as
// ropes; a join's result is flat.
const LINE_BREAK_STEP = 65536;
const pieceLineBreaks = (s, newline) =>
  s.split("\r\n").join("\n").split("\r").join("\n").split("\n").join(newline);
function lineBreaksAs(s, newline) {
  if (s.length <= LINE_BREAK_STEP) return pieceLineBreaks(s, newline);
  const pieces = [];
  for (let start = 0; start < s.length;) {
    let end = Math.min(start + LINE_BREAK_STEP, s.length);
    if (s.charCodeAt(end - 1) === 13 && s.charCodeAt(end) === 10) end++;
    pieces.push(pieceLineBreaks(s.slice(start, end), newline));
    start = end;
  }
  return pieces.join("");
}

function blobPartsToBytes(blobParts, endings, context) {
  if (blobParts === undefined) return new Uint8Array(0);
  const chunks = webidl.toSequence(
    blobParts,
    (part) => {
      if (isBlob(part)) return blobBytes(part);
      if (webidl.isBufferSource(part)) return webidl.bufferSourceCopy(part);
      let s = webidl.toUSVString(part, context);
      if (endings === "native") s = lineBreaksAs(s, "\n");
      return native.utf8Encode(s);
    },
    context,
  );
  // Parts are fresh or immutable Blob bytes, so a single one can be used as is.
  return chunks.length === 1 ? chunks[0] : concatBytes(chunks);
}

function blobOptions(options, context) {
  const dict = webidl.toDictionary(options, context);
  const endings = dict.endings === undefined ? "transparent" : webidl.toEnum(dict.endings, ["transparent", "native"], "EndingType", context);
  return { dict, endings };
}

// Blob and File instances are host objects (made by native.HostObject), so that V8's
// serializer hands them to structuredClone's hooks below instead of copying their (empty) own
// properties. Their state lives in BlobState's private fields, stamped onto the host object:
// BlobState's base constructor returns the object it is given, so the fields land on it.
let isBlob;
let blobBytes;
let blobType;
class BlobState extends function stampOnto(object) { return object; } {
  #bytes;
  #type;

  constructor(object, bytes, type) {
    super(object);
    this.#bytes = bytes;
    this.#type = type;
  }

  static {
    isBlob = (v) => webidl.isObject(v) && #bytes in v;
    blobBytes = (b) => b.#bytes;
    blobType = (b) => b.#type;
  }
}

// Taken now: user code may replace these builtins, which must never see native.HostObject.
const construct = Reflect.construct;

// Host objects are made with this derived class as new.target, so V8 caches their map (it
// does so only for derived class constructors), then given the prototype of the Blob or
// File (or subclass) being constructed.
const HostTarget = class extends native.HostObject {};
const setPrototypeOf = Object.setPrototypeOf;

// A new Blob (or subclass instance, for `newTarget`) over `bytes`.
function newBlob(newTarget, bytes, type) {
  const object = construct(native.HostObject, [], HostTarget);
  const proto = newTarget.prototype;
  setPrototypeOf(object, webidl.isObject(proto) ? proto : Blob.prototype);
  return new BlobState(object, bytes, type);
}

function blobOf(v) {
  if (!isBlob(v)) throw webidl.illegalInvocation();
  return v;
}

function createBlob(bytes, type) {
  return newBlob(Blob, bytes, normalizeType(type));
}

class Blob {
  constructor(blobParts = undefined, options = undefined) {
    const context = "Failed to construct 'Blob'";
    const { dict, endings } = blobOptions(options, context);
    const bytes = blobPartsToBytes(blobParts, endings, context);
    const type = dict.type === undefined ? "" : normalizeType(webidl.toDOMString(dict.type, context));
    return newBlob(new.target, bytes, type);
  }

  get size() {
    return blobBytes(blobOf(this)).length;
  }

  get type() {
    return blobType(blobOf(this));
  }

  slice(start = undefined, end = undefined, contentType = undefined) {
    const bytes = blobBytes(blobOf(this));
    const size = bytes.length;
    const from = start === undefined ? 0 : relativeIndex(start, size);
    const to = end === undefined ? size : relativeIndex(end, size);
    const type = contentType === undefined ? "" : webidl.toDOMString(contentType);
    return createBlob(bytes.subarray(from, Math.max(from, to)), type);
  }

  stream() {
    return bytesToStream(blobBytes(blobOf(this)));
  }

  text() {
    try {
      return Promise.resolve(utf8DecodeStripBOM(blobBytes(blobOf(this))));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  arrayBuffer() {
    try {
      return Promise.resolve(blobBytes(blobOf(this)).slice().buffer);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  bytes() {
    try {
      return Promise.resolve(blobBytes(blobOf(this)).slice());
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

let isFile;
let fileName;
let fileLastModified;
let createFile;
class File extends Blob {
  #name;
  #lastModified;

  static {
    isFile = (v) => webidl.isObject(v) && #name in v;
    fileName = (f) => f.#name;
    fileLastModified = (f) => f.#lastModified;
    // A File over existing bytes: a single Blob part is shared, not copied.
    createFile = (bytes, name, type, lastModified = Date.now()) =>
      new File([createBlob(bytes, "")], name, { type, lastModified });
  }

  constructor(fileBits, fileName, options = undefined) {
    webidl.requiredArguments(arguments.length, 2, "Failed to construct 'File'");
    super(fileBits, options);
    this.#name = webidl.toUSVString(fileName);
    const dict = webidl.toDictionary(options);
    this.#lastModified =
      dict.lastModified === undefined ? Date.now() : webidl.toInteger(dict.lastModified, { bits: 64, signed: true });
  }

  get name() {
    if (!isFile(this)) throw webidl.illegalInvocation();
    return fileName(this);
  }

  get lastModified() {
    if (!isFile(this)) throw webidl.illegalInvocation();
    return fileLastModified(this);
  }
}

// structuredClone's copy of a Blob or File. The bytes are shared: a Blob's never change.
function cloneBlob(object) {
  if (!isBlob(object)) throw new DOMException("This object cannot be cloned.", "DataCloneError");
  if (isFile(object)) return createFile(blobBytes(object), fileName(object), blobType(object), fileLastModified(object));
  return createBlob(blobBytes(object), blobType(object));
}

Object.assign(hostObjectCloning, { clone: cloneBlob });

defineInterface(Blob);
defineInspect(Blob, (b) => ({ size: b.size, type: b.type }));
defineInspect(File, (f) => ({ name: f.name, size: f.size, type: f.type, lastModified: f.lastModified }));
defineInterface(File);
defineGlobals({ Blob, File });

Object.assign(internal, {
  concatBytes, bytesToStream, utf8DecodeStripBOM, isBlob, blobBytes, createBlob, isFile, createFile, lineBreaksAs,
});
