// Streams Standard: ReadableStream, WritableStream, TransformStream, queuing strategies.
// Public classes are thin wrappers around plain "record" objects that the spec's
// abstract operations work on; each wrapper keeps its record in one private field.

const { defineGlobals, defineInterface, inspectCustom } = internal;

const kCreate = Symbol("create");

// 51_byte_streams.js builds byte streams on this file's records and plugs in here what
// ReadableStream needs of them.
const byteStreamHooks = { setUpFromSource: undefined, ReadableStreamBYOBReader: undefined, tee: undefined };

const noop = () => {};

function illegalConstructor() {
  return new TypeError("Illegal constructor");
}

function brandError(name) {
  return new TypeError(`Illegal invocation: receiver is not a ${name}`);
}

// A promise with its settle functions and state, like the spec's promise slots.
function deferred() {
  const d = { state: "pending" };
  d.promise = new Promise((resolve, reject) => {
    d.resolve = (v) => {
      if (d.state === "pending") d.state = "fulfilled";
      resolve(v);
    };
    d.reject = (e) => {
      if (d.state === "pending") d.state = "rejected";
      reject(e);
    };
  });
  return d;
}

function resolvedDeferred(value) {
  const d = deferred();
  d.resolve(value);
  return d;
}

function rejectedDeferred(error) {
  const d = deferred();
  d.reject(error);
  markHandled(d.promise);
  return d;
}

function markHandled(promise) {
  promise.then(undefined, noop);
  return promise;
}

function isObject(v) {
  return (typeof v === "object" && v !== null) || typeof v === "function";
}

// GetMethod on an underlying source/sink/transformer dictionary member.
function getMethod(dict, name, owner) {
  if (dict === undefined) return undefined;
  const m = dict[name];
  if (m === undefined || m === null) return undefined;
  if (typeof m !== "function") throw new TypeError(`${owner}.${name} must be a function`);
  return m;
}

// Wraps a user callback as an algorithm returning a promise (sync throws reject).
function promiseAlgorithm(fn, thisArg, extra) {
  if (fn === undefined) return () => Promise.resolve();
  return (arg) => {
    try {
      return Promise.resolve(extra === undefined ? fn.call(thisArg, arg) : fn.call(thisArg, arg, extra));
    } catch (e) {
      return Promise.reject(e);
    }
  };
}

function toDictionary(value, what) {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new TypeError(`${what} must be an object`);
  return value;
}

// ---- queuing strategies -------------------------------------------------------------

function extractHighWaterMark(strategy, defaultHWM) {
  const hwm = strategy.highWaterMark;
  if (hwm === undefined) return defaultHWM;
  const n = Number(hwm);
  if (Number.isNaN(n) || n < 0) throw new RangeError("highWaterMark must be a non-negative number");
  return n;
}

function extractSizeAlgorithm(strategy) {
  const size = strategy.size;
  if (size === undefined) return () => 1;
  if (typeof size !== "function") throw new TypeError("strategy.size must be a function");
  return (chunk) => size.call(undefined, chunk);
}

function strategyInit(init, name) {
  if (!isObject(init)) throw new TypeError(`${name} requires an object with highWaterMark`);
  if (init.highWaterMark === undefined) throw new TypeError(`${name}: highWaterMark is required`);
  return Number(init.highWaterMark);
}

const byteLengthSize = {
  size(chunk) {
    return chunk.byteLength;
  },
}.size;
const countSize = {
  size() {
    return 1;
  },
}.size;

