// URL and URLSearchParams (WHATWG URL). Parsing URLs is native (ada); the
// application/x-www-form-urlencoded parser and serializer are here.

const { defineGlobals, defineInterface, inspectCustom, webidl } = internal;

const HREF = 0;
const ORIGIN = 1;
const PROTOCOL = 2;
const USERNAME = 3;
const PASSWORD = 4;
const HOST = 5;
const HOSTNAME = 6;
const PORT = 7;
const PATHNAME = 8;
const SEARCH = 9;
const HASH = 10;

const hexDigit = (c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

// Percent-decodes a name or value after "+" became a space, as UTF-8 without BOM.
function decodeComponent(s) {
  s = s.replaceAll("+", " ");
  if (!s.includes("%")) return s;
  const bytes = native.utf8Encode(s);
  const out = new Uint8Array(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x25 && i + 2 < bytes.length && hexDigit(bytes[i + 1]) && hexDigit(bytes[i + 2])) {
      out[o++] = parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16);
      i += 2;
    } else {
      out[o++] = b;
    }
  }
  return native.utf8Decode(out.subarray(0, o), false);
}

// Sequences are found with indexOf, and "+" replaced with replaceAll: `split` and a global
// replace refuse texts past the RegExp guards' cap (07_builtin_guards.js: 4M characters under
// 128 MB), which a form body under `max_body_mb` can pass.
function parseUrlencoded(input) {
  const list = [];
  for (let start = 0; start <= input.length;) {
    let end = input.indexOf("&", start);
    if (end === -1) end = input.length;
    const sequence = input.slice(start, end);
    start = end + 1;
    if (sequence === "") continue;
    const eq = sequence.indexOf("=");
    const name = eq === -1 ? sequence : sequence.slice(0, eq);
    const value = eq === -1 ? "" : sequence.slice(eq + 1);
    list.push([decodeComponent(name), decodeComponent(value)]);
  }
  return list;
}

const safeRe = /^[*\-._0-9A-Za-z]*$/;
const hex = Array.from({ length: 256 }, (_, i) => "%" + i.toString(16).toUpperCase().padStart(2, "0"));

function serializeComponent(s) {
  if (safeRe.test(s)) return s;
  let out = "";
  for (const b of native.utf8Encode(s)) {
    if (b === 0x20) out += "+";
    else if (
      b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f ||
      (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
    ) out += String.fromCharCode(b);
    else out += hex[b];
  }
  return out;
}

function serializeUrlencoded(list) {
  return list.map(([name, value]) => `${serializeComponent(name)}=${serializeComponent(value)}`).join("&");
}

const urlencoded = { parse: parseUrlencoded, serialize: serializeUrlencoded };

const iteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));

// Connections between a URL and its URLSearchParams, set up in the class bodies.
let setParamsList;
let urlFromParams;
let updateUrlSearch;

const urlSearchParamsIteratorPrototype = Object.create(iteratorPrototype, {
  next: {
    value: function next() {
      const state = iteratorStates.get(this);
      if (state === undefined) throw webidl.illegalInvocation();
      const list = state.list();
      if (state.index >= list.length) return { value: undefined, done: true };
      const [name, value] = list[state.index++];
      const result = state.kind === "key" ? name : state.kind === "value" ? value : [name, value];
      return { value: result, done: false };
    },
    writable: true,
    enumerable: true,
    configurable: true,
  },
  [Symbol.toStringTag]: { value: "URLSearchParams Iterator", configurable: true },
});
const iteratorStates = new WeakMap();

class URLSearchParams {
  #list = [];
  #url = null;

  constructor(init = "") {
    const context = "Failed to construct 'URLSearchParams'";
    if (webidl.isObject(init)) {
      const method = init[Symbol.iterator];
      if (method !== undefined && method !== null) {
        if (typeof method !== "function") throw new TypeError(`${context}: The object's iterator is not callable.`);
        const pairs = webidl.toSequence(init, (pair) =>
          webidl.toSequence(pair, (item) => webidl.toUSVString(item, context), context), context);
        for (const pair of pairs) {
          if (pair.length !== 2) {
            throw new TypeError(`${context}: Sequence initializer must only contain pair elements`);
          }
          this.#list.push([pair[0], pair[1]]);
        }
      } else {
        for (const key of Reflect.ownKeys(init)) {
          const desc = Reflect.getOwnPropertyDescriptor(init, key);
          if (desc === undefined || !desc.enumerable) continue;
          const name = webidl.toUSVString(key, context);
          this.#list.push([name, webidl.toUSVString(init[key], context)]);
        }
      }
    } else {
      let query = webidl.toUSVString(init, context);
      if (query.startsWith("?")) query = query.slice(1);
      this.#list = parseUrlencoded(query);
    }
  }

