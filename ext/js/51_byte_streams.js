// Readable byte streams (Streams Standard §4.7-4.10): ReadableByteStreamController,
// ReadableStreamBYOBReader and ReadableStreamBYOBRequest, built on the records of 50_streams.js.

const { byteStreamHooks, defineGlobals, defineInterface, streams, webidl } = internal;

const S = streams;
const { kCreate, isObject, brandError, illegalConstructor } = S;
const callPullIfNeeded = S.rcCallPullIfNeeded;
const byteError = S.rcError;
const handleQueueDrain = S.rcHandleQueueDrain;

// TransferArrayBuffer: the bytes move to a new ArrayBuffer and `buffer` is detached, so
// whoever held a view of it can no longer see or change what the stream hands out.
// Buffers that cannot be detached (WebAssembly memory) throw a TypeError.
function transferBuffer(buffer) {
  return native.transferArrayBuffer(buffer);
}

const viewConstructors = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView,
};

function copyBytes(dest, destOffset, src, srcOffset, n) {
  new Uint8Array(dest, destOffset, n).set(new Uint8Array(src, srcOffset, n));
}

function hasDefaultReader(s) {
  return s.reader !== undefined && s.reader.kind === "default";
}

function hasBYOBReader(s) {
  return s.reader !== undefined && s.reader.kind === "byob";
}

function fulfillReadIntoRequest(s, chunk, done) {
  const req = s.reader.readIntoRequests.shift();
  if (done) req.close(chunk);
  else req.chunk(chunk);
}

// ---- controller abstract operations -------------------------------------------------

function invalidateBYOBRequest(c) {
  if (c.byobRequest === null) return;
  c.byobRequest.controller = undefined;
  c.byobRequest.view = null;
  c.byobRequest = null;
}

function clearPendingPullIntos(c) {
  invalidateBYOBRequest(c);
  c.pendingPullIntos = [];
}

function byteClose(c) {
  const s = c.stream;
  if (c.closeRequested || s.state !== "readable") return;
  if (c.queueTotalSize > 0) {
    c.closeRequested = true;
    return;
  }
  if (c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos[0];
    if (first.bytesFilled % first.elementSize !== 0) {
      const e = new TypeError("Insufficient bytes to fill elements in the given buffer");
      byteError(c, e);
      throw e;
    }
  }
  S.rcClearAlgorithms(c);
  S.rsClose(s);
}

function convertPullInto(d) {
  const buffer = transferBuffer(d.buffer);
  return new d.viewConstructor(buffer, d.byteOffset, d.bytesFilled / d.elementSize);
}

function commitPullInto(s, d) {
  const done = s.state === "closed";
  const view = convertPullInto(d);
  if (d.readerType === "default") S.rsFulfillReadRequest(s, view, done);
  else fulfillReadIntoRequest(s, view, done);
}

function enqueueChunk(c, buffer, byteOffset, byteLength) {
  c.queue.push({ buffer, byteOffset, byteLength });
  c.queueTotalSize += byteLength;
}

function enqueueClonedChunk(c, buffer, byteOffset, byteLength) {
  enqueueChunk(c, buffer.slice(byteOffset, byteOffset + byteLength), 0, byteLength);
}

function enqueueDetachedPullInto(c, d) {
  if (d.bytesFilled > 0) enqueueClonedChunk(c, d.buffer, d.byteOffset, d.bytesFilled);
  c.pendingPullIntos.shift();
}

function fillPullIntoFromQueue(c, d) {
  const maxBytesToCopy = Math.min(c.queueTotalSize, d.byteLength - d.bytesFilled);
  const maxBytesFilled = d.bytesFilled + maxBytesToCopy;
  let remaining = maxBytesToCopy;
  let ready = false;
  const maxAlignedBytes = maxBytesFilled - (maxBytesFilled % d.elementSize);
  if (maxAlignedBytes >= d.minimumFill) {
    remaining = maxAlignedBytes - d.bytesFilled;
    ready = true;
  }
  while (remaining > 0) {
    const head = c.queue[0];
    const n = Math.min(remaining, head.byteLength);
    copyBytes(d.buffer, d.byteOffset + d.bytesFilled, head.buffer, head.byteOffset, n);
    if (head.byteLength === n) {
      c.queue.shift();
    } else {
      head.byteOffset += n;
      head.byteLength -= n;
    }
    c.queueTotalSize -= n;
    d.bytesFilled += n;
    remaining -= n;
  }
  return ready;
}

