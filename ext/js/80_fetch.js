// fetch() (Fetch Standard §5.6) as a conversation of host operations (pyruntime/engine/host_ops.py):
// "fetch" sends one request and resolves with its head; "fetch.write" streams a request body;
// "fetch.read" pulls the response body chunk by chunk as JS reads it; "fetch.cancel" closes the
// exchange. Redirects are followed here, each hop a new exchange that the host checks again.

const {
  addAbortAlgorithm, base64, checkHeadSize, createResponse, defineGlobals, headerPairs, parseMimeType, readBody,
  requestState, responseState, streams, webidl,
} = internal;

const kMaxRedirects = 20;
// Known request bodies up to this size go with the request; larger ones are streamed in slices.
const kInlineBody = 1 << 20;
const kSlice = 256 * 1024;
const redirectStatuses = [301, 302, 303, 307, 308];
const nullBodyStatuses = [101, 103, 204, 205, 304];
const requestBodyHeaders = ["content-encoding", "content-language", "content-location", "content-type"];

let nextExchange = 1;

// Response bodies of fetch() that no JS has read yet, by their stream's record: a handler that
// returns one as it is (`return fetch(url)`, or its body in a new Response) hands it back to
// the host, which sends it on from the upstream without a chunk entering JS (takeUpstreamBody).
const untouchedBodies = new WeakMap();
// Whether the host relays such bodies itself (pyruntime/engine/app_isolate.py turns it on).
let relayingUpstream = false;

function relayUpstreamBodies(enabled) {
  relayingUpstream = enabled === true;
}

// The exchange of a response body JS never read, locked or teed, now the host's to send, its
// stream locked and disturbed as a body that was used; 0 for any other stream.
function takeUpstreamBody(stream) {
  if (!relayingUpstream) return 0;
  const s = streams.readableRecordOf(stream);
  const body = s === undefined ? undefined : untouchedBodies.get(s);
  if (body === undefined || s.disturbed || streams.rsLocked(s) || s.state !== "readable") return 0;
  untouchedBodies.delete(s);
  if (!body.handOver()) return 0;
  streams.acquireDefaultReader(s);
  s.disturbed = true;
  return body.id;
}

// A TypeError whose message carries the host's reason (not only e.cause).
function fetchFailed(cause) {
  const detail = String(cause?.message ?? cause).replace(/^\w+: /, "");
  return new TypeError(`fetch failed: ${detail}`, { cause });
}

function ignore() {}

function percentDecode(bytes) {
  const out = new Uint8Array(bytes.length);
  let o = 0;
  const hex = (c) => (c >= 48 && c <= 57 ? c - 48 : (c | 32) >= 97 && (c | 32) <= 102 ? (c | 32) - 87 : -1);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 37 && i + 2 < bytes.length && hex(bytes[i + 1]) >= 0 && hex(bytes[i + 2]) >= 0) {
      out[o++] = hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]);
      i += 2;
    } else {
      out[o++] = b;
    }
  }
  return out.subarray(0, o);
}

// The data: URL processor (Fetch Standard §4.6), answered without the host.
function dataResponse(url) {
  let input = url.slice("data:".length);
  const hash = input.indexOf("#");
  if (hash !== -1) input = input.slice(0, hash);
  const comma = input.indexOf(",");
  if (comma === -1) throw new TypeError("fetch failed: invalid data: URL (no comma)");
  let mimeType = input.slice(0, comma).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "");
  let body = percentDecode(native.utf8Encode(input.slice(comma + 1)));
  const base64Suffix = /;[\x20]*base64$/i;
  if (base64Suffix.test(mimeType)) {
    mimeType = mimeType.replace(base64Suffix, "");
    body = base64.decode(String.fromCharCode.apply(null, body));
    if (body === null) throw new TypeError("fetch failed: invalid base64 in data: URL");
  }
  if (mimeType.startsWith(";")) mimeType = "text/plain" + mimeType;
  if (parseMimeType(mimeType) === null) mimeType = "text/plain;charset=US-ASCII";
  return createResponse({
    status: 200,
    statusText: "OK",
    headers: [["content-type", mimeType]],
    body: body.slice(),
    urlList: [url],
  });
}

// Sends one chunk source to exchange `id`: a Uint8Array in slices, or a stream's reader.
async function pumpBody(id, source, job) {
  try {
    if (source instanceof Uint8Array) {
      for (let i = 0; i < source.length; i += kSlice) {
        await native.hostOp("fetch.write", [id, source.slice(i, i + kSlice), native.memoryAvailable()]);
      }
    } else {
      for (;;) {
        const { value, done } = await streams.readIntoPromise(source);
        if (done) break;
        if (!(value instanceof Uint8Array)) throw new TypeError("Request body stream chunks must be Uint8Array");
        if (value.byteLength === 0) continue;
        await native.hostOp("fetch.write", [id, value, native.memoryAvailable()]);
      }
    }
    await native.hostOp("fetch.write", [id, null, native.memoryAvailable()]);
  } catch (error) {
    if (!(source instanceof Uint8Array)) streams.readerGenericCancel(source, error).then(ignore, ignore);
    // A failing body stream fails the fetch with its own error; a closed exchange needs nothing.
    if (job.uploadError === null && !String(error?.message).includes("is closed")) {
      job.uploadError = error;
      native.hostOp("fetch.cancel", id).then(ignore, ignore);
    }
  }
}

// One request and the head of its response; `body` is a Uint8Array, a stream reader, or null.
async function exchange(job, method, url, headers, body) {
  const id = nextExchange++;
  job.current = id;
  const payload = { id, method, url, headers, body: null, stream: false, available: native.memoryAvailable() };
  if (body instanceof Uint8Array && body.byteLength <= kInlineBody) payload.body = body;
  else if (body !== null) payload.stream = true;
  const head = native.hostOp("fetch", payload);
  if (payload.stream) pumpBody(id, body, job);
  try {
    return { id, ...(await head) };
  } catch (error) {
    throw job.uploadError ?? fetchFailed(error);
  }
}

