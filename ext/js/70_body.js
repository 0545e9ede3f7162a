// The Body mixin (Fetch Standard §5.3) shared by Request and Response: extracting a body
// from BodyInit, reading it once, and multipart/form-data encoding and parsing.

const {
  blobBytes, bytesToStream, concatBytes, createBlob, createFile, defineMethods, formDataEntries,
  isBlob, isFormData, isToken, lineBreaksAs, streams, teeReadable, urlencoded, utf8DecodeStripBOM, webidl,
} = internal;

// ---- MIME types ---------------------------------------------------------------------

const httpWs = /^[\t\n\r ]+|[\t\n\r ]+$/g;

// Parses a MIME type into {essence, params}; null when it is not one.
function parseMimeType(input) {
  const s = input.replace(httpWs, "");
  const semi = s.indexOf(";");
  const essence = (semi === -1 ? s : s.slice(0, semi)).replace(httpWs, "").toLowerCase();
  const slash = essence.indexOf("/");
  if (slash <= 0 || !isToken(essence.slice(0, slash)) || !isToken(essence.slice(slash + 1))) {
    return null;
  }
  const params = new Map();
  let i = semi === -1 ? s.length : semi + 1;
  while (i < s.length) {
    while (i < s.length && /[\t\n\r ]/.test(s[i])) i++;
    let end = i;
    while (end < s.length && s[end] !== ";" && s[end] !== "=") end++;
    const name = s.slice(i, end).toLowerCase();
    i = end;
    if (i >= s.length) break;
    if (s[i] === ";") {
      i++;
      continue;
    }
    i++;
    let value = "";
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        value += s[i++];
      }
      while (i < s.length && s[i] !== ";") i++;
    } else {
      end = s.indexOf(";", i);
      if (end === -1) end = s.length;
      value = s.slice(i, end).replace(httpWs, "");
      i = end;
    }
    i++;
    if (name !== "" && isToken(name) && !params.has(name)) params.set(name, value);
  }
  return { essence, params };
}

// ---- multipart/form-data ------------------------------------------------------------

function newBoundary() {
  const bytes = new Uint8Array(12);
  native.randomFill(bytes);
  return "----formdata-pyruntime-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const toCRLF = (s) => lineBreaksAs(s, "\r\n");
const escapeName = (s) => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");

// HTML's multipart/form-data encoding algorithm.
function encodeMultipart(entries, boundary) {
  const chunks = [];
  for (const [name, value] of entries) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(toCRLF(name))}"`;
    if (typeof value === "string") {
      chunks.push(native.utf8Encode(`${head}\r\n\r\n${toCRLF(value)}\r\n`));
    } else {
      head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
      chunks.push(native.utf8Encode(head), blobBytes(value), native.utf8Encode("\r\n"));
    }
  }
  chunks.push(native.utf8Encode(`--${boundary}--\r\n`));
  return concatBytes(chunks);
}

function latin1(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  }
  return s;
}

const unescapeName = (s) => s.replace(/%0A/gi, "\n").replace(/%0D/gi, "\r").replace(/%22/g, '"');

// Parses a multipart/form-data body into FormData entries; throws TypeError when malformed.
function parseMultipart(bytes, boundary) {
  const fail = (why) => new TypeError(`Failed to parse body as multipart/form-data: ${why}`);
  const text = latin1(bytes);
  const delimiter = `--${boundary}`;
  let pos = text.startsWith(delimiter) ? 0 : text.indexOf(`\r\n${delimiter}`) + 2;
  if (pos === 1) throw fail("no boundary delimiter found");
  pos += delimiter.length;
  const entries = [];
  for (;;) {
    if (text.startsWith("--", pos)) return entries;
    while (text[pos] === " " || text[pos] === "\t") pos++;
    if (!text.startsWith("\r\n", pos)) throw fail("expected CRLF after boundary");
    pos += 2;
    const headersEnd = text.indexOf("\r\n\r\n", pos);
    if (headersEnd === -1) throw fail("unterminated part headers");
    let name = null;
    let filename = null;
    let contentType = null;
    const headerText = native.utf8Decode(bytes.subarray(pos, headersEnd), false);
    for (const line of headerText.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw fail(`invalid part header ${JSON.stringify(line)}`);
      const headerName = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (headerName === "content-disposition") {
        const m = parseMimeType(value.replace(/^form-data/i, "form-data/x"));
        if (m === null || m.essence !== "form-data/x") throw fail("part is not form-data");
        name = m.params.has("name") ? unescapeName(m.params.get("name")) : null;
        filename = m.params.has("filename") ? unescapeName(m.params.get("filename")) : null;
      } else if (headerName === "content-type") {
        contentType = value;
      }
    }
    if (name === null) throw fail("part has no Content-Disposition name");
    const start = headersEnd + 4;
    const end = text.indexOf(`\r\n${delimiter}`, start);
    if (end === -1) throw fail("missing closing boundary");
    const content = bytes.slice(start, end);
    if (filename !== null) {
      entries.push([name, createFile(content, filename, contentType ?? "text/plain")]);
    } else {
      entries.push([name, native.utf8Decode(content, false)]);
    }
    pos = end + 2 + delimiter.length;
  }
}