class ByteLengthQueuingStrategy {
  #hwm;
  constructor(init) {
    this.#hwm = strategyInit(init, "ByteLengthQueuingStrategy");
  }
  get highWaterMark() {
    if (!(#hwm in Object(this))) throw brandError("ByteLengthQueuingStrategy");
    return this.#hwm;
  }
  get size() {
    if (!(#hwm in Object(this))) throw brandError("ByteLengthQueuingStrategy");
    return byteLengthSize;
  }
}

class CountQueuingStrategy {
  #hwm;
  constructor(init) {
    this.#hwm = strategyInit(init, "CountQueuingStrategy");
  }
  get highWaterMark() {
    if (!(#hwm in Object(this))) throw brandError("CountQueuingStrategy");
    return this.#hwm;
  }
  get size() {
    if (!(#hwm in Object(this))) throw brandError("CountQueuingStrategy");
    return countSize;
  }
}

// ---- queue with sizes ---------------------------------------------------------------

function resetQueue(c) {
  c.queue = [];
  c.queueHead = 0;
  c.queueTotalSize = 0;
}

function queueLength(c) {
  return c.queue.length - c.queueHead;
}

function enqueueValueWithSize(c, value, size) {
  if (typeof size !== "number" || Number.isNaN(size) || size < 0 || size === Infinity) {
    throw new RangeError("chunk size must be a finite, non-negative number");
  }
  c.queue.push({ value, size });
  c.queueTotalSize += size;
}

function dequeueValue(c) {
  const pair = c.queue[c.queueHead];
  c.queue[c.queueHead++] = undefined;
  if (c.queueHead > 1024 && c.queueHead * 2 > c.queue.length) {
    c.queue = c.queue.slice(c.queueHead);
    c.queueHead = 0;
  }
  c.queueTotalSize -= pair.size;
  if (c.queueTotalSize < 0) c.queueTotalSize = 0;
  return pair.value;
}

function peekQueueValue(c) {
  return c.queue[c.queueHead].value;
}

// ---- ReadableStream abstract operations ---------------------------------------------

function newReadableRecord() {
  return {
    state: "readable",
    reader: undefined,
    storedError: undefined,
    disturbed: false,
    controller: undefined,
    pub: undefined,
  };
}

function rsLocked(s) {
  return s.reader !== undefined;
}

function rsCancel(s, reason) {
  s.disturbed = true;
  if (s.state === "closed") return Promise.resolve();
  if (s.state === "errored") return Promise.reject(s.storedError);
  rsClose(s);
  const r = s.reader;
  if (r !== undefined && r.kind === "byob") {
    const requests = r.readIntoRequests;
    r.readIntoRequests = [];
    for (const req of requests) req.close(undefined);
  }
  return s.controller.cancelSteps(reason).then(noop);
}

function rsClose(s) {
  s.state = "closed";
  const r = s.reader;
  if (r === undefined) return;
  r.closed.resolve();
  if (r.kind === "byob") return;
  const requests = r.readRequests;
  r.readRequests = [];
  for (const req of requests) req.close();
}

function rsError(s, e) {
  s.state = "errored";
  s.storedError = e;
  const r = s.reader;
  if (r === undefined) return;
  r.closed.reject(e);
  markHandled(r.closed.promise);
  const key = r.kind === "byob" ? "readIntoRequests" : "readRequests";
  const requests = r[key];
  r[key] = [];
  for (const req of requests) req.error(e);
}

function rsFulfillReadRequest(s, chunk, done) {
  const req = s.reader.readRequests.shift();
  if (done) req.close();
  else req.chunk(chunk);
}

function rsNumReadRequests(s) {
  return s.reader.kind === "default" ? s.reader.readRequests.length : 0;
}

// ---- readable controllers: what the default and the byte controller share ------------
// Both are records made by setUpReadableController; each supplies its own pullSteps(req),
// releaseSteps() and resetSteps() (state it drops on cancel and error, beyond the queue).
// 51_byte_streams.js builds the byte controller on these.

function rcDesiredSize(c) {
  const state = c.stream.state;
  if (state === "errored") return null;
  if (state === "closed") return 0;
  return c.hwm - c.queueTotalSize;
}

function rcCanCloseOrEnqueue(c) {
  return !c.closeRequested && c.stream.state === "readable";
}

function rcShouldCallPull(c) {
  if (!rcCanCloseOrEnqueue(c) || !c.started) return false;
  const r = c.stream.reader;
  if (r !== undefined && (r.kind === "byob" ? r.readIntoRequests : r.readRequests).length > 0) return true;
  return rcDesiredSize(c) > 0;
}

function rcCallPullIfNeeded(c) {
  if (!rcShouldCallPull(c)) return;
  if (c.pulling) {
    c.pullAgain = true;
    return;
  }
  c.pulling = true;
  c.pullAlgorithm().then(
    () => {
      c.pulling = false;
      if (c.pullAgain) {
        c.pullAgain = false;
        rcCallPullIfNeeded(c);
      }
    },
    (e) => rcError(c, e),
  );
}

function rcClearAlgorithms(c) {
  c.pullAlgorithm = undefined;
  c.cancelAlgorithm = undefined;
  c.sizeAlgorithm = undefined;
}

// After a read took from the queue: the stream closes once a requested close drained it.
function rcHandleQueueDrain(c) {
  if (c.closeRequested && queueLength(c) === 0) {
    rcClearAlgorithms(c);
    rsClose(c.stream);
  } else {
    rcCallPullIfNeeded(c);
  }
}

function rcError(c, e) {
  if (c.stream.state !== "readable") return;
  c.resetSteps();
  resetQueue(c);
  rcClearAlgorithms(c);
  rsError(c.stream, e);
}

// Makes the controller record of `s` from `fields` (kind, hwm, algorithms and the steps
// above), wraps it in `Public`, and runs `start` on the public controller.
function setUpReadableController(s, fields, Public, start) {
  const c = {
    stream: s,
    started: false,
    closeRequested: false,
    pullAgain: false,
    pulling: false,
    pub: undefined,
    ...fields,
    cancelSteps(reason) {
      c.resetSteps();
      resetQueue(c);
      const result = c.cancelAlgorithm(reason);
      rcClearAlgorithms(c);
      return result;
    },
  };
  resetQueue(c);
  c.pub = new Public(kCreate, c);
  s.controller = c;
  const startResult = start(c.pub);
  Promise.resolve(startResult).then(
    () => {
      c.started = true;
      rcCallPullIfNeeded(c);
    },
    (e) => rcError(c, e),
  );
  return c;
}

// ---- ReadableStreamDefaultController ------------------------------------------------

function rsdcClose(c) {
  if (!rcCanCloseOrEnqueue(c)) return;
  c.closeRequested = true;
  if (queueLength(c) === 0) {
    rcClearAlgorithms(c);
    rsClose(c.stream);
  }
}

function rsdcEnqueue(c, chunk) {
  if (!rcCanCloseOrEnqueue(c)) return;
  const s = c.stream;
  if (rsLocked(s) && rsNumReadRequests(s) > 0) {
    rsFulfillReadRequest(s, chunk, false);
  } else {
    try {
      enqueueValueWithSize(c, chunk, c.sizeAlgorithm(chunk));
    } catch (e) {
      rcError(c, e);
      throw e;
    }
  }
  rcCallPullIfNeeded(c);
}

function setUpReadableStreamDefaultController(s, start, pull, cancel, hwm, size) {
  const c = setUpReadableController(s, {
    kind: "default",
    hwm,
    sizeAlgorithm: size,
    pullAlgorithm: pull,
    cancelAlgorithm: cancel,
    pullSteps(req) {
      if (queueLength(c) > 0) {
        const chunk = dequeueValue(c);
        rcHandleQueueDrain(c);
        req.chunk(chunk);
      } else {
        s.reader.readRequests.push(req);
        rcCallPullIfNeeded(c);
      }
    },
    releaseSteps: noop,
    resetSteps: noop,
  }, ReadableStreamDefaultController, start);
  return c;
}

// CreateReadableStream: a stream driven by internal algorithms.
function createReadableStream(start, pull, cancel, hwm = 1, size = () => 1) {
  const s = newReadableRecord();
  s.pub = new ReadableStream(kCreate, s);
  setUpReadableStreamDefaultController(s, start, pull, cancel, hwm, size);
  return s;
}

// ---- readers ------------------------------------------------------------------------

function readerGenericInitialize(r, s) {
  r.stream = s;
  s.reader = r;
  if (s.state === "readable") r.closed = deferred();
  else if (s.state === "closed") r.closed = resolvedDeferred();
  else r.closed = rejectedDeferred(s.storedError);
}

function readerGenericCancel(r, reason) {
  return rsCancel(r.stream, reason);
}

function readerGenericRelease(r) {
  const s = r.stream;
  const error = new TypeError("the reader's lock was released");
  if (s.state === "readable") {
    r.closed.reject(error);
    markHandled(r.closed.promise);
  } else {
    r.closed = rejectedDeferred(error);
  }
  s.controller.releaseSteps();
  s.reader = undefined;
  r.stream = undefined;
}

function acquireDefaultReader(s) {
  if (rsLocked(s)) throw new TypeError("ReadableStream is locked to a reader");
  const r = { kind: "default", stream: undefined, closed: undefined, readRequests: [], pub: undefined };
  readerGenericInitialize(r, s);
  return r;
}

function defaultReaderRead(r, req) {
  const s = r.stream;
  s.disturbed = true;
  if (s.state === "closed") req.close();
  else if (s.state === "errored") req.error(s.storedError);
  else s.controller.pullSteps(req);
}

function defaultReaderRelease(r) {
  readerGenericRelease(r);
  const error = new TypeError("the reader's lock was released");
  const requests = r.readRequests;
  r.readRequests = [];
  for (const req of requests) req.error(error);
}

// Read request whose settlement becomes a {value, done} promise.
function readIntoPromise(r) {
  const d = deferred();
  defaultReaderRead(r, {
    chunk: (value) => d.resolve({ value, done: false }),
    close: () => d.resolve({ value: undefined, done: true }),
    error: (e) => d.reject(e),
  });
  return d.promise;
}

// ---- tee ----------------------------------------------------------------------------

// ReadableStreamDefaultTee. `branches` (optional) creates the branch streams and feeds
// them, so that byte streams can get byte-stream branches fed by default reads.
function rsDefaultTee(s, cloneForBranch2, branches = defaultBranches) {
  const reader = acquireDefaultReader(s);
  let reading = false;
  let readAgain = false;
  let canceled1 = false;
  let canceled2 = false;
  let reason1;
  let reason2;
  let branch1;
  let branch2;
  const cancelPromise = deferred();

  function pullAlgorithm() {
    if (reading) {
      readAgain = true;
      return Promise.resolve();
    }
    reading = true;
    defaultReaderRead(reader, {
      chunk(chunk) {
        queueMicrotask(() => {
          readAgain = false;
          let chunk2 = chunk;
          if (!canceled2 && cloneForBranch2) {
            try {
              chunk2 = cloneForBranch2(chunk);
            } catch (e) {
              branches.error(branch1, e);
              branches.error(branch2, e);
              cancelPromise.resolve(rsCancel(s, e));
              return;
            }
          }
          if (!canceled1) branches.enqueue(branch1, chunk);
          if (!canceled2) branches.enqueue(branch2, chunk2);
          reading = false;
          if (readAgain) pullAlgorithm();
        });
      },
      close() {
        reading = false;
        if (!canceled1) branches.close(branch1);
        if (!canceled2) branches.close(branch2);
        if (!canceled1 || !canceled2) cancelPromise.resolve();
      },
      error() {
        reading = false;
      },
    });
    return Promise.resolve();
  }

  function cancel1(reason) {
    canceled1 = true;
    reason1 = reason;
    if (canceled2) cancelPromise.resolve(rsCancel(s, [reason1, reason2]));
    return cancelPromise.promise;
  }

  function cancel2(reason) {
    canceled2 = true;
    reason2 = reason;
    if (canceled1) cancelPromise.resolve(rsCancel(s, [reason1, reason2]));
    return cancelPromise.promise;
  }

  branch1 = branches.create(pullAlgorithm, cancel1);
  branch2 = branches.create(pullAlgorithm, cancel2);
  reader.closed.promise.then(undefined, (e) => {
    branches.error(branch1, e);
    branches.error(branch2, e);
    if (!canceled1 || !canceled2) cancelPromise.resolve();
  });
  return [branch1, branch2];
}

const defaultBranches = {
  create: (pull, cancel) => createReadableStream(noop, pull, cancel),
  enqueue: (b, chunk) => rsdcEnqueue(b.controller, chunk),
  close: (b) => rsdcClose(b.controller),
  error: (b, e) => rcError(b.controller, e),
};

// ---- pipeTo -------------------------------------------------------------------------

function rsPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
  const reader = acquireDefaultReader(source);
  const writer = acquireWriter(dest);
  source.disturbed = true;
  let shuttingDown = false;
  let currentWrite = Promise.resolve();
  const result = deferred();
  let abortAlgorithm;

  function finalize(isError, error) {
    writerRelease(writer);
    defaultReaderRelease(reader);
    if (abortAlgorithm) signal.removeEventListener("abort", abortAlgorithm);
    if (isError) result.reject(error);
    else result.resolve();
  }

  // Waits for reads already turned into writes, unless the destination cannot take them.
  function whenWritesFlushed(then) {
    if (dest.state === "writable" && !wsCloseQueuedOrInFlight(dest)) {
      currentWrite.then(then, then);
    } else {
      then();
    }
  }

  function shutdownWithAction(action, isError, error) {
    if (shuttingDown) return;
    shuttingDown = true;
    whenWritesFlushed(() => {
      let p;
      try {
        p = Promise.resolve(action());
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(
        () => finalize(isError, error),
        (newError) => finalize(true, newError),
      );
    });
  }

  function shutdown(isError, error) {
    if (shuttingDown) return;
    shuttingDown = true;
    whenWritesFlushed(() => finalize(isError, error));
  }

  function sourceErrored() {
    const e = source.storedError;
    if (!preventAbort) shutdownWithAction(() => wsAbort(dest, e), true, e);
    else shutdown(true, e);
  }

  function destErrored() {
    const e = dest.storedError;
    if (!preventCancel) shutdownWithAction(() => rsCancel(source, e), true, e);
    else shutdown(true, e);
  }

  function sourceClosed() {
    if (!preventClose) shutdownWithAction(() => writerCloseWithErrorPropagation(writer), false);
    else shutdown(false);
  }

  function destClosed() {
    const e = new TypeError("the destination stream is closed");
    if (!preventCancel) shutdownWithAction(() => rsCancel(source, e), true, e);
    else shutdown(true, e);
  }

  function step() {
    if (shuttingDown) return;
    writer.ready.promise.then(() => {
      if (shuttingDown) return;
      defaultReaderRead(reader, {
        chunk(chunk) {
          currentWrite = markHandled(writerWrite(writer, chunk));
          step();
        },
        close: noop,
        error: noop,
      });
    }, noop);
  }

  if (signal !== undefined) {
    abortAlgorithm = () => {
      const error = signal.reason;
      const actions = [];
      if (!preventAbort) actions.push(() => (dest.state === "writable" ? wsAbort(dest, error) : undefined));
      if (!preventCancel) actions.push(() => (source.state === "readable" ? rsCancel(source, error) : undefined));
      shutdownWithAction(() => Promise.all(actions.map((a) => a())), true, error);
    };
    if (signal.aborted) {
      abortAlgorithm();
      return result.promise;
    }
    signal.addEventListener("abort", abortAlgorithm);
  }

  if (source.state === "errored") sourceErrored();
  else if (dest.state === "errored") destErrored();
  else if (source.state === "closed") sourceClosed();
  else if (wsCloseQueuedOrInFlight(dest) || dest.state === "closed") destClosed();

  reader.closed.promise.then(sourceClosed, sourceErrored);
  writer.closed.promise.then(undefined, destErrored);
  step();
  return result.promise;
}

// ---- ReadableStream and friends (public) --------------------------------------------

let readableRecordOf;

function readablePipeOptions(options) {
  const o = toDictionary(options, "pipe options");
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof globalThis.AbortSignal)) {
    throw new TypeError("pipe options: signal must be an AbortSignal");
  }
  return {
    preventAbort: Boolean(o.preventAbort),
    preventCancel: Boolean(o.preventCancel),
    preventClose: Boolean(o.preventClose),
    signal,
  };
}

class ReadableStream {
  #s;

  static {
    readableRecordOf = (v) => (isObject(v) && #s in v ? v.#s : undefined);
  }

  constructor(underlyingSource = undefined, strategy = undefined) {
    if (underlyingSource === kCreate) {
      this.#s = strategy;
      return;
    }
    if (underlyingSource === null) throw new TypeError("underlyingSource must be an object");
    const source = underlyingSource;
    const strat = toDictionary(strategy, "strategy");
    const cancel = getMethod(source, "cancel", "underlyingSource");
    const pull = getMethod(source, "pull", "underlyingSource");
    const start = getMethod(source, "start", "underlyingSource");
    const type = source === undefined ? undefined : source.type;
    if (type !== undefined && String(type) !== "bytes") {
      throw new TypeError(`underlyingSource.type must be "bytes" or undefined`);
    }
    const s = (this.#s = newReadableRecord());
    s.pub = this;
    if (type !== undefined) {
      if (strat.size !== undefined) throw new RangeError("a byte stream cannot have a size strategy");
      const hwm = extractHighWaterMark(strat, 0);
      byteStreamHooks.setUpFromSource(s, source, start, pull, cancel, hwm);
      return;
    }
    const size = extractSizeAlgorithm(strat);
    const hwm = extractHighWaterMark(strat, 1);
    let c;
    setUpReadableStreamDefaultController(
      s,
      (controller) => (start === undefined ? undefined : start.call(source, controller)),
      () => promiseAlgorithm(pull, source)(c.pub),
      promiseAlgorithm(cancel, source),
      hwm,
      size,
    );
    c = s.controller;
  }

  static from(asyncIterable) {
    return readableStreamFromIterable(asyncIterable).pub;
  }

  get locked() {
    const s = readableRecordOf(this);
    if (s === undefined) throw brandError("ReadableStream");
    return rsLocked(s);
  }

  cancel(reason = undefined) {
    const s = readableRecordOf(this);
    if (s === undefined) return Promise.reject(brandError("ReadableStream"));
    if (rsLocked(s)) return Promise.reject(new TypeError("cannot cancel a locked ReadableStream"));
    return rsCancel(s, reason);
  }

  getReader(options = undefined) {
    const s = readableRecordOf(this);
    if (s === undefined) throw brandError("ReadableStream");
    const mode = toDictionary(options, "getReader options").mode;
    if (mode === undefined) return new ReadableStreamDefaultReader(this);
    if (String(mode) !== "byob") throw new TypeError(`getReader: mode must be "byob" or undefined`);
    return new byteStreamHooks.ReadableStreamBYOBReader(this);
  }

  pipeThrough(transform, options = undefined) {
    const s = readableRecordOf(this);
    if (s === undefined) throw brandError("ReadableStream");
    if (!isObject(transform)) throw new TypeError("pipeThrough: transform must be an object");
    const readable = transform.readable;
    const rs = readableRecordOf(readable);
    if (rs === undefined) throw new TypeError("pipeThrough: transform.readable must be a ReadableStream");
    const ws = writableRecordOf(transform.writable);
    if (ws === undefined) throw new TypeError("pipeThrough: transform.writable must be a WritableStream");
    const o = readablePipeOptions(options);
    if (rsLocked(s)) throw new TypeError("pipeThrough: the ReadableStream is locked");
    if (wsLocked(ws)) throw new TypeError("pipeThrough: the WritableStream is locked");
    markHandled(rsPipeTo(s, ws, o.preventClose, o.preventAbort, o.preventCancel, o.signal));
    return readable;
  }

  pipeTo(destination, options = undefined) {
    const s = readableRecordOf(this);
    if (s === undefined) return Promise.reject(brandError("ReadableStream"));
    const ws = writableRecordOf(destination);
    if (ws === undefined) return Promise.reject(new TypeError("pipeTo: destination must be a WritableStream"));
    let o;
    try {
      o = readablePipeOptions(options);
    } catch (e) {
      return Promise.reject(e);
    }
    if (rsLocked(s)) return Promise.reject(new TypeError("pipeTo: the ReadableStream is locked"));
    if (wsLocked(ws)) return Promise.reject(new TypeError("pipeTo: the WritableStream is locked"));
    return rsPipeTo(s, ws, o.preventClose, o.preventAbort, o.preventCancel, o.signal);
  }

  tee() {
    const s = readableRecordOf(this);
    if (s === undefined) throw brandError("ReadableStream");
    return teeReadable(s).map((b) => b.pub);
  }

  values(options = undefined) {
    const s = readableRecordOf(this);
    if (s === undefined) throw brandError("ReadableStream");
    const preventCancel = Boolean(toDictionary(options, "values options").preventCancel);
    return new ReadableStreamAsyncIterator(kCreate, {
      reader: acquireDefaultReader(s),
      preventCancel,
      ongoing: undefined,
      finished: false,
    });
  }
}
Object.defineProperty(ReadableStream.prototype, Symbol.asyncIterator, {
  value: ReadableStream.prototype.values,
  writable: true,
  configurable: true,
});

function readableStreamFromIterable(iterable) {
  let iterator;
  let next;
  const asyncMethod = iterable == null ? undefined : iterable[Symbol.asyncIterator];
  if (asyncMethod !== undefined && asyncMethod !== null) {
    iterator = asyncMethod.call(iterable);
    if (!isObject(iterator)) throw new TypeError("ReadableStream.from: iterator is not an object");
    next = iterator.next;
  } else {
    const syncMethod = iterable == null ? undefined : iterable[Symbol.iterator];
    if (typeof syncMethod !== "function") {
      throw new TypeError("ReadableStream.from: argument is not async iterable or iterable");
    }
    const syncIterator = syncMethod.call(iterable);
    if (!isObject(syncIterator)) throw new TypeError("ReadableStream.from: iterator is not an object");
    const syncNext = syncIterator.next;
    // Like CreateAsyncFromSyncIterator: values are awaited.
    iterator = {
      next() {
        const r = syncNext.call(syncIterator);
        if (!isObject(r)) throw new TypeError("iterator result is not an object");
        const done = Boolean(r.done);
        return Promise.resolve(r.value).then((value) => ({ value, done }));
      },
      return(value) {
        const ret = syncIterator.return;
        if (ret === undefined || ret === null) return { value, done: true };
        return ret.call(syncIterator, value);
      },
    };
    next = iterator.next;
  }
  let s;
  const pull = () => {
    let nextResult;
    try {
      nextResult = Promise.resolve(next.call(iterator));
    } catch (e) {
      return Promise.reject(e);
    }
    return nextResult.then((r) => {
      if (!isObject(r)) throw new TypeError("ReadableStream.from: iterator result is not an object");
      if (r.done) rsdcClose(s.controller);
      else rsdcEnqueue(s.controller, r.value);
    });
  };
  const cancel = (reason) => {
    let returnResult;
    try {
      const ret = iterator.return;
      if (ret === undefined || ret === null) return Promise.resolve();
      returnResult = Promise.resolve(ret.call(iterator, reason));
    } catch (e) {
      return Promise.reject(e);
    }
    return returnResult.then((r) => {
      if (!isObject(r)) throw new TypeError("ReadableStream.from: iterator.return() result is not an object");
    });
  };
  s = createReadableStream(noop, pull, cancel, 0);
  return s;
}

const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);

class ReadableStreamAsyncIterator {
  #it;
  constructor(token, it) {
    if (token !== kCreate) throw illegalConstructor();
    this.#it = it;
  }

  next() {
    if (!(isObject(this) && #it in this)) return Promise.reject(brandError("ReadableStream async iterator"));
    const it = this.#it;
    const nextSteps = () => {
      if (it.finished) return Promise.resolve({ value: undefined, done: true });
      const r = it.reader;
      if (r.stream === undefined) return Promise.reject(new TypeError("the iterator's reader was released"));
      const d = deferred();
      defaultReaderRead(r, {
        chunk: (value) => d.resolve({ value, done: false }),
        close: () => {
          defaultReaderRelease(r);
          d.resolve({ value: undefined, done: true });
        },
        error: (e) => {
          defaultReaderRelease(r);
          d.reject(e);
        },
      });
      return d.promise.then(
        (result) => {
          it.ongoing = undefined;
          if (result.done) it.finished = true;
          return result;
        },
        (e) => {
          it.ongoing = undefined;
          it.finished = true;
          throw e;
        },
      );
    };
    it.ongoing = it.ongoing ? it.ongoing.then(nextSteps, nextSteps) : nextSteps();
    return it.ongoing;
  }

  return(value = undefined) {
    if (!(isObject(this) && #it in this)) return Promise.reject(brandError("ReadableStream async iterator"));
    const it = this.#it;
    const returnSteps = () => {
      if (it.finished) return Promise.resolve();
      it.finished = true;
      const r = it.reader;
      if (r.stream === undefined) return Promise.resolve();
      if (!it.preventCancel) {
        const result = readerGenericCancel(r, value);
        defaultReaderRelease(r);
        return result;
      }
      defaultReaderRelease(r);
      return Promise.resolve();
    };
    const p = it.ongoing ? it.ongoing.then(returnSteps, returnSteps) : returnSteps();
    return p.then(() => ({ value, done: true }));
  }
}
Object.setPrototypeOf(ReadableStreamAsyncIterator.prototype, AsyncIteratorPrototype);
defineInterface(ReadableStreamAsyncIterator, "ReadableStream AsyncIterator");

let defaultReaderRecordOf;

class ReadableStreamDefaultReader {
  #r;

  static {
    defaultReaderRecordOf = (v) => (isObject(v) && #r in v ? v.#r : undefined);
  }

  constructor(stream) {
    const s = readableRecordOf(stream);
    if (s === undefined) throw new TypeError("ReadableStreamDefaultReader: argument must be a ReadableStream");
    this.#r = acquireDefaultReader(s);
    this.#r.pub = this;
  }

  get closed() {
    const r = defaultReaderRecordOf(this);
    if (r === undefined) return Promise.reject(brandError("ReadableStreamDefaultReader"));
    return r.closed.promise;
  }

  cancel(reason = undefined) {
    const r = defaultReaderRecordOf(this);
    if (r === undefined) return Promise.reject(brandError("ReadableStreamDefaultReader"));
    if (r.stream === undefined) return Promise.reject(new TypeError("the reader has no stream (lock released)"));
    return readerGenericCancel(r, reason);
  }

  read() {
    const r = defaultReaderRecordOf(this);
    if (r === undefined) return Promise.reject(brandError("ReadableStreamDefaultReader"));
    if (r.stream === undefined) return Promise.reject(new TypeError("the reader has no stream (lock released)"));
    return readIntoPromise(r);
  }

  releaseLock() {
    const r = defaultReaderRecordOf(this);
    if (r === undefined) throw brandError("ReadableStreamDefaultReader");
    if (r.stream !== undefined) defaultReaderRelease(r);
  }
}

let defaultControllerRecordOf;

class ReadableStreamDefaultController {
  #c;

  static {
    defaultControllerRecordOf = (v) => (isObject(v) && #c in v ? v.#c : undefined);
  }

  constructor(token, c) {
    if (token !== kCreate) throw illegalConstructor();
    this.#c = c;
  }

  get desiredSize() {
    const c = defaultControllerRecordOf(this);
    if (c === undefined) throw brandError("ReadableStreamDefaultController");
    return rcDesiredSize(c);
  }

  close() {
    const c = defaultControllerRecordOf(this);
    if (c === undefined) throw brandError("ReadableStreamDefaultController");
    if (!rcCanCloseOrEnqueue(c)) throw new TypeError("the stream is not in a state that permits close");
    rsdcClose(c);
  }

  enqueue(chunk = undefined) {
    const c = defaultControllerRecordOf(this);
    if (c === undefined) throw brandError("ReadableStreamDefaultController");
    if (!rcCanCloseOrEnqueue(c)) throw new TypeError("the stream is not in a state that permits enqueue");
    rsdcEnqueue(c, chunk);
  }

  error(e = undefined) {
    const c = defaultControllerRecordOf(this);
    if (c === undefined) throw brandError("ReadableStreamDefaultController");
    rcError(c, e);
  }
}

// ---- WritableStream abstract operations ---------------------------------------------

const kCloseSentinel = Symbol("close");

function newWritableRecord() {
  return {
    state: "writable",
    storedError: undefined,
    writer: undefined,
    controller: undefined,
    inFlightWriteRequest: undefined,
    closeRequest: undefined,
    inFlightCloseRequest: undefined,
    pendingAbortRequest: undefined,
    writeRequests: [],
    backpressure: false,
    pub: undefined,
  };
}

function wsLocked(s) {
  return s.writer !== undefined;
}

function wsAbort(s, reason) {
  if (s.state === "closed" || s.state === "errored") return Promise.resolve();
  s.controller.abortController.abort(reason);
  const state = s.state;
  if (state === "closed" || state === "errored") return Promise.resolve();
  if (s.pendingAbortRequest !== undefined) return s.pendingAbortRequest.promise.promise;
  const wasAlreadyErroring = state === "erroring";
  const d = deferred();
  s.pendingAbortRequest = { promise: d, reason: wasAlreadyErroring ? undefined : reason, wasAlreadyErroring };
  if (!wasAlreadyErroring) wsStartErroring(s, reason);
  return d.promise;
}

function wsClose(s) {
  const state = s.state;
  if (state === "closed" || state === "errored") {
    return Promise.reject(new TypeError("the stream is already closed or errored"));
  }
  const d = deferred();
  s.closeRequest = d;
  const w = s.writer;
  if (w !== undefined && s.backpressure && state === "writable") w.ready.resolve();
  enqueueValueWithSize(s.controller, kCloseSentinel, 0);
  wsdcAdvanceQueueIfNeeded(s.controller);
  return d.promise;
}

function wsCloseQueuedOrInFlight(s) {
  return s.closeRequest !== undefined || s.inFlightCloseRequest !== undefined;
}

function wsDealWithRejection(s, error) {
  if (s.state === "writable") wsStartErroring(s, error);
  else wsFinishErroring(s);
}

function wsStartErroring(s, reason) {
  s.state = "erroring";
  s.storedError = reason;
  if (s.writer !== undefined) writerEnsureReadyPromiseRejected(s.writer, reason);
  if (!wsHasOperationMarkedInFlight(s) && s.controller.started) wsFinishErroring(s);
}

function wsFinishErroring(s) {
  s.state = "errored";
  resetQueue(s.controller);
  const storedError = s.storedError;
  const requests = s.writeRequests;
  s.writeRequests = [];
  for (const req of requests) req.reject(storedError);
  const abortRequest = s.pendingAbortRequest;
  if (abortRequest === undefined) {
    wsRejectCloseAndClosedPromiseIfNeeded(s);
    return;
  }
  s.pendingAbortRequest = undefined;
  if (abortRequest.wasAlreadyErroring) {
    abortRequest.promise.reject(storedError);
    wsRejectCloseAndClosedPromiseIfNeeded(s);
    return;
  }
  const c = s.controller;
  const p = c.abortAlgorithm(abortRequest.reason);
  wsdcClearAlgorithms(c);
  p.then(
    () => {
      abortRequest.promise.resolve();
      wsRejectCloseAndClosedPromiseIfNeeded(s);
    },
    (e) => {
      abortRequest.promise.reject(e);
      wsRejectCloseAndClosedPromiseIfNeeded(s);
    },
  );
}

function wsFinishInFlightClose(s) {
  s.inFlightCloseRequest.resolve();
  s.inFlightCloseRequest = undefined;
  if (s.state === "erroring") {
    s.storedError = undefined;
    if (s.pendingAbortRequest !== undefined) {
      s.pendingAbortRequest.promise.resolve();
      s.pendingAbortRequest = undefined;
    }
  }
  s.state = "closed";
  if (s.writer !== undefined) s.writer.closed.resolve();
}

function wsFinishInFlightCloseWithError(s, error) {
  s.inFlightCloseRequest.reject(error);
  s.inFlightCloseRequest = undefined;
  if (s.pendingAbortRequest !== undefined) {
    s.pendingAbortRequest.promise.reject(error);
    s.pendingAbortRequest = undefined;
  }
  wsDealWithRejection(s, error);
}

function wsHasOperationMarkedInFlight(s) {
  return s.inFlightWriteRequest !== undefined || s.inFlightCloseRequest !== undefined;
}

function wsRejectCloseAndClosedPromiseIfNeeded(s) {
  if (s.closeRequest !== undefined) {
    s.closeRequest.reject(s.storedError);
    s.closeRequest = undefined;
  }
  const w = s.writer;
  if (w !== undefined) {
    w.closed.reject(s.storedError);
    markHandled(w.closed.promise);
  }
}

function wsUpdateBackpressure(s, backpressure) {
  const w = s.writer;
  if (w !== undefined && backpressure !== s.backpressure) {
    if (backpressure) w.ready = deferred();
    else w.ready.resolve();
  }
  s.backpressure = backpressure;
}

// ---- writer -------------------------------------------------------------------------

function acquireWriter(s) {
  if (wsLocked(s)) throw new TypeError("WritableStream is locked to a writer");
  const w = { stream: s, ready: undefined, closed: undefined, pub: undefined };
  s.writer = w;
  const state = s.state;
  if (state === "writable") {
    w.ready = !wsCloseQueuedOrInFlight(s) && s.backpressure ? deferred() : resolvedDeferred();
    w.closed = deferred();
  } else if (state === "erroring") {
    w.ready = rejectedDeferred(s.storedError);
    w.closed = deferred();
  } else if (state === "closed") {
    w.ready = resolvedDeferred();
    w.closed = resolvedDeferred();
  } else {
    w.ready = rejectedDeferred(s.storedError);
    w.closed = rejectedDeferred(s.storedError);
  }
  return w;
}

function writerEnsureReadyPromiseRejected(w, error) {
  if (w.ready.state === "pending") {
    w.ready.reject(error);
    markHandled(w.ready.promise);
  } else {
    w.ready = rejectedDeferred(error);
  }
}

function writerEnsureClosedPromiseRejected(w, error) {
  if (w.closed.state === "pending") {
    w.closed.reject(error);
    markHandled(w.closed.promise);
  } else {
    w.closed = rejectedDeferred(error);
  }
}

function writerGetDesiredSize(w) {
  const s = w.stream;
  if (s.state === "errored" || s.state === "erroring") return null;
  if (s.state === "closed") return 0;
  return s.controller.hwm - s.controller.queueTotalSize;
}

function writerRelease(w) {
  const error = new TypeError("the writer's lock was released");
  writerEnsureReadyPromiseRejected(w, error);
  writerEnsureClosedPromiseRejected(w, error);
  w.stream.writer = undefined;
  w.stream = undefined;
}

function writerWrite(w, chunk) {
  const s = w.stream;
  const c = s.controller;
  const chunkSize = wsdcGetChunkSize(c, chunk);
  if (s !== w.stream) return Promise.reject(new TypeError("the writer's lock was released"));
  const state = s.state;
  if (state === "errored" || state === "erroring") return Promise.reject(s.storedError);
  if (wsCloseQueuedOrInFlight(s) || state === "closed") {
    return Promise.reject(new TypeError("the stream is closing or closed"));
  }
  const d = deferred();
  s.writeRequests.push(d);
  try {
    enqueueValueWithSize(c, chunk, chunkSize);
  } catch (e) {
    wsdcErrorIfNeeded(c, e);
    return d.promise;
  }
  if (!wsCloseQueuedOrInFlight(s) && s.state === "writable") wsUpdateBackpressure(s, wsdcGetBackpressure(c));
  wsdcAdvanceQueueIfNeeded(c);
  return d.promise;
}

function writerCloseWithErrorPropagation(w) {
  const s = w.stream;
  if (wsCloseQueuedOrInFlight(s) || s.state === "closed") return Promise.resolve();
  if (s.state === "errored") return Promise.reject(s.storedError);
  return wsClose(s);
}

// ---- WritableStreamDefaultController ------------------------------------------------

function wsdcClearAlgorithms(c) {
  c.writeAlgorithm = undefined;
  c.closeAlgorithm = undefined;
  c.abortAlgorithm = undefined;
  c.sizeAlgorithm = undefined;
}

function wsdcGetChunkSize(c, chunk) {
  if (c.sizeAlgorithm === undefined) return 1;
  try {
    return c.sizeAlgorithm(chunk);
  } catch (e) {
    wsdcErrorIfNeeded(c, e);
    return 1;
  }
}

function wsdcGetBackpressure(c) {
  return c.hwm - c.queueTotalSize <= 0;
}

function wsdcErrorIfNeeded(c, error) {
  if (c.stream.state === "writable") {
    wsdcClearAlgorithms(c);
    wsStartErroring(c.stream, error);
  }
}

function wsdcAdvanceQueueIfNeeded(c) {
  const s = c.stream;
  if (!c.started || s.inFlightWriteRequest !== undefined) return;
  if (s.state === "erroring") {
    wsFinishErroring(s);
    return;
  }
  if (queueLength(c) === 0) return;
  const value = peekQueueValue(c);
  if (value === kCloseSentinel) {
    s.inFlightCloseRequest = s.closeRequest;
    s.closeRequest = undefined;
    dequeueValue(c);
    const p = c.closeAlgorithm();
    wsdcClearAlgorithms(c);
    p.then(
      () => wsFinishInFlightClose(s),
      (e) => wsFinishInFlightCloseWithError(s, e),
    );
    return;
  }
  s.inFlightWriteRequest = s.writeRequests.shift();
  c.writeAlgorithm(value).then(
    () => {
      s.inFlightWriteRequest.resolve();
      s.inFlightWriteRequest = undefined;
      dequeueValue(c);
      if (!wsCloseQueuedOrInFlight(s) && s.state === "writable") {
        wsUpdateBackpressure(s, wsdcGetBackpressure(c));
      }
      wsdcAdvanceQueueIfNeeded(c);
    },
    (e) => {
      if (s.state === "writable") wsdcClearAlgorithms(c);
      s.inFlightWriteRequest.reject(e);
      s.inFlightWriteRequest = undefined;
      wsDealWithRejection(s, e);
    },
  );
}

function setUpWritableStreamDefaultController(s, start, write, close, abort, hwm, size) {
  const c = {
    stream: s,
    started: false,
    hwm,
    sizeAlgorithm: size,
    writeAlgorithm: write,
    closeAlgorithm: close,
    abortAlgorithm: abort,
    abortController: new globalThis.AbortController(),
    pub: undefined,
  };
  resetQueue(c);
  c.pub = new WritableStreamDefaultController(kCreate, c);
  s.controller = c;
  wsUpdateBackpressure(s, wsdcGetBackpressure(c));
  const startResult = start(c.pub);
  Promise.resolve(startResult).then(
    () => {
      c.started = true;
      wsdcAdvanceQueueIfNeeded(c);
    },
    (e) => {
      c.started = true;
      wsDealWithRejection(s, e);
    },
  );
  return c;
}

function createWritableStream(start, write, close, abort, hwm = 1, size = () => 1) {
  const s = newWritableRecord();
  s.pub = new WritableStream(kCreate, s);
  setUpWritableStreamDefaultController(s, start, write, close, abort, hwm, size);
  return s;
}

// ---- WritableStream and friends (public) --------------------------------------------

let writableRecordOf;

class WritableStream {
  #s;

  static {
    writableRecordOf = (v) => (isObject(v) && #s in v ? v.#s : undefined);
  }

  constructor(underlyingSink = undefined, strategy = undefined) {
    if (underlyingSink === kCreate) {
      this.#s = strategy;
      return;
    }
    if (underlyingSink === null) throw new TypeError("underlyingSink must be an object");
    const sink = underlyingSink;
    const strat = toDictionary(strategy, "strategy");
    const abort = getMethod(sink, "abort", "underlyingSink");
    const close = getMethod(sink, "close", "underlyingSink");
    const start = getMethod(sink, "start", "underlyingSink");
    const write = getMethod(sink, "write", "underlyingSink");
    if (sink !== undefined && sink.type !== undefined) throw new RangeError("underlyingSink.type must be undefined");
    const size = extractSizeAlgorithm(strat);
    const hwm = extractHighWaterMark(strat, 1);
    const s = (this.#s = newWritableRecord());
    s.pub = this;
    let c;
    setUpWritableStreamDefaultController(
      s,
      (controller) => (start === undefined ? undefined : start.call(sink, controller)),
      (chunk) => promiseAlgorithm(write, sink, c.pub)(chunk),
      promiseAlgorithm(close, sink),
      promiseAlgorithm(abort, sink),
      hwm,
      size,
    );
    c = s.controller;
  }

  get locked() {
    const s = writableRecordOf(this);
    if (s === undefined) throw brandError("WritableStream");
    return wsLocked(s);
  }

  abort(reason = undefined) {
    const s = writableRecordOf(this);
    if (s === undefined) return Promise.reject(brandError("WritableStream"));
    if (wsLocked(s)) return Promise.reject(new TypeError("cannot abort a locked WritableStream"));
    return wsAbort(s, reason);
  }

  close() {
    const s = writableRecordOf(this);
    if (s === undefined) return Promise.reject(brandError("WritableStream"));
    if (wsLocked(s)) return Promise.reject(new TypeError("cannot close a locked WritableStream"));
    if (wsCloseQueuedOrInFlight(s)) return Promise.reject(new TypeError("the stream is already closing"));
    return wsClose(s);
  }

  getWriter() {
    const s = writableRecordOf(this);
    if (s === undefined) throw brandError("WritableStream");
    return new WritableStreamDefaultWriter(this);
  }
}

let writerRecordOf;

class WritableStreamDefaultWriter {
  #w;

  static {
    writerRecordOf = (v) => (isObject(v) && #w in v ? v.#w : undefined);
  }

  constructor(stream) {
    const s = writableRecordOf(stream);
    if (s === undefined) throw new TypeError("WritableStreamDefaultWriter: argument must be a WritableStream");
    this.#w = acquireWriter(s);
    this.#w.pub = this;
  }

  get closed() {
    const w = writerRecordOf(this);
    if (w === undefined) return Promise.reject(brandError("WritableStreamDefaultWriter"));
    return w.closed.promise;
  }

  get desiredSize() {
    const w = writerRecordOf(this);
    if (w === undefined) throw brandError("WritableStreamDefaultWriter");
    if (w.stream === undefined) throw new TypeError("the writer has no stream (lock released)");
    return writerGetDesiredSize(w);
  }

  get ready() {
    const w = writerRecordOf(this);
    if (w === undefined) return Promise.reject(brandError("WritableStreamDefaultWriter"));
    return w.ready.promise;
  }

  abort(reason = undefined) {
    const w = writerRecordOf(this);
    if (w === undefined) return Promise.reject(brandError("WritableStreamDefaultWriter"));
    if (w.stream === undefined) return Promise.reject(new TypeError("the writer has no stream (lock released)"));
    return wsAbort(w.stream, reason);
  }

  close() {
    const w = writerRecordOf(this);
    if (w === undefined) return Promise.reject(brandError("WritableStreamDefaultWriter"));
    const s = w.stream;
    if (s === undefined) return Promise.reject(new TypeError("the writer has no stream (lock released)"));
    if (wsCloseQueuedOrInFlight(s)) return Promise.reject(new TypeError("the stream is already closing"));
    return wsClose(s);
  }

  releaseLock() {
    const w = writerRecordOf(this);
    if (w === undefined) throw brandError("WritableStreamDefaultWriter");
    if (w.stream !== undefined) writerRelease(w);
  }

  write(chunk = undefined) {
    const w = writerRecordOf(this);
    if (w === undefined) return Promise.reject(brandError("WritableStreamDefaultWriter"));
    if (w.stream === undefined) return Promise.reject(new TypeError("the writer has no stream (lock released)"));
    return writerWrite(w, chunk);
  }
}

let wsControllerRecordOf;

class WritableStreamDefaultController {
  #c;

  static {
    wsControllerRecordOf = (v) => (isObject(v) && #c in v ? v.#c : undefined);
  }

  constructor(token, c) {
    if (token !== kCreate) throw illegalConstructor();
    this.#c = c;
  }

  get signal() {
    const c = wsControllerRecordOf(this);
    if (c === undefined) throw brandError("WritableStreamDefaultController");
    return c.abortController.signal;
  }

  error(e = undefined) {
    const c = wsControllerRecordOf(this);
    if (c === undefined) throw brandError("WritableStreamDefaultController");
    if (c.stream.state !== "writable") return;
    wsdcClearAlgorithms(c);
    wsStartErroring(c.stream, e);
  }
}

// ---- TransformStream ----------------------------------------------------------------

function tsSetBackpressure(t, backpressure) {
  if (t.backpressureChange !== undefined) t.backpressureChange.resolve();
  t.backpressureChange = deferred();
  t.backpressure = backpressure;
}

function tsUnblockWrite(t) {
  if (t.backpressure) tsSetBackpressure(t, false);
}

function tsErrorWritableAndUnblockWrite(t, e) {
  tsdcClearAlgorithms(t.controller);
  wsdcErrorIfNeeded(t.writable.controller, e);
  tsUnblockWrite(t);
}

function tsError(t, e) {
  rcError(t.readable.controller, e);
  tsErrorWritableAndUnblockWrite(t, e);
}

function tsdcClearAlgorithms(c) {
  c.transformAlgorithm = undefined;
  c.flushAlgorithm = undefined;
  c.cancelAlgorithm = undefined;
}

function tsdcEnqueue(c, chunk) {
  const t = c.stream;
  const rc = t.readable.controller;
  if (!rcCanCloseOrEnqueue(rc)) throw new TypeError("the readable side is not in a state that permits enqueue");
  try {
    rsdcEnqueue(rc, chunk);
  } catch (e) {
    tsErrorWritableAndUnblockWrite(t, e);
    throw t.readable.storedError;
  }
  if (!rcShouldCallPull(rc) !== t.backpressure) tsSetBackpressure(t, true);
}

function tsdcTerminate(c) {
  const t = c.stream;
  rsdcClose(t.readable.controller);
  tsErrorWritableAndUnblockWrite(t, new TypeError("the TransformStream was terminated"));
}

function tsdcPerformTransform(c, chunk) {
  return c.transformAlgorithm(chunk).then(undefined, (e) => {
    tsError(c.stream, e);
    throw e;
  });
}

// Settles `finish` from `p`, then runs the side effects of close/abort/cancel.
function tsFinish(c, p, onFulfilled, onRejected) {
  c.finish = deferred();
  p.then(
    () => {
      try {
        onFulfilled();
        c.finish.resolve();
      } catch (e) {
        c.finish.reject(e);
      }
    },
    (e) => {
      onRejected(e);
      c.finish.reject(e);
    },
  );
  return c.finish.promise;
}

function tsSinkWrite(t, chunk) {
  const c = t.controller;
  if (t.backpressure) {
    return t.backpressureChange.promise.then(() => {
      if (t.writable.state === "erroring") throw t.writable.storedError;
      return tsdcPerformTransform(c, chunk);
    });
  }
  return tsdcPerformTransform(c, chunk);
}

function tsSinkAbort(t, reason) {
  const c = t.controller;
  if (c.finish !== undefined) return c.finish.promise;
  const readable = t.readable;
  const p = c.cancelAlgorithm(reason);
  tsdcClearAlgorithms(c);
  return tsFinish(
    c,
    p,
    () => {
      if (readable.state === "errored") throw readable.storedError;
      rcError(readable.controller, reason);
    },
    (e) => rcError(readable.controller, e),
  );
}

function tsSinkClose(t) {
  const c = t.controller;
  if (c.finish !== undefined) return c.finish.promise;
  const readable = t.readable;
  const p = c.flushAlgorithm();
  tsdcClearAlgorithms(c);
  return tsFinish(
    c,
    p,
    () => {
      if (readable.state === "errored") throw readable.storedError;
      rsdcClose(readable.controller);
    },
    (e) => rcError(readable.controller, e),
  );
}

function tsSourcePull(t) {
  tsSetBackpressure(t, false);
  return t.backpressureChange.promise;
}

function tsSourceCancel(t, reason) {
  const c = t.controller;
  if (c.finish !== undefined) return c.finish.promise;
  const writable = t.writable;
  const p = c.cancelAlgorithm(reason);
  tsdcClearAlgorithms(c);
  return tsFinish(
    c,
    p,
    () => {
      if (writable.state === "errored") throw writable.storedError;
      wsdcErrorIfNeeded(writable.controller, reason);
      tsUnblockWrite(t);
    },
    (e) => {
      wsdcErrorIfNeeded(writable.controller, e);
      tsUnblockWrite(t);
    },
  );
}

// Builds the record of a TransformStream from algorithms (used by the constructor and
// by internal transforms such as TextEncoderStream).
function createTransform(startPromise, transform, flush, cancel, wHWM = 1, wSize = () => 1, rHWM = 0, rSize = () => 1) {
  const t = { readable: undefined, writable: undefined, backpressure: undefined, backpressureChange: undefined };
  const start = () => startPromise;
  t.writable = createWritableStream(
    start,
    (chunk) => tsSinkWrite(t, chunk),
    () => tsSinkClose(t),
    (reason) => tsSinkAbort(t, reason),
    wHWM,
    wSize,
  );
  t.readable = createReadableStream(start, () => tsSourcePull(t), (reason) => tsSourceCancel(t, reason), rHWM, rSize);
  tsSetBackpressure(t, true);
  const c = {
    stream: t,
    transformAlgorithm: undefined,
    flushAlgorithm: flush,
    cancelAlgorithm: cancel,
    finish: undefined,
    pub: undefined,
  };
  c.pub = new TransformStreamDefaultController(kCreate, c);
  c.transformAlgorithm =
    transform ??
    ((chunk) => {
      try {
        tsdcEnqueue(c, chunk);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    });
  t.controller = c;
  return t;
}

let transformRecordOf;

class TransformStream {
  #t;

  static {
    transformRecordOf = (v) => (isObject(v) && #t in v ? v.#t : undefined);
  }

  constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
    if (transformer === kCreate) {
      this.#t = writableStrategy;
      return;
    }
    if (transformer === null) throw new TypeError("transformer must be an object");
    const tr = transformer;
    const wStrat = toDictionary(writableStrategy, "writableStrategy");
    const rStrat = toDictionary(readableStrategy, "readableStrategy");
    const cancel = getMethod(tr, "cancel", "transformer");
    const flush = getMethod(tr, "flush", "transformer");
    if (tr !== undefined && tr.readableType !== undefined) throw new RangeError("transformer.readableType must be undefined");
    const start = getMethod(tr, "start", "transformer");
    const transform = getMethod(tr, "transform", "transformer");
    if (tr !== undefined && tr.writableType !== undefined) throw new RangeError("transformer.writableType must be undefined");
    const rHWM = extractHighWaterMark(rStrat, 0);
    const rSize = extractSizeAlgorithm(rStrat);
    const wHWM = extractHighWaterMark(wStrat, 1);
    const wSize = extractSizeAlgorithm(wStrat);
    const startPromise = deferred();
    let c;
    const t = createTransform(
      startPromise.promise,
      transform === undefined ? undefined : (chunk) => promiseAlgorithm(transform, tr, c.pub)(chunk),
      () => promiseAlgorithm(flush, tr)(c.pub),
      promiseAlgorithm(cancel, tr),
      wHWM,
      wSize,
      rHWM,
      rSize,
    );
    c = t.controller;
    this.#t = t;
    t.pub = this;
    startPromise.resolve(start === undefined ? undefined : start.call(tr, c.pub));
  }

  get readable() {
    const t = transformRecordOf(this);
    if (t === undefined) throw brandError("TransformStream");
    return t.readable.pub;
  }

  get writable() {
    const t = transformRecordOf(this);
    if (t === undefined) throw brandError("TransformStream");
    return t.writable.pub;
  }
}

let tsControllerRecordOf;

class TransformStreamDefaultController {
  #c;

  static {
    tsControllerRecordOf = (v) => (isObject(v) && #c in v ? v.#c : undefined);
  }

  constructor(token, c) {
    if (token !== kCreate) throw illegalConstructor();
    this.#c = c;
  }

  get desiredSize() {
    const c = tsControllerRecordOf(this);
    if (c === undefined) throw brandError("TransformStreamDefaultController");
    return rcDesiredSize(c.stream.readable.controller);
  }

  enqueue(chunk = undefined) {
    const c = tsControllerRecordOf(this);
    if (c === undefined) throw brandError("TransformStreamDefaultController");
    tsdcEnqueue(c, chunk);
  }

  error(reason = undefined) {
    const c = tsControllerRecordOf(this);
    if (c === undefined) throw brandError("TransformStreamDefaultController");
    tsError(c.stream, reason);
  }

  terminate() {
    const c = tsControllerRecordOf(this);
    if (c === undefined) throw brandError("TransformStreamDefaultController");
    tsdcTerminate(c);
  }
}

// ---- TextEncoderStream / TextDecoderStream ------------------------------------------

class TextEncoderStream {
  #t;

  constructor() {
    let pendingHighSurrogate = null;
    const t = createTransform(
      Promise.resolve(),
      (chunk) => {
        try {
          let text = String(chunk);
          if (pendingHighSurrogate !== null) {
            text = pendingHighSurrogate + text;
            pendingHighSurrogate = null;
          }
          const last = text.charCodeAt(text.length - 1);
          if (last >= 0xd800 && last <= 0xdbff) {
            pendingHighSurrogate = text[text.length - 1];
            text = text.slice(0, -1);
          }
          if (text !== "") tsdcEnqueue(t.controller, native.utf8Encode(text));
          return Promise.resolve();
        } catch (e) {
          return Promise.reject(e);
        }
      },
      () => {
        if (pendingHighSurrogate !== null) tsdcEnqueue(t.controller, new Uint8Array([0xef, 0xbf, 0xbd]));
        return Promise.resolve();
      },
      () => Promise.resolve(),
    );
    this.#t = t;
  }

  get encoding() {
    if (!(isObject(this) && #t in this)) throw brandError("TextEncoderStream");
    return "utf-8";
  }

  get readable() {
    if (!(isObject(this) && #t in this)) throw brandError("TextEncoderStream");
    return this.#t.readable.pub;
  }

  get writable() {
    if (!(isObject(this) && #t in this)) throw brandError("TextEncoderStream");
    return this.#t.writable.pub;
  }
}

function toBufferSourceBytes(chunk) {
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (Object.prototype.toString.call(chunk) === "[object SharedArrayBuffer]") return new Uint8Array(chunk);
  throw new TypeError("chunk must be an ArrayBuffer or an ArrayBufferView");
}

class TextDecoderStream {
  #t;
  #decoder;

  constructor(label = "utf-8", options = undefined) {
    const decoder = new globalThis.TextDecoder(label, options);
    const run = (fn) => {
      try {
        fn();
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    };
    const t = createTransform(
      Promise.resolve(),
      (chunk) =>
        run(() => {
          const text = decoder.decode(toBufferSourceBytes(chunk), { stream: true });
          if (text !== "") tsdcEnqueue(t.controller, text);
        }),
      () =>
        run(() => {
          const text = decoder.decode();
          if (text !== "") tsdcEnqueue(t.controller, text);
        }),
      () => Promise.resolve(),
    );
    this.#t = t;
    this.#decoder = decoder;
  }

  get encoding() {
    if (!(isObject(this) && #t in this)) throw brandError("TextDecoderStream");
    return this.#decoder.encoding;
  }

  get fatal() {
    if (!(isObject(this) && #t in this)) throw brandError("TextDecoderStream");
    return this.#decoder.fatal;
  }

  get ignoreBOM() {
    if (!(isObject(this) && #t in this)) throw brandError("TextDecoderStream");
    return this.#decoder.ignoreBOM;
  }

  get readable() {
    if (!(isObject(this) && #t in this)) throw brandError("TextDecoderStream");
    return this.#t.readable.pub;
  }

  get writable() {
    if (!(isObject(this) && #t in this)) throw brandError("TextDecoderStream");
    return this.#t.writable.pub;
  }
}

// How console.log shows objects: `inspect(fields)` formats a field record.
function defineInspect(ctor, fields) {
  Object.defineProperty(ctor.prototype, inspectCustom, {
    value(inspect) {
      return `${ctor.name} ${inspect(fields(this), { depthOffset: 0 })}`;
    },
    writable: true,
    configurable: true,
  });
}
defineInspect(ReadableStream, (o) => ({ locked: rsLocked(readableRecordOf(o)), state: readableRecordOf(o).state }));
defineInspect(WritableStream, (o) => ({ locked: wsLocked(writableRecordOf(o)), state: writableRecordOf(o).state }));

for (const ctor of [
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamDefaultController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  TextEncoderStream,
  TextDecoderStream,
]) {
  defineInterface(ctor);
}

// Shared with the byte-stream file and the fetch files.
const streams = {
  kCreate,
  deferred,
  resolvedDeferred,
  rejectedDeferred,
  markHandled,
  isObject,
  getMethod,
  promiseAlgorithm,
  brandError,
  illegalConstructor,
  resetQueue,
  queueLength,
  newReadableRecord,
  readableRecordOf,
  rsLocked,
  rsCancel,
  rsClose,
  rsError,
  rsFulfillReadRequest,
  rsNumReadRequests,
  readerGenericInitialize,
  readerGenericCancel,
  readerGenericRelease,
  acquireDefaultReader,
  defaultReaderRead,
  defaultReaderRelease,
  readIntoPromise,
  createReadableStream,
  setUpReadableController,
  rcDesiredSize,
  rcCallPullIfNeeded,
  rcClearAlgorithms,
  rcHandleQueueDrain,
  rcError,
  rsdcEnqueue,
  rsdcClose,
  rsDefaultTee,
  enqueueValueWithSize,
  extractHighWaterMark,
  toDictionary,
  noop,
};
// Tee for any readable record; the byte-stream file handles byte streams.
const teeReadable = (s) =>
  s.controller.kind === "byte" ? byteStreamHooks.tee(s) : rsDefaultTee(s, undefined);

defineGlobals({
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamDefaultController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  TextEncoderStream,
  TextDecoderStream,
});

Object.assign(internal, { byteStreamHooks, defineInspect, streams, teeReadable });
