// URLPattern (WHATWG URL Pattern Standard). Components are compiled to RegExps with the
// "u" flag; canonicalization reuses the native URL setters.

const { checkRegExpCompile, defineGlobals, defineInterface, webidl } = internal;

const specialSchemes = { ftp: "21", file: null, http: "80", https: "443", ws: "80", wss: "443" };
const components = ["protocol", "username", "password", "hostname", "port", "pathname", "search", "hash"];
const fullWildcard = ".*";

// --- tokenizer (§2.1) ---------------------------------------------------------------

function isNameCodePoint(cp, first) {
  const ch = String.fromCodePoint(cp);
  if (first) return ch === "$" || ch === "_" || /\p{ID_Start}/u.test(ch);
  return ch === "$" || ch === "\u200c" || ch === "\u200d" || /\p{ID_Continue}/u.test(ch);
}

const isAscii = (cp) => cp <= 0x7f;

function tokenize(input, policy) {
  const tokens = [];
  let index = 0;
  const addToken = (type, next, valuePos, valueLength) => {
    tokens.push({ type, index, value: input.slice(valuePos, valuePos + valueLength) });
    index = next;
  };
  const codePointAt = (i) => {
    const cp = input.codePointAt(i);
    return { cp, next: i + (cp > 0xffff ? 2 : 1) };
  };
  const error = (next, valuePos) => {
    if (policy === "strict") throw new TypeError(`Invalid URL pattern '${input}' at ${valuePos}`);
    addToken("invalid-char", next, valuePos, next - valuePos);
  };
  while (index < input.length) {
    const { cp, next } = codePointAt(index);
    const ch = String.fromCodePoint(cp);
    const simple = { "*": "asterisk", "+": "other-modifier", "?": "other-modifier", "{": "open", "}": "close" };
    if (ch in simple) {
      addToken(simple[ch], next, index, next - index);
      continue;
    }
    if (ch === "\\") {
      if (next >= input.length) {
        error(next, index);
        continue;
      }
      const escaped = codePointAt(next);
      addToken("escaped-char", escaped.next, next, escaped.next - next);
      continue;
    }
    if (ch === ":") {
      let pos = next;
      const start = pos;
      while (pos < input.length) {
        const c = codePointAt(pos);
        if (!isNameCodePoint(c.cp, pos === start)) break;
        pos = c.next;
      }
      if (pos <= start) {
        error(start, index);
        continue;
      }
      addToken("name", pos, start, pos - start);
      continue;
    }
    if (ch === "(") {
      let depth = 1;
      let pos = next;
      const start = pos;
      let failed = false;
      while (pos < input.length) {
        let c = codePointAt(pos);
        if (!isAscii(c.cp) || (pos === start && c.cp === 0x3f)) {
          error(start, index);
          failed = true;
          break;
        }
        if (c.cp === 0x5c) {
          if (c.next >= input.length) {
            error(start, index);
            failed = true;
            break;
          }
          c = codePointAt(c.next);
          if (!isAscii(c.cp)) {
            error(start, index);
            failed = true;
            break;
          }
          pos = c.next;
          continue;
        }
        if (c.cp === 0x29) {
          depth--;
          if (depth === 0) {
            pos = c.next;
            break;
          }
        } else if (c.cp === 0x28) {
          depth++;
          if (c.next >= input.length || input[c.next] !== "?") {
            error(start, index);
            failed = true;
            break;
          }
        }
        pos = c.next;
      }
      if (failed) continue;
      if (depth !== 0 || pos - start - 1 === 0) {
        error(start, index);
        continue;
      }
      addToken("regexp", pos, start, pos - start - 1);
      continue;
    }
    addToken("char", next, index, next - index);
  }
  tokens.push({ type: "end", index, value: "" });
  return tokens;
}

// --- pattern parser (§2.2) ------------------------------------------------------------

const escapeRegExp = (s) => s.replace(/[.+*?^${}()[\]|/\\]/g, "\\$&");
const escapePattern = (s) => s.replace(/[+*?:{}()\\]/g, "\\$&");
const modifierText = { none: "", optional: "?", "zero-or-more": "*", "one-or-more": "+" };