  static {
    setParamsList = (params, list) => {
      params.#list = list;
    };
    urlFromParams = (params, url) => {
      params.#url = url;
    };
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#list in self)) throw webidl.illegalInvocation();
  }

  #update() {
    if (this.#url !== null) updateUrlSearch(this.#url, serializeUrlencoded(this.#list));
  }

  get size() {
    URLSearchParams.#check(this);
    return this.#list.length;
  }

  append(name, value) {
    URLSearchParams.#check(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'append' on 'URLSearchParams'");
    this.#list.push([webidl.toUSVString(name), webidl.toUSVString(value)]);
    this.#update();
  }

  delete(name, value = undefined) {
    URLSearchParams.#check(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'delete' on 'URLSearchParams'");
    name = webidl.toUSVString(name);
    if (value === undefined) {
      this.#list = this.#list.filter((entry) => entry[0] !== name);
    } else {
      value = webidl.toUSVString(value);
      this.#list = this.#list.filter((entry) => entry[0] !== name || entry[1] !== value);
    }
    this.#update();
  }

  get(name) {
    URLSearchParams.#check(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'get' on 'URLSearchParams'");
    name = webidl.toUSVString(name);
    const entry = this.#list.find((e) => e[0] === name);
    return entry === undefined ? null : entry[1];
  }

  getAll(name) {
    URLSearchParams.#check(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'getAll' on 'URLSearchParams'");
    name = webidl.toUSVString(name);
    return this.#list.filter((e) => e[0] === name).map((e) => e[1]);
  }

  has(name, value = undefined) {
    URLSearchParams.#check(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'has' on 'URLSearchParams'");
    name = webidl.toUSVString(name);
    if (value === undefined) return this.#list.some((e) => e[0] === name);
    value = webidl.toUSVString(value);
    return this.#list.some((e) => e[0] === name && e[1] === value);
  }

  set(name, value) {
    URLSearchParams.#check(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'set' on 'URLSearchParams'");
    name = webidl.toUSVString(name);
    value = webidl.toUSVString(value);
    const i = this.#list.findIndex((e) => e[0] === name);
    if (i === -1) {
      this.#list.push([name, value]);
    } else {
      this.#list[i][1] = value;
      this.#list = this.#list.filter((e, j) => j <= i || e[0] !== name);
    }
    this.#update();
  }

  sort() {
    URLSearchParams.#check(this);
    // Array.prototype.sort is stable; `<` compares UTF-16 code units.
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }

  toString() {
    URLSearchParams.#check(this);
    return serializeUrlencoded(this.#list);
  }

  #iterator(kind) {
    const it = Object.create(urlSearchParamsIteratorPrototype);
    iteratorStates.set(it, { list: () => this.#list, kind, index: 0 });
    return it;
  }

  entries() {
    URLSearchParams.#check(this);
    return this.#iterator("key+value");
  }

  keys() {
    URLSearchParams.#check(this);
    return this.#iterator("key");
  }

  values() {
    URLSearchParams.#check(this);
    return this.#iterator("value");
  }

  forEach(callback, thisArg = undefined) {
    URLSearchParams.#check(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'forEach' on 'URLSearchParams'");
    if (typeof callback !== "function") {
      throw new TypeError("Failed to execute 'forEach' on 'URLSearchParams': parameter 1 is not of type 'Function'.");
    }
    for (let i = 0; i < this.#list.length; i++) {
      const [name, value] = this.#list[i];
      callback.call(thisArg, value, name, this);
    }
  }

  [inspectCustom](inspect) {
    if (this.#list.length === 0) return "URLSearchParams {}";
    return `URLSearchParams { ${this.#list.map(([k, v]) => `${inspect(k)} => ${inspect(v)}`).join(", ")} }`;
  }
}
Object.defineProperty(URLSearchParams.prototype, Symbol.iterator, {
  value: URLSearchParams.prototype.entries,
  writable: true,
  configurable: true,
});
defineInterface(URLSearchParams);

function parseOrThrow(url, base, hasBase) {
  const parts = hasBase ? native.urlParse(url, base) : native.urlParse(url);
  if (parts === null || parts === undefined) {
    throw new TypeError(`Failed to construct 'URL': Invalid URL: '${url}'`);
  }
  return parts;
}

function parseArgs(url, base, count, context) {
  webidl.requiredArguments(count, 1, context);
  url = webidl.toUSVString(url, context);
  const hasBase = base !== undefined;
  if (hasBase) base = webidl.toUSVString(base, context);
  return { url, base, hasBase };
}

class URL {
  #parts;
  #searchParams;

  constructor(url, base = undefined) {
    const args = parseArgs(url, base, arguments.length, "Failed to construct 'URL'");
    this.#init(parseOrThrow(args.url, args.base, args.hasBase));
  }

  #init(parts) {
    this.#parts = parts;
    this.#searchParams = null;  // made at first use: most URLs never have theirs read
  }

  static {
    updateUrlSearch = (url, serialized) => {
      const parts = native.urlSet(url.#parts[HREF], "search", serialized);
      if (parts) url.#parts = parts;
    };
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#parts in self)) throw webidl.illegalInvocation();
  }

  static parse(url, base = undefined) {
    const args = parseArgs(url, base, arguments.length, "Failed to execute 'parse' on 'URL'");
    const parts = args.hasBase ? native.urlParse(args.url, args.base) : native.urlParse(args.url);
    if (parts === null || parts === undefined) return null;
    const result = new URL("about:blank");
    result.#init(parts);
    return result;
  }

  static canParse(url, base = undefined) {
    const args = parseArgs(url, base, arguments.length, "Failed to execute 'canParse' on 'URL'");
    const parts = args.hasBase ? native.urlParse(args.url, args.base) : native.urlParse(args.url);
    return parts !== null && parts !== undefined;
  }

  // Runs a setter natively; returns true when the URL changed.
  #set(attribute, value) {
    const parts = native.urlSet(this.#parts[HREF], attribute, webidl.toUSVString(value));
    if (parts === null || parts === undefined) return false;
    this.#parts = parts;
    return true;
  }

  #syncSearchParams() {
    if (this.#searchParams !== null) setParamsList(this.#searchParams, parseUrlencoded(this.#parts[SEARCH].slice(1)));
  }

  get href() {
    URL.#check(this);
    return this.#parts[HREF];
  }

  set href(value) {
    URL.#check(this);
    value = webidl.toUSVString(value);
    const parts = native.urlParse(value);
    if (parts === null || parts === undefined) {
      throw new TypeError(`Failed to set the 'href' property on 'URL': Invalid URL: '${value}'`);
    }
    this.#parts = parts;
    this.#syncSearchParams();
  }

  get origin() {
    URL.#check(this);
    return this.#parts[ORIGIN];
  }

  get protocol() {
    URL.#check(this);
    return this.#parts[PROTOCOL];
  }

  set protocol(value) {
    URL.#check(this);
    this.#set("protocol", value);
  }

  get username() {
    URL.#check(this);
    return this.#parts[USERNAME];
  }

  set username(value) {
    URL.#check(this);
    this.#set("username", value);
  }

  get password() {
    URL.#check(this);
    return this.#parts[PASSWORD];
  }

  set password(value) {
    URL.#check(this);
    this.#set("password", value);
  }

  get host() {
    URL.#check(this);
    return this.#parts[HOST];
  }

  set host(value) {
    URL.#check(this);
    this.#set("host", value);
  }

  get hostname() {
    URL.#check(this);
    return this.#parts[HOSTNAME];
  }

  set hostname(value) {
    URL.#check(this);
    this.#set("hostname", value);
  }

  get port() {
    URL.#check(this);
    return this.#parts[PORT];
  }

  set port(value) {
    URL.#check(this);
    this.#set("port", value);
  }

  get pathname() {
    URL.#check(this);
    return this.#parts[PATHNAME];
  }

  set pathname(value) {
    URL.#check(this);
    this.#set("pathname", value);
  }

  get search() {
    URL.#check(this);
    return this.#parts[SEARCH];
  }

  set search(value) {
    URL.#check(this);
    if (this.#set("search", value)) this.#syncSearchParams();
  }

  get searchParams() {
    URL.#check(this);
    if (this.#searchParams === null) {
      this.#searchParams = new URLSearchParams(this.#parts[SEARCH]);
      urlFromParams(this.#searchParams, this);
    }
    return this.#searchParams;
  }

  get hash() {
    URL.#check(this);
    return this.#parts[HASH];
  }

  set hash(value) {
    URL.#check(this);
    this.#set("hash", value);
  }

  toString() {
    URL.#check(this);
    return this.#parts[HREF];
  }

  toJSON() {
    URL.#check(this);
    return this.#parts[HREF];
  }

  [inspectCustom](inspect) {
    const fields = {};
    for (const key of ["href", "origin", "protocol", "username", "password", "host", "hostname", "port",
      "pathname", "search", "searchParams", "hash"]) {
      fields[key] = this[key];
    }
    return `URL ${inspect(fields, { depthOffset: 0 })}`;
  }
}
defineInterface(URL);

defineGlobals({ URL, URLSearchParams });

Object.assign(internal, { urlencoded });