// ---- body records -------------------------------------------------------------------
// A body is {stream: ReadableStream, source: Uint8Array | null}; a null body is null.

// Locks and cancels a stream that stands for bytes already read: disturbed and closed, as
// a stream read to its end would be (the Fetch Standard never releases that reader).
function markRead(rs) {
  streams.acquireDefaultReader(rs);
  // A tee branch's cancel settles only once the other branch is done: don't wait.
  streams.markHandled(streams.rsCancel(rs, undefined));
}

// A body whose bytes are known up front. Its ReadableStream is made on first use: most such
// bodies are only read whole (text(), json(), the host taking a response), and making a
// stream was most of a small response's cost. A body read before its stream was made gets,
// if asked for one later, a stream in the state that read would have left.
class BytesBody {
  #stream = null;
  #read = false;

  constructor(source) {
    this.source = source;
  }

  get stream() {
    if (this.#stream === null) {
      this.#stream = bytesToStream(this.source);
      if (this.#read) markRead(streams.readableRecordOf(this.#stream));
    }
    return this.#stream;
  }

  set stream(value) {
    this.#stream = value;
  }

  // Whether the body was read; undefined once its stream exists (the stream knows).
  get readUnmade() {
    return this.#stream === null ? this.#read : undefined;
  }

  // The bytes, marking the body read; only while readUnmade is false.
  takeUnmade() {
    this.#read = true;
    return this.source.slice();
  }

  // takeUnmade() without the copy, for the host, which copies the bytes as it takes them.
  // Nothing writes to `source`: every read hands out a copy.
  takeUnmadeForHost() {
    this.#read = true;
    return this.source;
  }
}

function bodyFromBytes(bytes) {
  return new BytesBody(bytes);
}

// "Extract a body": returns {body, type} where type is the default Content-Type or null.
function extractBody(init) {
  // A string is the most common body: no other kind to rule out (utf8Encode takes lone
  // surrogates as U+FFFD, as the USVString conversion below would).
  if (typeof init === "string") {
    return { body: bodyFromBytes(native.utf8Encode(init)), type: "text/plain;charset=UTF-8" };
  }
  if (isBlob(init)) return { body: bodyFromBytes(blobBytes(init)), type: init.type || null };
  if (webidl.isBufferSource(init)) return { body: bodyFromBytes(webidl.bufferSourceCopy(init)), type: null };
  if (isFormData(init)) {
    const boundary = newBoundary();
    const bytes = encodeMultipart(formDataEntries(init), boundary);
    return { body: bodyFromBytes(bytes), type: `multipart/form-data; boundary=${boundary}` };
  }
  if (typeof globalThis.URLSearchParams === "function" && init instanceof globalThis.URLSearchParams) {
    return {
      body: bodyFromBytes(native.utf8Encode(init.toString())),
      type: "application/x-www-form-urlencoded;charset=UTF-8",
    };
  }
  const rs = streams.readableRecordOf(init);
  if (rs !== undefined) {
    if (rs.disturbed || streams.rsLocked(rs)) {
      throw new TypeError("The body ReadableStream is disturbed or locked");
    }
    return { body: { stream: init, source: null }, type: null };
  }
  return { body: bodyFromBytes(native.utf8Encode(webidl.toUSVString(init))), type: "text/plain;charset=UTF-8" };
}

function bodyUnusable(body) {
  if (body === null) return false;
  const unmade = body.readUnmade;
  if (unmade !== undefined) return unmade;
  const rs = streams.readableRecordOf(body.stream);
  return rs.disturbed || streams.rsLocked(rs);
}

// Reads a body to the end ("fully read"): a Uint8Array, or null for a null body. As in the
// Fetch Standard the reader is never released: the stream stays locked and disturbed, so
// `body.getReader()` after `text()` throws and `bodyUsed` is true.
function readBody(body) {
  if (body === null) return Promise.resolve(null);
  if (body.readUnmade === false) return Promise.resolve(body.takeUnmade());
  const rs = streams.readableRecordOf(body.stream);
  let reader;
  try {
    reader = streams.acquireDefaultReader(rs);
  } catch (e) {
    return Promise.reject(e);
  }
  // Known bytes and an untouched stream: skip the chunked read, leaving the stream
  // disturbed and closed as a full read would.
  if (body.source !== null && !rs.disturbed && rs.state === "readable") {
    streams.markHandled(streams.rsCancel(rs, undefined));  // see markRead
    return Promise.resolve(body.source.slice());
  }
  const chunks = [];
  return new Promise((resolve, reject) => {
    const step = () => {
      streams.defaultReaderRead(reader, {
        chunk(chunk) {
          if (!(chunk instanceof Uint8Array)) {
            const e = new TypeError("Body stream chunks must be Uint8Array");
            streams.markHandled(streams.readerGenericCancel(reader, e));
            reject(e);
            return;
          }
          chunks.push(chunk);
          step();
        },
        // Always a fresh copy: chunks may be shared with the producer or a tee branch.
        close: () => resolve(concatBytes(chunks)),
        error: reject,
      });
    };
    step();
  });
}

// A body that takes over `body`'s stream, leaving the original disturbed and locked
// (the "proxy" of the Request constructor).
function proxyBody(body) {
  const rs = streams.readableRecordOf(body.stream);
  const reader = streams.acquireDefaultReader(rs);
  rs.disturbed = true;
  let s;
  s = streams.createReadableStream(
    () => {},
    () =>
      streams.readIntoPromise(reader).then(({ value, done }) => {
        if (done) streams.rsdcClose(s.controller);
        else streams.rsdcEnqueue(s.controller, value);
      }),
    (reason) => streams.readerGenericCancel(reader, reason),
    0,
  );
  return { stream: s.pub, source: body.source };
}

// Clones a body by teeing its stream: `body` keeps one branch, the clone gets the other.
function cloneBody(body) {
  if (body === null) return null;
  // Unread bytes with no stream yet: two lazy bodies of the same bytes (each stream copies
  // its chunks out of them, and a read returns a copy) behave as the two branches of a tee.
  if (body.readUnmade === false) return bodyFromBytes(body.source);
  const [b1, b2] = teeReadable(streams.readableRecordOf(body.stream));
  body.stream = b1.pub;
  return { stream: b2.pub, source: body.source };
}

// ---- the mixin ----------------------------------------------------------------------

// `stateOf(object)` brand-checks and returns {body, headers}.
function defineBodyMixin(ctor, stateOf) {
  const name = ctor.name;

  function consume(self, method, convert) {
    let state;
    try {
      state = stateOf(self);
      if (bodyUnusable(state.body)) {
        throw new TypeError(`Failed to execute '${method}' on '${name}': body stream already read`);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return readBody(state.body).then((bytes) => convert(bytes ?? new Uint8Array(0), state));
  }

  const mimeOf = (state) => {
    const value = state.headers.get("content-type");
    return value === null ? null : parseMimeType(value);
  };

  const methods = {
    arrayBuffer() {
      return consume(this, "arrayBuffer", (bytes) => bytes.buffer);
    },
    blob() {
      return consume(this, "blob", (bytes, state) => {
        const mime = mimeOf(state);
        return createBlob(bytes, mime === null ? "" : state.headers.get("content-type"));
      });
    },
    bytes() {
      return consume(this, "bytes", (bytes) => bytes);
    },
    formData() {
      return consume(this, "formData", (bytes, state) => {
        const mime = mimeOf(state);
        const fd = new FormData();
        const entries = formDataEntries(fd);
        if (mime !== null && mime.essence === "multipart/form-data") {
          const boundary = mime.params.get("boundary");
          if (!boundary) throw new TypeError("Failed to parse body as multipart/form-data: no boundary parameter");
          entries.push(...parseMultipart(bytes, boundary));
          return fd;
        }
        if (mime !== null && mime.essence === "application/x-www-form-urlencoded") {
          entries.push(...urlencoded.parse(utf8DecodeStripBOM(bytes)));
          return fd;
        }
        const type = state.headers.get("content-type");
        throw new TypeError(
          `Failed to execute 'formData' on '${name}': Content-Type ${type === null ? "is missing" : JSON.stringify(type)}; expected multipart/form-data or application/x-www-form-urlencoded`,
        );
      });
    },
    json() {
      return consume(this, "json", (bytes) => JSON.parse(utf8DecodeStripBOM(bytes)));
    },
    text() {
      return consume(this, "text", (bytes) => utf8DecodeStripBOM(bytes));
    },
  };

  Object.defineProperty(ctor.prototype, "body", {
    get() {
      const body = stateOf(this).body;
      return body === null ? null : body.stream;
    },
    enumerable: true,
    configurable: true,
  });
  Object.defineProperty(ctor.prototype, "bodyUsed", {
    get() {
      const body = stateOf(this).body;
      if (body === null) return false;
      return body.readUnmade ?? streams.readableRecordOf(body.stream).disturbed;
    },
    enumerable: true,
    configurable: true,
  });
  defineMethods(ctor.prototype, methods);
}

Object.assign(internal, {
  extractBody, bodyFromBytes, bodyUnusable, readBody, proxyBody, cloneBody, defineBodyMixin, parseMimeType,
});