function headerValue(pairs, name) {
  const found = pairs.find((pair) => pair[0].toLowerCase() === name);
  return found === undefined ? null : found[1];
}

// The response body as a stream pulled from the host one chunk per read (backpressure).
function responseBody(id, job) {
  let finished = false;
  const finish = () => {
    finished = true;
    job.current = 0;
    job.done();
  };
  const s = streams.createReadableStream(
    ignore,
    () =>
      native.hostOp("fetch.read", id).then(
        (chunk) => {
          if (finished) return;
          if (chunk === null) {
            finish();
            streams.rsdcClose(s.controller);
          } else {
            streams.rsdcEnqueue(s.controller, chunk);
          }
        },
        (error) => {
          if (finished) return;
          finish();
          streams.rcError(s.controller, fetchFailed(error));
        },
      ),
    () => {
      if (finished) return;
      finish();
      native.hostOp("fetch.cancel", id).then(ignore, ignore);
    },
    0,
  );
  job.abortBody = (reason) => {
    if (finished) return;
    finish();
    streams.rcError(s.controller, reason);
    native.hostOp("fetch.cancel", id).then(ignore, ignore);
  };
  untouchedBodies.set(s, {
    id,
    handOver() {
      if (finished) return false;
      finish();
      return true;
    },
  });
  return s;
}

// Runs the request through its redirects; resolves with the final Response.
async function perform(state, job) {
  let url = state.url;
  if (url.startsWith("data:")) return dataResponse(url);
  let method = state.method;
  checkHeadSize(state.headers, method.length + url.length, "fetch(): the request's method, URL and headers");
  let headers = headerPairs(state.headers);
  // The body: known bytes can be sent again on a redirect, a stream only once.
  let bytes = null;
  let reader = null;
  if (state.body !== null) {
    if (state.body.source !== null) bytes = await readBody(state.body);
    else reader = streams.acquireDefaultReader(streams.readableRecordOf(state.body.stream));
  }
  const urlList = [url];
  for (let hops = 0; ; hops++) {
    const head = await exchange(job, method, url, headers, bytes ?? reader);
    reader = null;
    const location = redirectStatuses.includes(head.status) ? headerValue(head.headers, "location") : null;
    if (location === null || state.redirect === "manual") return makeResponse(head, urlList, method, job);
    native.hostOp("fetch.cancel", head.id).then(ignore, ignore);
    job.current = 0;
    if (state.redirect === "error") {
      throw new TypeError(`fetch failed: redirected to ${JSON.stringify(location)} with redirect mode 'error'`);
    }
    if (hops + 1 > kMaxRedirects) throw new TypeError(`fetch failed: more than ${kMaxRedirects} redirects`);
    const next = native.urlParse(location, url);
    if (next === null) throw new TypeError(`fetch failed: invalid redirect location ${JSON.stringify(location)}`);
    if (next[2] !== "http:" && next[2] !== "https:") {
      throw new TypeError(`fetch failed: redirect to a ${next[2]} URL is not followed`);
    }
    if (((head.status === 301 || head.status === 302) && method === "POST") ||
        (head.status === 303 && method !== "GET" && method !== "HEAD")) {
      method = "GET";
      bytes = null;
      headers = headers.filter(([name]) => !requestBodyHeaders.includes(name.toLowerCase()));
    } else if (state.body !== null && bytes === null && head.status !== 303) {
      throw new TypeError("fetch failed: a request whose body is a stream cannot follow a redirect");
    }
    if (native.urlParse(url)[1] !== next[1]) {
      headers = headers.filter(([name]) => name.toLowerCase() !== "authorization");
    }
    url = next[0];
    urlList.push(url);
  }
}

function makeResponse(head, urlList, method, job) {
  const response = createResponse({
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
    body: null,
    urlList,
  });
  if (method === "HEAD" || nullBodyStatuses.includes(head.status)) {
    // Nothing to read: the exchange ends when the host sees the (empty) body's end.
    native.hostOp("fetch.read", head.id).then((chunk) => {
      if (chunk !== null) native.hostOp("fetch.cancel", head.id).then(ignore, ignore);
    }, ignore);
    job.current = 0;
    job.done();
  } else {
    responseState(response).body = { stream: responseBody(head.id, job).pub, source: null };
  }
  return response;
}

function fetch(input, init = undefined) {
  return new Promise((resolve, reject) => {
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'fetch'");
    const request = new Request(input, init);
    const state = requestState(request);
    const signal = state.signal;
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    // `current`: the open exchange (0: none); `abortBody` errors the response body once there is one.
    const job = { current: 0, settled: false, uploadError: null, abortBody: null, done: ignore };
    const removeAbort = addAbortAlgorithm(signal, (reason) => {
      if (job.abortBody !== null) job.abortBody(reason);
      else if (job.current !== 0) native.hostOp("fetch.cancel", job.current).then(ignore, ignore);
      if (job.settled) return;
      job.settled = true;
      reject(reason);
    });
    job.done = removeAbort;
    perform(state, job).then(
      (response) => {
        if (job.settled) return;
        job.settled = true;
        resolve(response);
      },
      (error) => {
        removeAbort();
        if (job.settled) return;
        job.settled = true;
        reject(error instanceof TypeError ? error : fetchFailed(error));
      },
    );
  });
}

defineGlobals({ fetch });
Object.assign(internal, { relayUpstreamBodies, takeUpstreamBody });
