// Headers (Fetch Standard §5.2) and the WebIDL pair-iterator used by Headers and FormData.

const { defineGlobals, defineInterface, defineMethods, inspectCustom, webidl } = internal;

const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));

// Adds entries/keys/values/forEach/@@iterator to `ctor`, iterating the live list that
// `getPairs(object)` returns each step (WebIDL "value pairs to iterate over").
function definePairIterable(ctor, name, check, getPairs) {
  class PairIterator {
    #target;
    #kind;
    #index = 0;

    constructor(target, kind) {
      this.#target = target;
      this.#kind = kind;
    }

    next() {
      if (!(webidl.isObject(this) && #target in this)) throw webidl.illegalInvocation();
      const pairs = getPairs(this.#target);
      if (this.#index >= pairs.length) return { value: undefined, done: true };
      const [key, value] = pairs[this.#index++];
      if (this.#kind === "key") return { value: key, done: false };
      if (this.#kind === "value") return { value, done: false };
      return { value: [key, value], done: false };
    }
  }
  Object.setPrototypeOf(PairIterator.prototype, IteratorPrototype);
  delete PairIterator.prototype.constructor;
  Object.defineProperty(PairIterator.prototype, "next", { enumerable: true });
  defineInterface(PairIterator, `${name} Iterator`);

  const methods = {
    entries() {
      return new PairIterator(check(this), "key+value");
    },
    keys() {
      return new PairIterator(check(this), "key");
    },
    values() {
      return new PairIterator(check(this), "value");
    },
    forEach(callback, thisArg = undefined) {
      const self = check(this);
      if (typeof callback !== "function") {
        throw new TypeError(`Failed to execute 'forEach' on '${name}': parameter 1 is not of type 'Function'.`);
      }
      let pairs = getPairs(self);
      for (let i = 0; i < pairs.length; i++) {
        callback.call(thisArg, pairs[i][1], pairs[i][0], self);
        pairs = getPairs(self);
      }
    },
  };
  defineMethods(ctor.prototype, methods);
  Object.defineProperty(ctor.prototype, Symbol.iterator, {
    value: methods.entries,
    writable: true,
    configurable: true,
  });
}

// token (RFC 9110) as used for header names and methods.
const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const leadingWs = /^[\t\n\r ]+/;
const trailingWs = /[\t\n\r ]+$/;
// A value append() would keep as it is: bytes only (no character above U+00FF), no NUL, CR
// or LF, and no leading or trailing whitespace to strip.
// eslint-disable-next-line no-control-regex
const plainValueRe = /^(?:[^\0\t\n\r \u0100-\uffff](?:[^\0\n\r\u0100-\uffff]*[^\0\t\n\r \u0100-\uffff])?)?$/;

function toByteString(value, what) {
  const s = webidl.toDOMString(value);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\xff]/.test(s)) {
    throw new TypeError(`${what} ${JSON.stringify(s)} contains a character above U+00FF`);
  }
  return s;
}

function headerName(name) {
  if (typeof name === "string" && tokenRe.test(name)) return name.toLowerCase();  // the common case, in one test
  const s = toByteString(name, "Header name");
  if (!tokenRe.test(s)) throw new TypeError(`Invalid header name: ${JSON.stringify(s)}`);
  return s.toLowerCase();
}

function headerValue(value) {
  if (typeof value === "string" && plainValueRe.test(value)) return value;  // nothing to strip or refuse
  const s = toByteString(value, "Header value").replace(leadingWs, "").replace(trailingWs, "");
  if (/[\0\r\n]/.test(s)) throw new TypeError(`Invalid header value: ${JSON.stringify(s)}`);
  return s;
}

const isToken = (s) => tokenRe.test(s);

let headersOf;
let appendHeader;
let adoptHeaderList;
let hasHeader;
let headerList;
let setHeadersGuard;
let headersGuard;
let sortedHeaders;
class Headers {
  // The header list: [lowercase name, value] in insertion order.
  #list = [];
  #guard = "none";
  // Sorted-and-combined view, rebuilt after each change.
  #sorted = null;

  static {
    headersOf = (v) => {
      if (!(webidl.isObject(v) && #list in v)) throw webidl.illegalInvocation();
      return v;
    };
    // The append algorithm, as fillHeaders and the host use it: not the JS-visible method,
    // which user code may have replaced.
    appendHeader = (h, name, value) => {
      const n = headerName(name);
      const v = headerValue(value);
      h.#mutable();
      h.#list.push([n, v]);
    };
    // A header list made and checked by the core (headersFromHost), taken as the list.
    adoptHeaderList = (h, list) => {
      h.#list = list;
    };
    // Whether `h` has a header of this lowercase name (has() without its argument checks).
    hasHeader = (h, lowercaseName) => h.#list.some((p) => p[0] === lowercaseName);
    headerList = (h) => h.#list;
    setHeadersGuard = (h, guard) => {
      h.#guard = guard;
    };
    headersGuard = (h) => h.#guard;
    sortedHeaders = (h) => h.#sortAndCombine();
  }

  constructor(init = undefined) {
    if (init !== undefined) fillHeaders(this, init);
  }

  #mutable() {
    if (this.#guard === "immutable") throw new TypeError("Headers are immutable");
    this.#sorted = null;
  }

  #sortAndCombine() {
    if (this.#sorted !== null) return this.#sorted;
    const names = [...new Set(this.#list.map((p) => p[0]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out = [];
    for (const name of names) {
      if (name === "set-cookie") {
        for (const [n, v] of this.#list) if (n === name) out.push([n, v]);
      } else {
        out.push([name, this.#get(name)]);
      }
    }
    this.#sorted = out;
    return out;
  }

  #get(name) {
    let result = null;
    for (const [n, v] of this.#list) {
      if (n === name) result = result === null ? v : `${result}, ${v}`;
    }
    return result;
  }

  append(name, value) {
    const self = headersOf(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'append' on 'Headers'");
    appendHeader(self, name, value);
  }

  delete(name) {
    const self = headersOf(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'delete' on 'Headers'");
    const n = headerName(name);
    self.#mutable();
    self.#list = self.#list.filter((p) => p[0] !== n);
  }

  get(name) {
    const self = headersOf(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'get' on 'Headers'");
    return self.#get(headerName(name));
  }

  getSetCookie() {
    const self = headersOf(this);
    return self.#list.filter((p) => p[0] === "set-cookie").map((p) => p[1]);
  }

  has(name) {
    const self = headersOf(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'has' on 'Headers'");
    return hasHeader(self, headerName(name));
  }

  set(name, value) {
    const self = headersOf(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'set' on 'Headers'");
    const n = headerName(name);
    const v = headerValue(value);
    self.#mutable();
    const i = self.#list.findIndex((p) => p[0] === n);
    if (i === -1) {
      self.#list.push([n, v]);
    } else {
      self.#list[i] = [n, v];
      self.#list = self.#list.filter((p, j) => j <= i || p[0] !== n);
    }
  }
}

defineInterface(Headers);
Object.defineProperty(Headers.prototype, inspectCustom, {
  value(inspect) {
    const pairs = sortedHeaders(this);
    return pairs.length === 0 ? "Headers {}" : `Headers { ${pairs.map(([k, v]) => `${inspect(k)} => ${inspect(v)}`).join(", ")} }`;
  },
  writable: true,
  configurable: true,
});
definePairIterable(Headers, "Headers", headersOf, (h) => sortedHeaders(h));

// Fills headers from HeadersInit: a sequence of [name, value] pairs (including another
// Headers) or a record of names to values.
function fillHeaders(headers, init) {
  if (!webidl.isObject(init)) {
    throw new TypeError(
      "Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.",
    );
  }
  const method = init[Symbol.iterator];
  if (method !== undefined && method !== null) {
    if (typeof method !== "function") throw new TypeError("Failed to construct 'Headers': @@iterator is not a function");
    const pairs = webidl.toSequence(
      init,
      (pair) => webidl.toSequence(pair, (x) => toByteString(x, "Header item"), "Failed to construct 'Headers': header pair"),
      "Failed to construct 'Headers'",
    );
    for (const pair of pairs) {
      if (pair.length !== 2) {
        throw new TypeError(
          `Failed to construct 'Headers': a header pair must be [name, value], got ${pair.length} item${pair.length === 1 ? "" : "s"}`,
        );
      }
      appendHeader(headers, pair[0], pair[1]);
    }
    return;
  }
  for (const key of Reflect.ownKeys(init)) {
    const desc = Reflect.getOwnPropertyDescriptor(init, key);
    if (desc === undefined || !desc.enumerable) continue;
    if (typeof key === "symbol") throw new TypeError("Failed to construct 'Headers': header names cannot be symbols");
    appendHeader(headers, key, init[key]);
  }
}

// The request's headers as the host hands them over (HostValue kHeaderList): `plain` when
// the core found every one in the shape append() leaves it (ext/http_headers.h), and they
// are taken as they are; else append() normalizes or refuses each.
function headersFromHost(host) {
  const plain = host[0];
  const flat = host[1];
  const h = new Headers();
  if (plain) {
    const list = [];  // pushed, not preallocated: a holey array would slow every later use
    for (let i = 0; i + 1 < flat.length; i += 2) list.push([flat[i], flat[i + 1]]);
    adoptHeaderList(h, list);
  } else {
    for (let i = 0; i + 1 < flat.length; i += 2) appendHeader(h, flat[i], flat[i + 1]);
  }
  return h;
}

// The header list flat, as the host takes it: [name0, value0, name1, value1, ...].
function headersFlat(h) {
  const list = headerList(h);
  const flat = new Array(list.length * 2);
  for (let i = 0; i < list.length; i++) {
    flat[2 * i] = list[i][0];
    flat[2 * i + 1] = list[i][1];
  }
  return flat;
}

// Builds Headers from raw [name, value] pairs, as the host hands them over.
function headersFromPairs(pairs, guard = "none") {
  const h = new Headers();
  for (const [name, value] of pairs) appendHeader(h, name, value);
  setHeadersGuard(h, guard);
  return h;
}

// The most the host takes for a message's head, as written: its first line's text (a
// response's status text, a subrequest's method and URL) and each header as `name: value`
// and a line break. Workers allow 128 KB of response headers. The host copies a head out of
// the isolate and a server writes it whole: without a bound one 10 MB header was 10 MB of
// host memory per request in flight, outside the isolate's limit.
const MAX_HEAD_BYTES = 128 * 1024;

// Throws a TypeError naming `what` when `textBytes` (the first line's text) and the header
// list of `h` pass MAX_HEAD_BYTES.
function checkHeadSize(h, textBytes, what) {
  const list = headerList(h);
  let bytes = textBytes;
  for (let i = 0; i < list.length; i++) bytes += list[i][0].length + list[i][1].length + 4;
  if (bytes > MAX_HEAD_BYTES) {
    throw new TypeError(`${what} take ${bytes} bytes, more than the ${MAX_HEAD_BYTES} (128 KiB) allowed`);
  }
}

// The header list as fresh [name, value] pairs (lowercase names, set-cookie kept apart).
const headerPairs = (h) => headerList(h).map((p) => [p[0], p[1]]);

defineGlobals({ Headers });

Object.assign(internal, {
  definePairIterable, isToken, appendHeader, hasHeader, headerList, setHeadersGuard, headersGuard, fillHeaders,
  headersFromPairs, headerPairs, headersFromHost, headersFlat, checkHeadSize,
});