function segmentWildcard(options) {
  return `[^${escapeRegExp(options.delimiter)}]+?`;
}

function parsePattern(input, options, encode) {
  const tokens = tokenize(input, "strict");
  const parts = [];
  const wildcard = segmentWildcard(options);
  let index = 0;
  let pending = "";
  let nextNumericName = 0;

  const tryConsume = (type) => (tokens[index].type === type ? tokens[index++] : null);
  const tryRegexpOrWildcard = (nameToken) => {
    const token = tryConsume("regexp");
    return token === null && nameToken === null ? tryConsume("asterisk") : token;
  };
  const tryModifier = () => tryConsume("other-modifier") ?? tryConsume("asterisk");
  const consumeRequired = (type) => {
    const token = tryConsume(type);
    if (token === null) throw new TypeError(`Invalid URL pattern '${input}': expected ${type}`);
    return token;
  };
  const consumeText = () => {
    let text = "";
    for (;;) {
      const token = tryConsume("char") ?? tryConsume("escaped-char");
      if (token === null) return text;
      text += token.value;
    }
  };
  const flushPending = () => {
    if (pending === "") return;
    parts.push({ type: "fixed-text", value: encode(pending), modifier: "none", name: "", prefix: "", suffix: "" });
    pending = "";
  };
  const addPart = (prefix, nameToken, regexpToken, suffix, modifierToken) => {
    const modifier = modifierToken === null ? "none"
      : modifierToken.value === "?" ? "optional" : modifierToken.value === "*" ? "zero-or-more" : "one-or-more";
    if (nameToken === null && regexpToken === null && modifier === "none") {
      pending += prefix;
      return;
    }
    flushPending();
    if (nameToken === null && regexpToken === null) {
      if (prefix === "") return;
      parts.push({ type: "fixed-text", value: encode(prefix), modifier, name: "", prefix: "", suffix: "" });
      return;
    }
    let value = regexpToken === null ? wildcard : regexpToken.type === "asterisk" ? fullWildcard : regexpToken.value;
    let type = "regexp";
    if (value === wildcard) {
      type = "segment-wildcard";
      value = "";
    } else if (value === fullWildcard) {
      type = "full-wildcard";
      value = "";
    }
    const name = nameToken !== null ? nameToken.value : String(nextNumericName++);
    if (parts.some((p) => p.name === name)) throw new TypeError(`Invalid URL pattern '${input}': duplicate name ${name}`);
    parts.push({ type, value, modifier, name, prefix: encode(prefix), suffix: encode(suffix) });
  };

  while (index < tokens.length) {
    const charToken = tryConsume("char");
    const nameToken = tryConsume("name");
    const regexpToken = tryRegexpOrWildcard(nameToken);
    if (nameToken !== null || regexpToken !== null) {
      let prefix = charToken === null ? "" : charToken.value;
      if (prefix !== "" && prefix !== options.prefix) {
        pending += prefix;
        prefix = "";
      }
      flushPending();
      addPart(prefix, nameToken, regexpToken, "", tryModifier());
      continue;
    }
    const fixedToken = charToken ?? tryConsume("escaped-char");
    if (fixedToken !== null) {
      pending += fixedToken.value;
      continue;
    }
    if (tryConsume("open") !== null) {
      const prefix = consumeText();
      const name = tryConsume("name");
      const regexp = tryRegexpOrWildcard(name);
      const suffix = consumeText();
      consumeRequired("close");
      addPart(prefix, name, regexp, suffix, tryModifier());
      continue;
    }
    flushPending();
    consumeRequired("end");
  }
  return parts;
}