function fillReadRequestFromQueue(c, req) {
  const entry = c.queue.shift();
  c.queueTotalSize -= entry.byteLength;
  handleQueueDrain(c);
  req.chunk(new Uint8Array(entry.buffer, entry.byteOffset, entry.byteLength));
}

function processPullIntosUsingQueue(c) {
  const filled = [];
  while (c.pendingPullIntos.length > 0 && c.queueTotalSize > 0) {
    const d = c.pendingPullIntos[0];
    if (fillPullIntoFromQueue(c, d)) {
      c.pendingPullIntos.shift();
      filled.push(d);
    }
  }
  return filled;
}

function processReadRequestsUsingQueue(c) {
  const r = c.stream.reader;
  while (r.readRequests.length > 0) {
    if (c.queueTotalSize === 0) return;
    fillReadRequestFromQueue(c, r.readRequests.shift());
  }
}

function byteEnqueue(c, chunk) {
  const s = c.stream;
  if (c.closeRequested || s.state !== "readable") return;
  const { byteOffset, byteLength } = chunk;
  const buffer = transferBuffer(chunk.buffer);
  if (c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos[0];
    invalidateBYOBRequest(c);
    first.buffer = transferBuffer(first.buffer);
    if (first.readerType === "none") enqueueDetachedPullInto(c, first);
  }
  if (hasDefaultReader(s)) {
    processReadRequestsUsingQueue(c);
    if (s.reader.readRequests.length === 0) {
      enqueueChunk(c, buffer, byteOffset, byteLength);
    } else {
      if (c.pendingPullIntos.length > 0) c.pendingPullIntos.shift();
      S.rsFulfillReadRequest(s, new Uint8Array(buffer, byteOffset, byteLength), false);
    }
  } else if (hasBYOBReader(s)) {
    enqueueChunk(c, buffer, byteOffset, byteLength);
    for (const d of processPullIntosUsingQueue(c)) commitPullInto(s, d);
  } else {
    enqueueChunk(c, buffer, byteOffset, byteLength);
  }
  callPullIfNeeded(c);
}

function getBYOBRequest(c) {
  if (c.byobRequest === null && c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos[0];
    const view = new Uint8Array(first.buffer, first.byteOffset + first.bytesFilled, first.byteLength - first.bytesFilled);
    const record = { controller: c, view, pub: undefined };
    record.pub = new ReadableStreamBYOBRequest(kCreate, record);
    c.byobRequest = record;
  }
  return c.byobRequest === null ? null : c.byobRequest.pub;
}

function pullInto(c, view, min, req) {
  const s = c.stream;
  // The view's own kind, not its (user-replaceable) `constructor` property.
  const ctor = viewConstructors[webidl.typedArrayName(view) ?? "DataView"];
  const elementSize = ctor.BYTES_PER_ELEMENT ?? 1;
  // Read before the transfer detaches the view (a detached view has no offset or length).
  const { byteOffset, byteLength } = view;
  const buffer = transferBuffer(view.buffer);
  const d = {
    buffer,
    bufferByteLength: buffer.byteLength,
    byteOffset,
    byteLength,
    bytesFilled: 0,
    minimumFill: min * elementSize,
    elementSize,
    viewConstructor: ctor,
    readerType: "byob",
  };
  if (c.pendingPullIntos.length > 0) {
    c.pendingPullIntos.push(d);
    s.reader.readIntoRequests.push(req);
    return;
  }
  if (s.state === "closed") {
    req.close(new ctor(d.buffer, d.byteOffset, 0));
    return;
  }
  if (c.queueTotalSize > 0) {
    if (fillPullIntoFromQueue(c, d)) {
      const filled = convertPullInto(d);
      handleQueueDrain(c);
      req.chunk(filled);
      return;
    }
    if (c.closeRequested) {
      const e = new TypeError("Insufficient bytes to fill elements in the given buffer");
      byteError(c, e);
      req.error(e);
      return;
    }
  }
  c.pendingPullIntos.push(d);
  s.reader.readIntoRequests.push(req);
  callPullIfNeeded(c);
}

