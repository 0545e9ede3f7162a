// Response (Fetch Standard §5.5).

const {
  appendHeader, bodyFromBytes, bodyUnusable, cloneBody, defineBodyMixin, defineGlobals, defineInspect,
  defineInterface, extractBody, fillHeaders, hasHeader, headerList, headersFromPairs, headersGuard,
  parseAbsoluteURL, setHeadersGuard, webidl,
} = internal;

const kCreate = Symbol("create");
const nullBodyStatuses = [101, 103, 204, 205, 304];
const redirectStatuses = [301, 302, 303, 307, 308];
const reasonPhraseRe = /^[\t\x20-\x7e\x80-\xff]*$/;

function newState(status = 200, statusText = "") {
  return {
    type: "default",
    status,
    statusText,
    headers: new Headers(),
    body: null,
    urlList: [],
  };
}

// "Initialize a response" from ResponseInit and an extracted body ({body, type} or null).
function initialize(state, init, extracted, context) {
  const dict = webidl.toDictionary(init, context);
  if (dict.headers !== undefined) fillHeaders(state.headers, dict.headers);
  const status = dict.status === undefined ? 200 : webidl.toInteger(dict.status, { bits: 16 }, context);
  if (status < 200 || status > 599) {
    throw new RangeError(`${context}: The status provided (${status}) is outside the range [200, 599].`);
  }
  const statusText = dict.statusText === undefined ? "" : webidl.toDOMString(dict.statusText, context);
  if (!reasonPhraseRe.test(statusText)) throw new TypeError(`${context}: Invalid statusText`);
  state.status = status;
  state.statusText = statusText;
  if (extracted !== null) {
    if (nullBodyStatuses.includes(status)) {
      throw new TypeError(`${context}: Response with null body status (${status}) cannot have body`);
    }
    state.body = extracted.body;
    if (extracted.type !== null && !hasHeader(state.headers, "content-type")) {
      appendHeader(state.headers, "content-type", extracted.type);
    }
  }
}

let stateOf;

let isResponse;
let responseState;
class Response {
  #state;

  static {
    stateOf = (v) => {
      if (!(webidl.isObject(v) && #state in v)) throw webidl.illegalInvocation();
      return v.#state;
    };
    isResponse = (v) => webidl.isObject(v) && #state in v;
    responseState = (r) => r.#state;
  }

  constructor(body = null, init = undefined) {
    if (body === kCreate) {
      this.#state = init;
      return;
    }
    const context = "Failed to construct 'Response'";
    const state = newState();
    const extracted = body === null || body === undefined ? null : extractBody(body);
    initialize(state, init, extracted, context);
    this.#state = state;
  }

  static error() {
    const state = newState(0, "");
    state.type = "error";
    setHeadersGuard(state.headers, "immutable");
    return new Response(kCreate, state);
  }

  static redirect(url, status = 302) {
    const context = "Failed to execute 'redirect' on 'Response'";
    webidl.requiredArguments(arguments.length, 1, context);
    const href = parseAbsoluteURL(webidl.toUSVString(url, context), context)[0];
    const code = webidl.toInteger(status, { bits: 16 }, context);
    if (!redirectStatuses.includes(code)) throw new RangeError(`${context}: Invalid status code ${code}`);
    const state = newState(code, "");
    appendHeader(state.headers, "location", href);
    setHeadersGuard(state.headers, "immutable");
    return new Response(kCreate, state);
  }

  static json(data, init = undefined) {
    const context = "Failed to execute 'json' on 'Response'";
    webidl.requiredArguments(arguments.length, 1, context);
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError(`${context}: The data is not JSON serializable`);
    const extracted = { body: extractBody(text).body, type: "application/json" };
    const state = newState();
    initialize(state, init, extracted, context);
    return new Response(kCreate, state);
  }

  get type() {
    return stateOf(this).type;
  }

  get url() {
    const list = stateOf(this).urlList;
    if (list.length === 0) return "";
    const url = list[list.length - 1];
    const hash = url.indexOf("#");
    return hash === -1 ? url : url.slice(0, hash);
  }

  get redirected() {
    return stateOf(this).urlList.length > 1;
  }

  get status() {
    return stateOf(this).status;
  }

  get ok() {
    const status = stateOf(this).status;
    return status >= 200 && status <= 299;
  }

  get statusText() {
    return stateOf(this).statusText;
  }

  get headers() {
    return stateOf(this).headers;
  }

  clone() {
    const state = stateOf(this);
    if (bodyUnusable(state.body)) {
      throw new TypeError("Failed to execute 'clone' on 'Response': Response body is already used");
    }
    const headers = headersFromPairs(headerList(state.headers));
    setHeadersGuard(headers, headersGuard(state.headers));
    return new Response(kCreate, {
      ...state,
      headers,
      body: cloneBody(state.body),
      urlList: [...state.urlList],
    });
  }
}

// A Response for a completed host fetch: {status, statusText, headers, body, urlList}.
function createResponse({ status, statusText, headers, body, urlList }) {
  const state = newState(status, statusText);
  state.headers = headersFromPairs(headers, "immutable");
  state.body = body === null || nullBodyStatuses.includes(status) ? null : bodyFromBytes(body);
  state.urlList = urlList;
  return new Response(kCreate, state);
}

defineInterface(Response);
defineInspect(Response, (r) => ({
  status: r.status,
  statusText: r.statusText,
  ok: r.ok,
  headers: r.headers,
  body: r.body,
  bodyUsed: r.bodyUsed,
  redirected: r.redirected,
  type: r.type,
  url: r.url,
}));
defineBodyMixin(Response, stateOf);
defineGlobals({ Response });

Object.assign(internal, { isResponse, responseState, createResponse });
