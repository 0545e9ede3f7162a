// Request (Fetch Standard §5.4). There is no document base URL, so URLs must be absolute.

const {
  appendHeader, bodyUnusable, cloneBody, createAbortSignal, defineBodyMixin, defineGlobals, defineInspect,
  defineInterface, extractBody, fillHeaders, hasHeader, headerList, headersFromHost, headersFromPairs,
  isAbortSignal, isToken, proxyBody, webidl,
} = internal;

const kCreate = Symbol("create");
const forbiddenMethods = ["CONNECT", "TRACE", "TRACK"];
const normalizedMethods = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
const enums = {
  cache: ["default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached"],
  credentials: ["omit", "same-origin", "include"],
  duplex: ["half"],
  mode: ["navigate", "same-origin", "no-cors", "cors"],
  priority: ["high", "low", "auto"],
  redirect: ["follow", "error", "manual"],
  referrerPolicy: [
    "",
    "no-referrer",
    "no-referrer-when-downgrade",
    "same-origin",
    "origin",
    "strict-origin",
    "origin-when-cross-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
  ],
};
const enumNames = {
  cache: "RequestCache",
  credentials: "RequestCredentials",
  duplex: "RequestDuplex",
  mode: "RequestMode",
  priority: "RequestPriority",
  redirect: "RequestRedirect",
  referrerPolicy: "ReferrerPolicy",
};

// Parses an absolute URL; relative ones fail since there is no base URL.
function parseURL(input, context) {
  const parts = native.urlParse(input);
  if (parts === null) {
    throw new TypeError(`${context}: Invalid URL ${JSON.stringify(input)} (an absolute URL is required)`);
  }
  return parts;
}

// The host's request URL, serialized: it is valid (the host built it from a checked Host and
// the raw path) unless the request target holds what a URL cannot.
function hostURL(input, context) {
  const href = native.urlHref(input);
  if (href === null) throw new TypeError(`${context}: Invalid URL ${JSON.stringify(input)}`);
  return href;
}

function normalizeMethod(value, context) {
  if (normalizedMethods.includes(value)) return value;  // "GET", "POST", ...: nothing to change
  const method = webidl.toDOMString(value, context);
  if (!isToken(method)) throw new TypeError(`${context}: '${method}' is not a valid HTTP method.`);
  const upper = method.toUpperCase();
  if (forbiddenMethods.includes(upper)) throw new TypeError(`${context}: '${method}' HTTP method is unsupported.`);
  return normalizedMethods.includes(upper) ? upper : method;
}

// A signal that follows `parent` (or never aborts when there is none).
function followingSignal(parent) {
  return parent == null ? createAbortSignal() : globalThis.AbortSignal.any([parent]);
}

let stateOf;

let isRequest;
let requestState;
class Request {
  #state;