function respondInternal(c, bytesWritten) {
  const s = c.stream;
  const first = c.pendingPullIntos[0];
  invalidateBYOBRequest(c);
  if (s.state === "closed") {
    if (first.readerType === "none") c.pendingPullIntos.shift();
    if (hasBYOBReader(s)) {
      while (s.reader.readIntoRequests.length > 0) commitPullInto(s, c.pendingPullIntos.shift());
    }
  } else {
    first.bytesFilled += bytesWritten;
    if (first.readerType === "none") {
      enqueueDetachedPullInto(c, first);
      for (const d of processPullIntosUsingQueue(c)) commitPullInto(s, d);
    } else if (first.bytesFilled >= first.minimumFill) {
      c.pendingPullIntos.shift();
      const remainder = first.bytesFilled % first.elementSize;
      if (remainder > 0) {
        enqueueClonedChunk(c, first.buffer, first.byteOffset + first.bytesFilled - remainder, remainder);
      }
      first.bytesFilled -= remainder;
      const filled = processPullIntosUsingQueue(c);
      commitPullInto(s, first);
      for (const d of filled) commitPullInto(s, d);
    }
  }
  callPullIfNeeded(c);
}

function respond(c, bytesWritten) {
  const first = c.pendingPullIntos[0];
  if (c.stream.state === "closed") {
    if (bytesWritten !== 0) throw new TypeError("bytesWritten must be 0 when calling respond() on a closed stream");
  } else {
    if (bytesWritten === 0) throw new TypeError("bytesWritten must be greater than 0 when calling respond() on a readable stream");
    if (first.bytesFilled + bytesWritten > first.byteLength) throw new RangeError("bytesWritten out of range");
  }
  first.buffer = transferBuffer(first.buffer);
  respondInternal(c, bytesWritten);
}

function respondWithNewView(c, view) {
  const first = c.pendingPullIntos[0];
  if (c.stream.state === "closed") {
    if (view.byteLength !== 0) throw new TypeError("The view's length must be 0 when calling respondWithNewView() on a closed stream");
  } else if (view.byteLength === 0) {
    throw new TypeError("The view's length must be greater than 0 when calling respondWithNewView() on a readable stream");
  }
  if (first.byteOffset + first.bytesFilled !== view.byteOffset) throw new RangeError("The region specified by view does not match byobRequest");
  if (first.bufferByteLength !== view.buffer.byteLength) throw new RangeError("The buffer of view has different capacity than byobRequest");
  if (first.bytesFilled + view.byteLength > first.byteLength) throw new RangeError("The region specified by view is larger than byobRequest");
  const n = view.byteLength;
  first.buffer = transferBuffer(view.buffer);
  respondInternal(c, n);
}

function setUpByteController(s, start, pull, cancel, hwm, autoAllocateChunkSize) {
  const c = S.setUpReadableController(s, {
    kind: "byte",
    byobRequest: null,
    pendingPullIntos: [],
    hwm,
    autoAllocateChunkSize,
    pullAlgorithm: pull,
    cancelAlgorithm: cancel,
    pullSteps(req) {
      if (c.queueTotalSize > 0) {
        fillReadRequestFromQueue(c, req);
        return;
      }
      if (c.autoAllocateChunkSize !== undefined) {
        let buffer;
        try {
          buffer = new ArrayBuffer(c.autoAllocateChunkSize);
        } catch (e) {
          req.error(e);
          return;
        }
        c.pendingPullIntos.push({
          buffer,
          bufferByteLength: c.autoAllocateChunkSize,
          byteOffset: 0,
          byteLength: c.autoAllocateChunkSize,
          bytesFilled: 0,
          minimumFill: 1,
          elementSize: 1,
          viewConstructor: Uint8Array,
          readerType: "default",
        });
      }
      s.reader.readRequests.push(req);
      callPullIfNeeded(c);
    },
    releaseSteps() {
      if (c.pendingPullIntos.length > 0) {
        const first = c.pendingPullIntos[0];
        first.readerType = "none";
        c.pendingPullIntos = [first];
      }
    },
    resetSteps() {
      clearPendingPullIntos(c);
    },
  }, ReadableByteStreamController, start);
  return c;
}