function generateRegExp(parts, options) {
  let result = "^";
  const names = [];
  const wildcard = segmentWildcard(options);
  for (const part of parts) {
    const mod = modifierText[part.modifier];
    if (part.type === "fixed-text") {
      result += part.modifier === "none" ? escapeRegExp(part.value) : `(?:${escapeRegExp(part.value)})${mod}`;
      continue;
    }
    names.push(part.name);
    const value = part.type === "segment-wildcard" ? wildcard : part.type === "full-wildcard" ? fullWildcard : part.value;
    const prefix = escapeRegExp(part.prefix);
    const suffix = escapeRegExp(part.suffix);
    const single = part.modifier === "none" || part.modifier === "optional";
    if (part.prefix === "" && part.suffix === "") {
      result += single ? `(${value})${mod}` : `((?:${value})${mod})`;
    } else if (single) {
      result += `(?:${prefix}(${value})${suffix})${mod}`;
    } else {
      result += `(?:${prefix}((?:${value})(?:${suffix}${prefix}(?:${value}))*)${suffix})`;
      if (part.modifier === "zero-or-more") result += "?";
    }
  }
  return { source: result + "$", names };
}

function generatePatternString(parts, options) {
  let result = "";
  const wildcard = segmentWildcard(options);
  const startsWithDigit = (s) => /^[0-9]/.test(s);
  parts.forEach((part, i) => {
    const previous = parts[i - 1] ?? null;
    const next = parts[i + 1] ?? null;
    const mod = modifierText[part.modifier];
    if (part.type === "fixed-text") {
      result += part.modifier === "none" ? escapePattern(part.value) : `{${escapePattern(part.value)}}${mod}`;
      return;
    }
    const customName = !startsWithDigit(part.name);
    let grouping = part.suffix !== "" || (part.prefix !== "" && part.prefix !== options.prefix);
    if (!grouping && customName && part.type === "segment-wildcard" && part.modifier === "none" &&
        next !== null && next.prefix === "" && next.suffix === "") {
      grouping = next.type === "fixed-text"
        ? next.value !== "" && isNameCodePoint(next.value.codePointAt(0), false)
        : startsWithDigit(next.name);
    }
    if (!grouping && part.prefix === "" && previous !== null && previous.type === "fixed-text" &&
        options.prefix !== "" && previous.value.endsWith(options.prefix)) {
      grouping = true;
    }
    if (grouping) result += "{";
    result += escapePattern(part.prefix);
    if (customName) result += `:${part.name}`;
    if (part.type === "regexp") {
      result += `(${part.value})`;
    } else if (part.type === "segment-wildcard" && !customName) {
      result += `(${wildcard})`;
    } else if (part.type === "full-wildcard") {
      if (!customName && (previous === null || previous.type === "fixed-text" || previous.modifier !== "none" ||
          grouping || part.prefix !== "")) {
        result += "*";
      } else {
        result += `(${fullWildcard})`;
      }
    }
    if (part.type === "segment-wildcard" && customName && part.suffix !== "" &&
        isNameCodePoint(part.suffix.codePointAt(0), false)) {
      result += "\\";
    }
    result += escapePattern(part.suffix);
    if (grouping) result += "}";
    result += mod;
  });
  return result;
}

function compileComponent(input, encode, options) {
  const parts = parsePattern(input, options, encode);
  const { source, names } = generateRegExp(parts, options);
  let regexp;
  try {
    regexp = new RegExp(source, options.ignoreCase ? "ui" : "u");
    // Matched through `exec`, which the RegExp guards leave to V8: its compile is bounded here.
    checkRegExpCompile(regexp);
  } catch (error) {
    throw new TypeError(`Invalid URL pattern '${input}': ${error.message}`);
  }
  return {
    pattern: generatePatternString(parts, options),
    regexp,
    names,
    hasRegExpGroups: parts.some((p) => p.type === "regexp"),
  };
}

// --- canonicalization through the native URL parser (§3) --------------------------------

const PROTOCOL = 2;
const USERNAME = 3;
const PASSWORD = 4;
const HOSTNAME = 6;
const PORT = 7;
const PATHNAME = 8;
const SEARCH = 9;
const HASH = 10;

function setOnDummy(base, attribute, value) {
  const parts = native.urlSet(base, attribute, value);
  if (parts === null || parts === undefined) throw new TypeError(`Invalid ${attribute} '${value}'`);
  return parts;
}

function canonicalizeProtocol(value) {
  if (value === "") return "";
  if (!/^[A-Za-z][A-Za-z0-9+\-.]*$/.test(value)) throw new TypeError(`Invalid protocol '${value}'`);
  return value.toLowerCase();
}

