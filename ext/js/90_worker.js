// Worker dispatch: how the host hands an HTTP request to the app. Module workers export
// `default { fetch(request, env, ctx) }`, or a class extending `WorkerEntrypoint` (from the
// built-in module `cloudflare:workers`) made for each request with its `ctx` and `env`;
// service-worker scripts listen for "fetch" events.

const {
  bodyUnusable, checkHeadSize, concatBytes, defineGlobals, defineInterface, dispatchGlobalEvent, DOMException, Event,
  globalEventTarget, hasEventListeners, headersFlat, hostRequest, isRequest, isResponse, readBody, reportError,
  responseState, streams, takeUpstreamBody, webidl,
} = internal;

let workerHandler = null;
// A default export extending WorkerEntrypoint: an instance per request or cron run.
let workerClass = null;
// The app's env (vars, secrets, bindings): converted from the host once, at load, and the
// same object for every request and cron run of this isolate, as on Workers.
let workerEnv = {};
// Work passed to waitUntil that has not settled yet (each promise leaves as it settles).
const waitUntilPending = new Set();
// The last result dispatchFetch handed the host: its waitUntil count follows the set (below).
let fetchResult = null;
// True only while "fetch" listeners run, when respondWith() may be called.
let dispatchingEvent = null;

function describe(value) {
  if (value === undefined || value === null) return String(value);
  if (typeof value === "function") return "a function";
  if (typeof value !== "object") return `a ${typeof value}`;
  let name;
  try {
    name = value.constructor?.name;
  } catch {
    name = undefined;
  }
  return typeof name === "string" && name !== "" && name !== "Object" ? `an instance of ${name}` : "an object";
}

function addWaitUntil(promise) {
  // Failures of background work are reported, not silently dropped.
  const work = Promise.resolve(promise).then(undefined, (e) => reportError(e)).then(() => {
    waitUntilPending.delete(work);
    // The host reads a call's result once the microtask queue is empty: work that settled
    // by then (most logging does) leaves it nothing to wait for, and no call to make.
    if (fetchResult !== null) fetchResult[5] = waitUntilPending.size;
  });
  waitUntilPending.add(work);
}

class ExecutionContext {
  constructor(token) {
    if (token !== ExecutionContext) throw new TypeError("Illegal constructor");
  }

  waitUntil(promise) {
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'waitUntil' on 'ExecutionContext'");
    addWaitUntil(promise);
  }

  // Accepted for compatibility: there is no origin to fall back to, so it changes nothing.
  passThroughOnException() {}
}
defineInterface(ExecutionContext);

// `cloudflare:workers`' base class of a class-based default export: each request's handler
// is a new instance, with that request's `ctx` and the app's `env` as properties.
class WorkerEntrypoint {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

// What `import { ... } from "cloudflare:workers"` gets (the core's synthetic module,
// ext/runtime_modules.cc): the base class, the app's env (set before any module runs),
// and a waitUntil for the current request or cron run, as ctx.waitUntil.
function workersModuleExports() {
  return {
    WorkerEntrypoint,
    env: workerEnv,
    waitUntil(promise) {
      webidl.requiredArguments(arguments.length, 1, "Failed to execute 'waitUntil'");
      addWaitUntil(promise);
    },
  };
}

let fetchEventResponse;
class FetchEvent extends Event {
  #request;
  #response = null;
  #handled;

  constructor(type, eventInitDict) {
    const context = "Failed to construct 'FetchEvent'";
    webidl.requiredArguments(arguments.length, 2, context);
    const dict = webidl.toDictionary(eventInitDict, context);
    if (!isRequest(dict.request)) {
      throw new TypeError(`${context}: required member request is not of type Request.`);
    }
    super(type, dict);
    this.#request = dict.request;
    this.#handled = Promise.resolve();
  }

  static {
    fetchEventResponse = (event) => event.#response;
  }

