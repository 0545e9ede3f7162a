// CompressionStream and DecompressionStream (WHATWG Compression): TransformStreams from
// BufferSource chunks to Uint8Array chunks, over zlib natives (ext/compression_natives.cc).
// A zlib stream is created per CompressionStream, at run time, never during bootstrap.

const { defineGlobals, defineInterface, webidl } = internal;

const { TransformStream, TransformStreamDefaultController } = globalThis;
// Captured now, so that user code replacing them cannot reach into these streams.
const tsReadable = Object.getOwnPropertyDescriptor(TransformStream.prototype, "readable").get;
const tsWritable = Object.getOwnPropertyDescriptor(TransformStream.prototype, "writable").get;
const enqueue = TransformStreamDefaultController.prototype.enqueue;

const kFormats = ["deflate", "deflate-raw", "gzip"];

function toFormat(format, context) {
  webidl.requiredArguments(format === undefined ? 0 : 1, 1, context);
  const value = webidl.toDOMString(format, context);
  if (!kFormats.includes(value)) {
    throw new TypeError(`${context}: '${value}' is not a valid CompressionFormat (deflate, deflate-raw, gzip)`);
  }
  return value;
}

// A TransformStream that feeds every chunk through one zlib stream.
function zlibTransform(format, decompress) {
  const handle = native.zlibCreate(format, decompress);
  const push = (controller, chunk, finish) => {
    const out = native.zlibPush(handle, chunk, finish);
    if (out.byteLength > 0) enqueue.call(controller, out);
  };
  return new TransformStream({
    __proto__: null,
    transform(chunk, controller) {
      if (!(ArrayBuffer.isView(chunk) || webidl.isArrayBuffer(chunk))) {
        throw new TypeError("chunk must be an ArrayBuffer or an ArrayBufferView");
      }
      push(controller, chunk, false);
    },
    flush(controller) {
      push(controller, new Uint8Array(0), true);
    },
    cancel() {
      native.zlibEnd(handle);
    },
  });
}

// The two interfaces differ only in direction; each gets its own class (and private brand).
function zlibStreamClass(name, decompress) {
  const ZlibStream = class {
    #transform;

    constructor(format) {
      this.#transform = zlibTransform(toFormat(format, name), decompress);
    }

    get readable() {
      if (!(webidl.isObject(this) && #transform in this)) throw webidl.illegalInvocation();
      return tsReadable.call(this.#transform);
    }

    get writable() {
      if (!(webidl.isObject(this) && #transform in this)) throw webidl.illegalInvocation();
      return tsWritable.call(this.#transform);
    }
  };
  Object.defineProperty(ZlibStream, "name", { value: name });
  return ZlibStream;
}

const CompressionStream = zlibStreamClass("CompressionStream", false);
const DecompressionStream = zlibStreamClass("DecompressionStream", true);

for (const ctor of [CompressionStream, DecompressionStream]) defineInterface(ctor);

defineGlobals({ CompressionStream, DecompressionStream });