function setUpByteStreamFromSource(s, source, start, pull, cancel, hwm) {
  let autoAllocateChunkSize = source.autoAllocateChunkSize;
  if (autoAllocateChunkSize !== undefined) {
    autoAllocateChunkSize = webidl.toInteger(autoAllocateChunkSize, { bits: 64, enforceRange: true });
    if (autoAllocateChunkSize === 0) throw new TypeError("autoAllocateChunkSize must be greater than 0");
  }
  let c;
  setUpByteController(
    s,
    (controller) => (start === undefined ? undefined : start.call(source, controller)),
    () => S.promiseAlgorithm(pull, source)(c.pub),
    S.promiseAlgorithm(cancel, source),
    hwm,
    autoAllocateChunkSize,
  );
  c = s.controller;
}

// A byte stream driven by internal algorithms (CreateReadableByteStream).
function createByteStream(start, pull, cancel, hwm = 0) {
  const s = S.newReadableRecord();
  s.pub = new ReadableStream(kCreate, s);
  setUpByteController(s, start, pull, cancel, hwm, undefined);
  return s;
}

// Tee of a byte stream: both branches are byte streams fed by default reads of the
// source, with the second branch getting copies of each chunk.
const byteStreamTee = (s) =>
  S.rsDefaultTee(s, (chunk) => chunk.slice(), {
    create: (pull, cancel) => createByteStream(S.noop, pull, cancel),
    enqueue: (b, chunk) => byteEnqueue(b.controller, chunk),
    close: (b) => {
      byteClose(b.controller);
      if (b.controller.pendingPullIntos.length > 0) respond(b.controller, 0);
    },
    error: (b, e) => byteError(b.controller, e),
  });

const byteStreams = {
  createByteStream,
  enqueue: byteEnqueue,
  close: byteClose,
  error: byteError,
};

// ---- public classes -----------------------------------------------------------------

function viewArgument(view, what) {
  if (!ArrayBuffer.isView(view)) throw new TypeError(`${what}: view must be an ArrayBufferView`);
  if (view.byteLength === 0) throw new TypeError(`${what}: view must have non-zero byteLength`);
  if (view.buffer.byteLength === 0) throw new TypeError(`${what}: view's buffer must have non-zero byteLength`);
  return view;
}

let byteControllerOf;

class ReadableByteStreamController {
  #c;

  static {
    byteControllerOf = (v) => (isObject(v) && #c in v ? v.#c : undefined);
  }

  constructor(token, c) {
    if (token !== kCreate) throw illegalConstructor();
    this.#c = c;
  }

  get byobRequest() {
    const c = byteControllerOf(this);
    if (c === undefined) throw brandError("ReadableByteStreamController");
    return getBYOBRequest(c);
  }

  get desiredSize() {
    const c = byteControllerOf(this);
    if (c === undefined) throw brandError("ReadableByteStreamController");
    return S.rcDesiredSize(c);
  }

  close() {
    const c = byteControllerOf(this);
    if (c === undefined) throw brandError("ReadableByteStreamController");
    if (c.closeRequested) throw new TypeError("The stream has already been closed");
    if (c.stream.state !== "readable") throw new TypeError("The stream is not in a state that permits close");
    byteClose(c);
  }

  enqueue(chunk) {
    const c = byteControllerOf(this);
    if (c === undefined) throw brandError("ReadableByteStreamController");
    viewArgument(chunk, "ReadableByteStreamController.enqueue");
    if (c.closeRequested) throw new TypeError("The stream has already been closed");
    if (c.stream.state !== "readable") throw new TypeError("The stream is not in a state that permits enqueue");
    byteEnqueue(c, chunk);
  }

  error(e = undefined) {
    const c = byteControllerOf(this);
    if (c === undefined) throw brandError("ReadableByteStreamController");
    byteError(c, e);
  }
}

let byobRequestOf;

class ReadableStreamBYOBRequest {
  #r;