function canonicalizeUsername(value) {
  return value === "" ? "" : setOnDummy("x://dummy.test/", "username", value)[USERNAME];
}

function canonicalizePassword(value) {
  return value === "" ? "" : setOnDummy("x://dummy.test/", "password", value)[PASSWORD];
}

function canonicalizeHostname(value) {
  if (value === "") return "";
  if (/[\s#%/:<>?@[\\\]^|]/.test(value)) throw new TypeError(`Invalid hostname '${value}'`);
  const parts = native.urlParse(`https://${value}/`);
  if (parts === null || parts === undefined) throw new TypeError(`Invalid hostname '${value}'`);
  return parts[HOSTNAME];
}

function canonicalizeIPv6Hostname(value) {
  let result = "";
  for (const ch of value) {
    if (!/[0-9A-Fa-f:[\]]/.test(ch)) throw new TypeError(`Invalid IPv6 hostname '${value}'`);
    result += ch.toLowerCase();
  }
  return result;
}

function canonicalizePort(value, protocol) {
  if (value === "") return "";
  if (!/^[0-9]+$/.test(value)) throw new TypeError(`Invalid port '${value}'`);
  const port = Number(value);
  if (port > 65535) throw new TypeError(`Invalid port '${value}'`);
  if (protocol !== undefined && Object.hasOwn(specialSchemes, protocol) && specialSchemes[protocol] === String(port)) {
    return "";
  }
  return String(port);
}

function canonicalizePathname(value) {
  if (value === "") return "";
  const leadingSlash = value[0] === "/";
  const path = setOnDummy("x://dummy.test/", "pathname", leadingSlash ? value : "/-" + value)[PATHNAME];
  return leadingSlash ? path : path.slice(2);
}

function canonicalizeOpaquePathname(value) {
  if (value === "") return "";
  const parts = native.urlParse("x:" + value.replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23")));
  if (parts === null || parts === undefined) throw new TypeError(`Invalid pathname '${value}'`);
  return parts[PATHNAME];
}

function canonicalizeSearch(value) {
  return value === "" ? "" : setOnDummy("x://dummy.test/", "search", value)[SEARCH].slice(1);
}

function canonicalizeHash(value) {
  return value === "" ? "" : setOnDummy("x://dummy.test/", "hash", value)[HASH].slice(1);
}

// --- URLPatternInit processing (§3.3) ----------------------------------------------------

function processInit(init, type) {
  const result = {};
  for (const key of components) {
    if (init[key] !== undefined) result[key] = webidl.toUSVString(init[key]);
  }
  const given = (...keys) => keys.some((k) => init[k] !== undefined);
  const fromBase = (s) => (type === "pattern" ? escapePattern(s) : s);
  let base = null;
  if (init.baseURL !== undefined) {
    base = native.urlParse(webidl.toUSVString(init.baseURL));
    if (base === null || base === undefined) throw new TypeError(`Invalid baseURL '${init.baseURL}'`);
    if (!given("protocol")) result.protocol = fromBase(base[PROTOCOL].slice(0, -1));
    if (type !== "pattern" && !given("protocol", "hostname", "port", "username")) {
      result.username = fromBase(base[USERNAME]);
    }
    if (type !== "pattern" && !given("protocol", "hostname", "port", "username", "password")) {
      result.password = fromBase(base[PASSWORD]);
    }
    if (!given("protocol", "hostname")) result.hostname = fromBase(base[HOSTNAME]);
    if (!given("protocol", "hostname", "port")) result.port = base[PORT];
    if (!given("protocol", "hostname", "port", "pathname")) result.pathname = fromBase(base[PATHNAME]);
    if (!given("protocol", "hostname", "port", "pathname", "search")) result.search = fromBase(base[SEARCH].slice(1));
    if (!given("protocol", "hostname", "port", "pathname", "search", "hash")) result.hash = fromBase(base[HASH].slice(1));
  }
  const canon = (fn, value) => (type === "pattern" ? value : fn(value));
  if (given("protocol")) result.protocol = canon(canonicalizeProtocol, result.protocol.replace(/:$/, ""));
  if (given("username")) result.username = canon(canonicalizeUsername, result.username);
  if (given("password")) result.password = canon(canonicalizePassword, result.password);
  if (given("hostname")) result.hostname = canon(canonicalizeHostname, result.hostname);
  if (given("port")) result.port = canon((v) => canonicalizePort(v, result.protocol), result.port);
  if (given("pathname")) {
    let pathname = result.pathname;
    const baseHasPath = base !== null && base[PATHNAME].startsWith("/");
    if (baseHasPath && !isAbsolutePathname(pathname, type)) {
      const basePath = fromBase(base[PATHNAME]);
      const slash = basePath.lastIndexOf("/");
      if (slash !== -1) pathname = basePath.slice(0, slash + 1) + pathname;
    }
    if (type !== "pattern") {
      const protocol = result.protocol ?? "";
      pathname = protocol === "" || Object.hasOwn(specialSchemes, protocol)
        ? canonicalizePathname(pathname)
        : canonicalizeOpaquePathname(pathname);
    }
    result.pathname = pathname;
  }
  if (given("search")) result.search = canon(canonicalizeSearch, result.search.replace(/^\?/, ""));
  if (given("hash")) result.hash = canon(canonicalizeHash, result.hash.replace(/^#/, ""));
  return result;
}

function isAbsolutePathname(input, type) {
  if (input === "") return false;
  if (input[0] === "/") return true;
  if (type === "url" || input.length < 2) return false;
  return (input[0] === "\\" || input[0] === "{") && input[1] === "/";
}

// --- constructor string parser (§2.5) -------------------------------------------------------

function parseConstructorString(input) {
  const tokens = tokenize(input, "lenient");
  const result = {};
  let componentStart = 0;
  let tokenIndex = 0;
  let increment = 1;
  let groupDepth = 0;
  let ipv6Depth = 0;
  let protocolIsSpecial = false;
  let state = "init";

  const safeToken = (i) => tokens[i] ?? tokens[tokens.length - 1];
  const isPatternChar = (i, value) => {
    const token = safeToken(i);
    return token.value === value && (token.type === "char" || token.type === "escaped-char" || token.type === "invalid-char");
  };
  const isSearchPrefix = () => {
    if (isPatternChar(tokenIndex, "?")) return true;
    if (tokens[tokenIndex].value !== "?") return false;
    if (tokenIndex - 1 < 0) return true;
    const previous = safeToken(tokenIndex - 1);
    return !["name", "regexp", "close", "asterisk"].includes(previous.type);
  };
  const componentString = () => input.slice(safeToken(componentStart).index, tokens[tokenIndex].index);
  const rewind = () => {
    tokenIndex = componentStart;
    increment = 0;
  };
  const changeState = (newState, skip) => {
    if (state !== "init" && state !== "authority" && state !== "done") result[state] = componentString();
    if (state !== "init" && newState !== "done") {
      const early = ["protocol", "authority", "username", "password"];
      if (early.includes(state) && ["port", "pathname", "search", "hash"].includes(newState) &&
          result.hostname === undefined) {
        result.hostname = "";
      }
      if ([...early, "hostname", "port"].includes(state) && ["search", "hash"].includes(newState) &&
          result.pathname === undefined) {
        result.pathname = protocolIsSpecial ? "/" : "";
      }
      if ([...early, "hostname", "port", "pathname"].includes(state) && newState === "hash" &&
          result.search === undefined) {
        result.search = "";
      }
    }
    state = newState;
    tokenIndex += skip;
    componentStart = tokenIndex;
    increment = 0;
  };

  while (tokenIndex < tokens.length) {
    increment = 1;
    const token = tokens[tokenIndex];
    if (token.type === "end") {
      if (state === "init") {
        rewind();
        if (isPatternChar(tokenIndex, "#")) changeState("hash", 1);
        else if (isSearchPrefix()) changeState("search", 1);
        else changeState("pathname", 0);
        tokenIndex += increment;
        continue;
      }
      if (state === "authority") {
        rewind();
        state = "hostname";
        tokenIndex += increment;
        continue;
      }
      changeState("done", 0);
      break;
    }
    if (token.type === "open") {
      groupDepth++;
      tokenIndex += increment;
      continue;
    }
    if (groupDepth > 0) {
      if (token.type === "close") {
        groupDepth--;
      } else {
        tokenIndex += increment;
        continue;
      }
    }
    switch (state) {
      case "init":
        if (isPatternChar(tokenIndex, ":")) {
          rewind();
          state = "protocol";
        }
        break;
      case "protocol":
        if (isPatternChar(tokenIndex, ":")) {
          const protocol = compileComponent(componentString(), canonicalizeProtocol, defaultOptions);
          protocolIsSpecial = Object.keys(specialSchemes).some((s) => protocol.regexp.test(s));
          if (isPatternChar(tokenIndex + 1, "/") && isPatternChar(tokenIndex + 2, "/")) {
            changeState("authority", 3);
          } else {
            changeState(protocolIsSpecial ? "authority" : "pathname", 1);
          }
        }
        break;
      case "authority":
        if (isPatternChar(tokenIndex, "@")) {
          rewind();
          state = "username";
        } else if (isPatternChar(tokenIndex, "/") || isSearchPrefix() || isPatternChar(tokenIndex, "#")) {
          rewind();
          state = "hostname";
        }
        break;
      case "username":
        if (isPatternChar(tokenIndex, ":")) changeState("password", 1);
        else if (isPatternChar(tokenIndex, "@")) changeState("hostname", 1);
        break;
      case "password":
        if (isPatternChar(tokenIndex, "@")) changeState("hostname", 1);
        break;
      case "hostname":
        if (isPatternChar(tokenIndex, "[")) ipv6Depth++;
        else if (isPatternChar(tokenIndex, "]")) ipv6Depth--;
        else if (isPatternChar(tokenIndex, ":") && ipv6Depth === 0) changeState("port", 1);
        else if (isPatternChar(tokenIndex, "/")) changeState("pathname", 0);
        else if (isSearchPrefix()) changeState("search", 1);
        else if (isPatternChar(tokenIndex, "#")) changeState("hash", 1);
        break;
      case "port":
        if (isPatternChar(tokenIndex, "/")) changeState("pathname", 0);
        else if (isSearchPrefix()) changeState("search", 1);
        else if (isPatternChar(tokenIndex, "#")) changeState("hash", 1);
        break;
      case "pathname":
        if (isSearchPrefix()) changeState("search", 1);
        else if (isPatternChar(tokenIndex, "#")) changeState("hash", 1);
        break;
      case "search":
        if (isPatternChar(tokenIndex, "#")) changeState("hash", 1);
        break;
      default:
        break;
    }
    tokenIndex += increment;
  }
  if (result.hostname !== undefined && result.port === undefined) result.port = "";
  return result;
}

// --- URLPattern (§1) ---------------------------------------------------------------------------

const defaultOptions = { delimiter: "", prefix: "", ignoreCase: false };
const hostnameOptions = { delimiter: ".", prefix: "", ignoreCase: false };
const pathnameOptions = { delimiter: "/", prefix: "/", ignoreCase: false };

function toInit(value, context) {
  const dict = webidl.toDictionary(value, context);
  const init = {};
  for (const key of [...components, "baseURL"]) {
    if (dict[key] !== undefined) init[key] = webidl.toUSVString(dict[key], context);
  }
  return init;
}

let patternOf;

class URLPattern {
  #components = {};

  constructor(input = undefined, baseURL = undefined, options = undefined) {
    const context = "Failed to construct 'URLPattern'";
    // Overloads: (input, baseURL, options) and (input, options).
    if (arguments.length < 3 && (baseURL === undefined || baseURL === null || webidl.isObject(baseURL))) {
      options = baseURL;
      baseURL = undefined;
    }
    const ignoreCase = Boolean(webidl.toDictionary(options, context).ignoreCase);
    let init;
    if (typeof input === "string" || (input !== undefined && !webidl.isObject(input))) {
      input = webidl.toUSVString(input, context);
      init = parseConstructorString(input);
      if (baseURL === undefined && init.protocol === undefined) {
        throw new TypeError(`${context}: relative pattern '${input}' needs a base URL`);
      }
      if (baseURL !== undefined) init.baseURL = webidl.toUSVString(baseURL, context);
    } else {
      if (baseURL !== undefined) throw new TypeError(`${context}: a base URL is only allowed with a string pattern`);
      init = toInit(input, context);
    }
    const processed = processInit(init, "pattern");
    for (const key of components) processed[key] ??= "*";
    if (Object.hasOwn(specialSchemes, processed.protocol) && processed.port === specialSchemes[processed.protocol]) {
      processed.port = "";
    }
    const c = this.#components;
    c.protocol = compileComponent(processed.protocol, canonicalizeProtocol, defaultOptions);
    c.username = compileComponent(processed.username, canonicalizeUsername, defaultOptions);
    c.password = compileComponent(processed.password, canonicalizePassword, defaultOptions);
    const ipv6 = /^(\[|\\\[|\{\[)/.test(processed.hostname);
    c.hostname = compileComponent(processed.hostname, ipv6 ? canonicalizeIPv6Hostname : canonicalizeHostname,
      hostnameOptions);
    c.port = compileComponent(processed.port, (v) => canonicalizePort(v), defaultOptions);
    const compileOptions = { ...defaultOptions, ignoreCase };
    const special = Object.keys(specialSchemes).some((s) => c.protocol.regexp.test(s));
    c.pathname = special
      ? compileComponent(processed.pathname, canonicalizePathname, { ...pathnameOptions, ignoreCase })
      : compileComponent(processed.pathname, canonicalizeOpaquePathname, compileOptions);
    c.search = compileComponent(processed.search, canonicalizeSearch, compileOptions);
    c.hash = compileComponent(processed.hash, canonicalizeHash, compileOptions);
  }

  static #check(self) {
    if (!webidl.isObject(self) || !(#components in self)) throw webidl.illegalInvocation();
  }

  static {
    patternOf = (pattern, key) => {
      URLPattern.#check(pattern);
      return pattern.#components[key].pattern;
    };
  }

  #match(input, baseURL) {
    const inputs = [input];
    let values;
    if (webidl.isObject(input)) {
      if (baseURL !== undefined) throw new TypeError("A base URL is only allowed with a string input");
      try {
        values = processInit(toInit(input), "url");
      } catch {
        return null;
      }
    } else {
      input = webidl.toUSVString(input);
      let parts;
      if (baseURL !== undefined) {
        baseURL = webidl.toUSVString(baseURL);
        inputs[0] = input;
        inputs.push(baseURL);
        parts = native.urlParse(input, baseURL);
      } else {
        inputs[0] = input;
        parts = native.urlParse(input);
      }
      if (parts === null || parts === undefined) return null;
      values = {
        protocol: parts[PROTOCOL].slice(0, -1),
        username: parts[USERNAME],
        password: parts[PASSWORD],
        hostname: parts[HOSTNAME],
        port: parts[PORT],
        pathname: parts[PATHNAME],
        search: parts[SEARCH].slice(1),
        hash: parts[HASH].slice(1),
      };
    }
    const result = { inputs };
    for (const key of components) {
      const value = values[key] ?? "";
      const component = this.#components[key];
      const match = component.regexp.exec(value);
      if (match === null) return null;
      const groups = {};
      component.names.forEach((name, i) => {
        groups[name] = match[i + 1];
      });
      result[key] = { input: value, groups };
    }
    return result;
  }

  test(input = {}, baseURL = undefined) {
    URLPattern.#check(this);
    return this.#match(input, baseURL) !== null;
  }

  exec(input = {}, baseURL = undefined) {
    URLPattern.#check(this);
    return this.#match(input, baseURL);
  }

  get hasRegExpGroups() {
    URLPattern.#check(this);
    return components.some((key) => this.#components[key].hasRegExpGroups);
  }
}

for (const key of components) {
  const get = function () {
    return patternOf(this, key);
  };
  Object.defineProperty(get, "name", { value: `get ${key}` });
  Object.defineProperty(URLPattern.prototype, key, { get, enumerable: true, configurable: true });
}
defineInterface(URLPattern);

defineGlobals({ URLPattern });