  static {
    stateOf = (v) => {
      if (!(webidl.isObject(v) && #state in v)) throw webidl.illegalInvocation();
      return v.#state;
    };
    isRequest = (v) => webidl.isObject(v) && #state in v;
    requestState = (r) => r.#state;
  }

  constructor(input, init = undefined) {
    if (input === kCreate) {
      this.#state = init;
      return;
    }
    const context = "Failed to construct 'Request'";
    webidl.requiredArguments(arguments.length, 1, context);
    const dict = webidl.toDictionary(init, context);
    const from = isRequest(input) ? input.#state : null;
    let url;
    if (from !== null) {
      url = from.url;
    } else {
      const parts = parseURL(webidl.toUSVString(input, context), context);
      if (parts[3] !== "" || parts[4] !== "") {
        throw new TypeError(`${context}: Request cannot be constructed from a URL that includes credentials`);
      }
      url = parts[0];
    }

    const opt = (key) => (dict[key] === undefined ? undefined : webidl.toEnum(dict[key], enums[key], enumNames[key], context));
    const state = {
      method: from?.method ?? "GET",
      url,
      headers: null,
      body: null,
      cache: opt("cache") ?? from?.cache ?? "default",
      credentials: opt("credentials") ?? from?.credentials ?? "same-origin",
      duplex: opt("duplex") ?? "half",
      integrity: dict.integrity === undefined ? (from?.integrity ?? "") : webidl.toDOMString(dict.integrity, context),
      keepalive: dict.keepalive === undefined ? (from?.keepalive ?? false) : Boolean(dict.keepalive),
      mode: opt("mode") ?? from?.mode ?? "cors",
      priority: opt("priority") ?? from?.priority ?? "auto",
      redirect: opt("redirect") ?? from?.redirect ?? "follow",
      referrer: from?.referrer ?? "client",
      referrerPolicy: opt("referrerPolicy") ?? from?.referrerPolicy ?? "",
      signal: null,
    };
    if (dict.method !== undefined) state.method = normalizeMethod(dict.method, context);
    if (state.mode === "navigate") throw new TypeError(`${context}: Cannot construct a Request with a RequestInit whose mode member is set as 'navigate'.`);
    if (state.cache === "only-if-cached" && state.mode !== "same-origin") {
      throw new TypeError(`${context}: 'only-if-cached' can be set only with 'same-origin' mode`);
    }
    if (dict.referrer !== undefined) {
      const referrer = webidl.toUSVString(dict.referrer, context);
      if (referrer === "") {
        state.referrer = "no-referrer";
      } else {
        const href = parseURL(referrer, context)[0];
        state.referrer = href === "about:client" ? "client" : href;
      }
    }
    if (dict.window !== undefined && dict.window !== null) {
      throw new TypeError(`${context}: 'window' can only be null`);
    }
    let parentSignal = from?.signal ?? null;
    if (dict.signal !== undefined) {
      if (dict.signal !== null && !isAbortSignal(dict.signal)) {
        throw new TypeError(`${context}: member signal is not of type AbortSignal.`);
      }
      parentSignal = dict.signal;
    }
    state.signal = followingSignal(parentSignal);

    state.headers = new Headers();
    if (dict.headers !== undefined) fillHeaders(state.headers, dict.headers);
    else if (from !== null) for (const [n, v] of headerList(from.headers)) appendHeader(state.headers, n, v);

    const initBody = dict.body ?? null;
    if ((initBody !== null || (from !== null && from.body !== null)) && (state.method === "GET" || state.method === "HEAD")) {
      throw new TypeError(`${context}: Request with GET/HEAD method cannot have body.`);
    }
    if (initBody !== null) {
      const { body, type } = extractBody(initBody);
      state.body = body;
      if (type !== null && !hasHeader(state.headers, "content-type")) appendHeader(state.headers, "content-type", type);
    } else if (from !== null && from.body !== null) {
      if (bodyUnusable(from.body)) {
        throw new TypeError(`${context}: Cannot construct a Request with a Request object that has already been used.`);
      }
      state.body = proxyBody(from.body);
    }
    this.#state = state;
  }

  get method() {
    return stateOf(this).method;
  }

  get url() {
    return stateOf(this).url;
  }

  get headers() {
    return stateOf(this).headers;
  }

  get destination() {
    stateOf(this);
    return "";
  }

  get referrer() {
    const referrer = stateOf(this).referrer;
    if (referrer === "no-referrer") return "";
    if (referrer === "client") return "about:client";
    return referrer;
  }

  get referrerPolicy() {
    return stateOf(this).referrerPolicy;
  }

  get mode() {
    return stateOf(this).mode;
  }

  get credentials() {
    return stateOf(this).credentials;
  }

  get cache() {
    return stateOf(this).cache;
  }

  get redirect() {
    return stateOf(this).redirect;
  }

  get integrity() {
    return stateOf(this).integrity;
  }

  get keepalive() {
    return stateOf(this).keepalive;
  }

  get isReloadNavigation() {
    stateOf(this);
    return false;
  }

  get isHistoryNavigation() {
    stateOf(this);
    return false;
  }

  get signal() {
    const state = stateOf(this);
    if (state.signal === null) state.signal = followingSignal(null);  // an incoming request's (hostRequest)
    return state.signal;
  }

  get duplex() {
    return stateOf(this).duplex;
  }

  clone() {
    const state = stateOf(this);
    if (bodyUnusable(state.body)) {
      throw new TypeError("Failed to execute 'clone' on 'Request': Request body is already used");
    }
    const headers = headersFromPairs(headerList(state.headers));
    return new Request(kCreate, {
      ...state,
      headers,
      body: cloneBody(state.body),
      signal: followingSignal(state.signal),
    });
  }
}

defineInterface(Request);
defineInspect(Request, (r) => ({
  method: r.method,
  url: r.url,
  headers: r.headers,
  body: r.body,
  bodyUsed: r.bodyUsed,
  redirect: r.redirect,
  signal: r.signal,
}));
defineBodyMixin(Request, stateOf);
defineGlobals({ Request });

// The incoming request, from the head the host's HTTP server parsed: what the constructor
// does for `new Request(url, { method, headers, body })`, without converting a RequestInit
// (a third of a small request's JS went there). `headers` is flat: [name0, value0, ...].
function hostRequest(method, url, headers, body) {
  const context = "Failed to construct 'Request'";
  const state = {
    method: normalizeMethod(method, context),
    url: hostURL(url, context),
    headers: headersFromHost(headers),
    body: null,
    cache: "default",
    credentials: "same-origin",
    duplex: "half",
    integrity: "",
    keepalive: false,
    mode: "cors",
    priority: "auto",
    redirect: "follow",
    referrer: "client",
    referrerPolicy: "",
    signal: null,  // never aborts: made at first use (the getter), as most handlers never read it
  };
  if (body !== null) state.body = extractBody(body).body;  // bytes: no content type to add
  return new Request(kCreate, state);
}

Object.assign(internal, { parseAbsoluteURL: parseURL, isRequest, requestState, hostRequest });