  static {
    byobRequestOf = (v) => (isObject(v) && #r in v ? v.#r : undefined);
  }

  constructor(token, r) {
    if (token !== kCreate) throw illegalConstructor();
    this.#r = r;
  }

  get view() {
    const r = byobRequestOf(this);
    if (r === undefined) throw brandError("ReadableStreamBYOBRequest");
    return r.view;
  }

  respond(bytesWritten) {
    const r = byobRequestOf(this);
    if (r === undefined) throw brandError("ReadableStreamBYOBRequest");
    const n = webidl.toInteger(bytesWritten, { bits: 64, enforceRange: true });
    if (r.controller === undefined) throw new TypeError("This BYOB request has been invalidated");
    respond(r.controller, n);
  }

  respondWithNewView(view) {
    const r = byobRequestOf(this);
    if (r === undefined) throw brandError("ReadableStreamBYOBRequest");
    if (!ArrayBuffer.isView(view)) throw new TypeError("respondWithNewView: view must be an ArrayBufferView");
    if (r.controller === undefined) throw new TypeError("This BYOB request has been invalidated");
    respondWithNewView(r.controller, view);
  }
}

let byobReaderOf;

class ReadableStreamBYOBReader {
  #r;

  static {
    byobReaderOf = (v) => (isObject(v) && #r in v ? v.#r : undefined);
  }

  constructor(stream) {
    const s = S.readableRecordOf(stream);
    if (s === undefined) throw new TypeError("ReadableStreamBYOBReader: argument must be a ReadableStream");
    if (S.rsLocked(s)) throw new TypeError("ReadableStream is locked to a reader");
    if (s.controller.kind !== "byte") {
      throw new TypeError("Cannot construct a ReadableStreamBYOBReader for a stream not constructed with a byte source");
    }
    const r = { kind: "byob", stream: undefined, closed: undefined, readIntoRequests: [], pub: this };
    S.readerGenericInitialize(r, s);
    this.#r = r;
  }

  get closed() {
    const r = byobReaderOf(this);
    if (r === undefined) return Promise.reject(brandError("ReadableStreamBYOBReader"));
    return r.closed.promise;
  }

  cancel(reason = undefined) {
    const r = byobReaderOf(this);
    if (r === undefined) return Promise.reject(brandError("ReadableStreamBYOBReader"));
    if (r.stream === undefined) return Promise.reject(new TypeError("the reader has no stream (lock released)"));
    return S.readerGenericCancel(r, reason);
  }

  read(view, options = undefined) {
    const r = byobReaderOf(this);
    if (r === undefined) return Promise.reject(brandError("ReadableStreamBYOBReader"));
    let min;
    try {
      viewArgument(view, "ReadableStreamBYOBReader.read");
      const dict = S.toDictionary(options, "read options");
      min = dict.min === undefined ? 1 : webidl.toInteger(dict.min, { bits: 64, enforceRange: true });
      if (min === 0) throw new TypeError("options.min must be greater than 0");
      const length = view instanceof DataView ? view.byteLength : view.length;
      if (min > length) throw new RangeError("options.min must be at most the view's length");
    } catch (e) {
      return Promise.reject(e);
    }
    if (r.stream === undefined) return Promise.reject(new TypeError("the reader has no stream (lock released)"));
    const d = S.deferred();
    const s = r.stream;
    const req = {
      chunk: (value) => d.resolve({ value, done: false }),
      close: (value) => d.resolve({ value, done: true }),
      error: (e) => d.reject(e),
    };
    s.disturbed = true;
    if (s.state === "errored") req.error(s.storedError);
    else pullInto(s.controller, view, min, req);
    return d.promise;
  }

  releaseLock() {
    const r = byobReaderOf(this);
    if (r === undefined) throw brandError("ReadableStreamBYOBReader");
    if (r.stream === undefined) return;
    S.readerGenericRelease(r);
    const error = new TypeError("the reader's lock was released");
    const requests = r.readIntoRequests;
    r.readIntoRequests = [];
    for (const req of requests) req.error(error);
  }
}

for (const ctor of [ReadableByteStreamController, ReadableStreamBYOBRequest, ReadableStreamBYOBReader]) {
  defineInterface(ctor);
}

defineGlobals({ ReadableByteStreamController, ReadableStreamBYOBRequest, ReadableStreamBYOBReader });

Object.assign(byteStreamHooks, {
  setUpFromSource: setUpByteStreamFromSource,
  ReadableStreamBYOBReader,
  tee: byteStreamTee,
});

Object.assign(internal, { byteStreams });