  get request() {
    if (!(webidl.isObject(this) && #request in this)) throw webidl.illegalInvocation();
    return this.#request;
  }

  get clientId() {
    if (!(webidl.isObject(this) && #request in this)) throw webidl.illegalInvocation();
    return "";
  }

  get resultingClientId() {
    if (!(webidl.isObject(this) && #request in this)) throw webidl.illegalInvocation();
    return "";
  }

  get handled() {
    if (!(webidl.isObject(this) && #request in this)) throw webidl.illegalInvocation();
    return this.#handled;
  }

  respondWith(r) {
    if (!(webidl.isObject(this) && #request in this)) throw webidl.illegalInvocation();
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'respondWith' on 'FetchEvent'");
    if (dispatchingEvent !== this) {
      throw new DOMException(
        "Failed to execute 'respondWith' on 'FetchEvent': The event handler is already finished.",
        "InvalidStateError",
      );
    }
    if (this.#response !== null) {
      throw new DOMException(
        "Failed to execute 'respondWith' on 'FetchEvent': The event has already been responded to.",
        "InvalidStateError",
      );
    }
    this.#response = Promise.resolve(r);
    this.stopImmediatePropagation();
  }

  waitUntil(promise) {
    if (!(webidl.isObject(this) && #request in this)) throw webidl.illegalInvocation();
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'waitUntil' on 'FetchEvent'");
    addWaitUntil(promise);
  }

  passThroughOnException() {
    if (!(webidl.isObject(this) && #request in this)) throw webidl.illegalInvocation();
  }
}
defineInterface(FetchEvent);

function setWorkerModule(namespace) {
  if (!webidl.isObject(namespace)) {
    throw new TypeError(`setWorkerModule() expects a module namespace object, got ${describe(namespace)}`);
  }
  if (!("default" in namespace)) throw new TypeError("the module has no default export");
  const handler = namespace.default;
  if (typeof handler === "function" && handler.prototype instanceof WorkerEntrypoint) {
    const methods = handler.prototype;
    if (typeof methods.fetch !== "function" && typeof methods.scheduled !== "function") {
      throw new TypeError("the default export's class has no fetch() or scheduled() method");
    }
    workerClass = handler;
    workerHandler = methods;
    return;
  }
  if (typeof handler === "function") {
    throw new TypeError("the default export is a class or function that does not extend WorkerEntrypoint "
      + '(import { WorkerEntrypoint } from "cloudflare:workers")');
  }
  if (!webidl.isObject(handler)) {
    throw new TypeError(`the default export is ${describe(handler)}, expected an object with a fetch() method`);
  }
  if (typeof handler.fetch !== "function" && typeof handler.scheduled !== "function") {
    throw new TypeError("the default export has no fetch() or scheduled() method");
  }
  workerHandler = handler;
}

// Runs the app for one request; resolves to the handler's Response.
function runHandler(request) {
  if (workerHandler !== null) {
    if (typeof workerHandler.fetch !== "function") throw new TypeError("the default export has no fetch() method");
    const ctx = new ExecutionContext(ExecutionContext);
    if (workerClass !== null) return new workerClass(ctx, workerEnv).fetch(request);
    return workerHandler.fetch(request, workerEnv, ctx);
  }
  if (!hasEventListeners(globalEventTarget, "fetch")) {
    throw new TypeError(
      'no fetch handler: the worker has no default export with a fetch() method and no "fetch" event listener',
    );
  }
  const event = new FetchEvent("fetch", { request, cancelable: true });
  dispatchingEvent = event;
  try {
    dispatchGlobalEvent(event);
  } finally {
    dispatchingEvent = null;
  }
  const response = fetchEventResponse(event);
  if (response === null) throw new TypeError('no "fetch" event listener called event.respondWith()');
  return response;
}

async function dispatchFetch(method, url, headers, body) {
  forgetWaitUntil();
  // GET and HEAD requests cannot carry a body in the Request API; a body sent anyway is dropped.
  const hasBody = body !== null && body !== undefined && method !== "GET" && method !== "HEAD";
  const request = hostRequest(method, url, headers, hasBody ? body : null);
  const response = await runHandler(request);
  if (!isResponse(response)) {
    throw new TypeError(`fetch handler returned ${describe(response)}, expected a Response`);
  }
  const state = responseState(response);
  if (state.type === "error") throw new TypeError("fetch handler returned a network error (Response.error())");
  if (bodyUnusable(state.body)) throw new TypeError("fetch handler returned a Response whose body was already used");
  // The host's FetchResult (pyruntime/engine/protocol.py), as an array: one crossing with
  // no property names to read. Bytes known up front are sent at once; a stream is pulled
  // chunk by chunk by the host; the body of the app's own fetch() that no JS touched goes as
  // its exchange's id, negated, for the host to send on from the upstream itself.
  // `waitUntil` counts the promises not settled yet, so that the host can skip an empty wait.
  const flatHeaders = headersFlat(state.headers);
  checkHeadSize(state.headers, state.statusText.length,
                "fetch handler returned a Response whose status text and headers");
  let bytes = null;
  let streamId = 0;
  if (state.body === null) {
    // no body: null bytes, no stream
  } else if (state.body.readUnmade === false) {
    bytes = state.body.takeUnmadeForHost();  // bytes in hand, no copy and no await
  } else if (state.body.source !== null) {
    bytes = await readBody(state.body);
  } else {
    const stream = state.body.stream;
    const upstream = takeUpstreamBody(stream);
    if (upstream !== 0) {
      streamId = -upstream;  // the host sends the upstream's body on itself
    } else {
      streamId = nextStreamId++;
      responseStreams.set(streamId, { reader: stream.getReader(), record: streams.readableRecordOf(stream) });
    }
  }
  fetchResult = [state.status, state.statusText, flatHeaders, bytes, streamId, waitUntilPending.size];
  return fetchResult;
}

// Streamed response bodies, by id, while the host reads them: each a reader, and the stream's
// own record (50_streams.js), whose queue tells what a read would take at once.
const responseStreams = new Map();
let nextStreamId = 1;

// A read for the host takes, after its first chunk, what the stream has at hand (queued, or
// enqueued by a `pull` that does not wait), up to these. Each read costs the host some 100 µs
// beyond its JS: a stream of one-byte chunks cost it 7 times the CPU its JS ran. Taking a
// chunk may run the next `pull`: once the read has run READ_JOIN_MS (its first chunk's `pull`
// included) it takes no more, so a read whose `pull` is costly runs one, as before, and each
// read stays a call under `cpu_limit_ms`.
const READ_JOIN_BYTES = 64 * 1024;
const READ_JOIN_CHUNKS = 4096;
const READ_JOIN_MS = 1;

function checkChunk(value) {
  if (!(value instanceof Uint8Array)) throw new TypeError("Response body stream chunks must be Uint8Array");
}

// The next chunk of a streamed response body (with what the stream had at hand after it);
// at its end, the number of waitUntil promises still pending (the stream may have added
// some), so that the host can skip an empty wait.
async function readResponseChunk(id) {
  const entry = responseStreams.get(id);
  if (entry === undefined) throw new TypeError(`no response stream ${id}`);
  const { reader, record } = entry;
  try {
    const started = native.now();
    const { value, done } = await reader.read();
    if (done) {
      responseStreams.delete(id);
      return waitUntilPending.size;
    }
    checkChunk(value);
    const controller = record.controller;
    let chunks = null;
    let size = value.byteLength;
    while (size < READ_JOIN_BYTES && (chunks === null || chunks.length < READ_JOIN_CHUNKS) &&
           record.state === "readable" && controller.kind === "default" && streams.queueLength(controller) > 0 &&
           native.now() - started < READ_JOIN_MS) {
      const next = await reader.read();  // from the queue: no wait
      if (next.done) break;
      checkChunk(next.value);
      (chunks ??= [value]).push(next.value);
      size += next.value.byteLength;
    }
    return chunks === null ? value : concatBytes(chunks);
  } catch (error) {
    responseStreams.delete(id);
    reader.cancel(error).catch(() => {});
    throw error;
  }
}

// The client went away: the app's stream is cancelled, as a browser cancels a body it drops.
function cancelResponseStream(id) {
  const entry = responseStreams.get(id);
  responseStreams.delete(id);
  if (entry !== undefined) {
    entry.reader.cancel(new DOMException("the client disconnected", "AbortError")).catch(() => {});
  }
}

// Settles once the waitUntil work registered so far has (none of it rejects: see addWaitUntil).
// That work is this call's now: if the call ends first (a limit), it is not counted again.
function pendingWaitUntil() {
  const work = [...waitUntilPending];
  waitUntilPending.clear();
  return Promise.all(work).then(() => undefined);
}

// A new request or cron run: the host waited for the last one's waitUntil work or gave up on
// it (and dropped its timers and operations), so what is left can never settle.
function forgetWaitUntil() {
  waitUntilPending.clear();
  fetchResult = null;
}

defineGlobals({ FetchEvent });

// Cron triggers: the host calls dispatchScheduled(cron, scheduledTime) for
// `export default { scheduled(controller, env, ctx) }` or "scheduled" event listeners, then
// pendingWaitUntil() for the work they passed to waitUntil.
let scheduledNoRetry;
class ScheduledController {
  #scheduledTime;
  #cron;
  #noRetry = false;

  constructor(token, scheduledTime, cron) {
    if (token !== ScheduledController) throw new TypeError("Illegal constructor");
    this.#scheduledTime = scheduledTime;
    this.#cron = cron;
  }

  static {
    scheduledNoRetry = (controller) => controller.#noRetry;
  }

  get scheduledTime() {
    if (!(webidl.isObject(this) && #cron in this)) throw webidl.illegalInvocation();
    return this.#scheduledTime;
  }

  get cron() {
    if (!(webidl.isObject(this) && #cron in this)) throw webidl.illegalInvocation();
    return this.#cron;
  }

  noRetry() {
    if (!(webidl.isObject(this) && #cron in this)) throw webidl.illegalInvocation();
    this.#noRetry = true;
  }
}
defineInterface(ScheduledController);

class ScheduledEvent extends Event {
  #controller;

  constructor(token, controller) {
    if (token !== ScheduledEvent) throw new TypeError("Illegal constructor");
    super("scheduled");
    this.#controller = controller;
  }

  get scheduledTime() {
    if (!(webidl.isObject(this) && #controller in this)) throw webidl.illegalInvocation();
    return this.#controller.scheduledTime;
  }

  get cron() {
    if (!(webidl.isObject(this) && #controller in this)) throw webidl.illegalInvocation();
    return this.#controller.cron;
  }

  noRetry() {
    if (!(webidl.isObject(this) && #controller in this)) throw webidl.illegalInvocation();
    this.#controller.noRetry();
  }

  waitUntil(promise) {
    if (!(webidl.isObject(this) && #controller in this)) throw webidl.illegalInvocation();
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'waitUntil' on 'ScheduledEvent'");
    addWaitUntil(promise);
  }
}
defineInterface(ScheduledEvent);

// Resolves to { noRetry, waitUntil } once the handler's own promise settled; a handler that
// throws rejects, which the host logs as the run's "exception" outcome.
async function dispatchScheduled(cron, scheduledTime) {
  forgetWaitUntil();
  const controller = new ScheduledController(ScheduledController, scheduledTime, cron);
  if (workerHandler !== null) {
    if (typeof workerHandler.scheduled !== "function") {
      throw new TypeError("no scheduled handler: the default export has no scheduled() method");
    }
    const ctx = new ExecutionContext(ExecutionContext);
    if (workerClass !== null) await new workerClass(ctx, workerEnv).scheduled(controller);
    else await workerHandler.scheduled(controller, workerEnv, ctx);
  } else {
    if (!hasEventListeners(globalEventTarget, "scheduled")) {
      throw new TypeError('no scheduled handler: the worker has no "scheduled" event listener');
    }
    // A listener's exception is reported as an `error` event (and printed); it also makes
    // the run fail, as on Workers.
    let failure = null;
    const onError = (event) => {
      failure ??= { error: event.error };
    };
    globalThis.addEventListener("error", onError);
    try {
      dispatchGlobalEvent(new ScheduledEvent(ScheduledEvent, controller));
    } finally {
      globalThis.removeEventListener("error", onError);
    }
    if (failure !== null) throw failure.error;
  }
  return { noRetry: scheduledNoRetry(controller), waitUntil: waitUntilPending.size };
}

function setWorkerEnv(env) {
  if (!webidl.isObject(env)) throw new TypeError(`setWorkerEnv() expects an object, got ${describe(env)}`);
  workerEnv = env;
}

// Service-worker scripts see their env values (vars, secrets) as globals, as on Workers.
function defineEnvGlobals(env) {
  defineGlobals(env);
}

defineGlobals({ ScheduledController, ScheduledEvent });
Object.assign(internal, {
  setWorkerModule, setWorkerEnv, dispatchFetch, readResponseChunk, cancelResponseStream, pendingWaitUntil,
  dispatchScheduled, defineEnvGlobals, workersModuleExports,
});
