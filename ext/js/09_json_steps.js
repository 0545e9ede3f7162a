// JSON.parse in steps. V8 parses JSON in C++ without looking at termination, and what a text
// costs depends on what it builds, not only on its length: under a 128 MB, 50 ms limit, a
// 9 MB request body (under the default max_body_mb) of `[{},{},...]` held a core for 8.2 s
// in `request.json()`, `[[],[],...]` 4.5 s (each scavenge rescans the values built so far),
// an object of 600K members 0.75 s. Past PARSE_STEP characters the text is read here
// instead, so the call stops at its limits: the builtin reads shorter texts (at most a few ms
// of work), and each run of array elements and each array or object no longer than that,
// found by a native scan of brackets and quotes (ext/json_natives.cc); the rest is read here
// a token at a time.
// The result is the builtin's: the same values, keys in the same order, own data properties
// made as the builtin makes them (containers grow with no prototype, so no setter a user
// added to Object.prototype or Array.prototype runs, and `__proto__` is a plain key), and the
// reviver called as the spec's InternalizeJSONProperty calls it. Syntax errors name the
// position in V8 10's words on every V8.
"use strict";

(function installJsonSteps() {
  const builtinParse = JSON.parse;
  const { apply: ReflectApply, defineProperty: ReflectDefineProperty, deleteProperty: ReflectDeleteProperty } =
    Reflect;
  const { charCodeAt: StringCharCodeAt, slice: StringSlice } = String.prototype;
  const { keys: ObjectKeys, setPrototypeOf: ObjectSetPrototypeOf } = Object;
  const { fromCharCode: StringFromCharCode } = String;
  const { trunc: MathTrunc, min: MathMin } = Math;
  const ArrayIsArray = Array.isArray;
  const ArrayPrototype = Array.prototype;
  const ObjectPrototype = Object.prototype;
  const NumberCtor = Number;
  const SyntaxErrorCtor = SyntaxError;
  const PARSE_STEP = 65536;  // as kJsonStepUnits in ext/json_natives.cc
  const { jsonSpan } = native;

  const unitAt = (text, index) => ReflectApply(StringCharCodeAt, text, [index]);
  const sliceOf = (text, start, end) => ReflectApply(StringSlice, text, [start, end]);
  const isDigit = (unit) => unit >= 0x30 && unit <= 0x39;
  const isHex = (unit) => isDigit(unit) || (unit >= 0x41 && unit <= 0x46) || (unit >= 0x61 && unit <= 0x66);
  const QUOTE = 0x22;
  const BACKSLASH = 0x5c;
  const COMMA = 0x2c;
  const COLON = 0x3a;
  const OPEN_ARRAY = 0x5b;
  const CLOSE_ARRAY = 0x5d;
  const OPEN_OBJECT = 0x7b;
  const CLOSE_OBJECT = 0x7d;
  const MINUS = 0x2d;
  const PLUS = 0x2b;
  const DOT = 0x2e;
  const ZERO = 0x30;
  // After a backslash, besides u and its four hex digits: " \ / b f n r t.
  const isEscape = (unit) => unit === 0x22 || unit === 0x5c || unit === 0x2f || unit === 0x62 || unit === 0x66 ||
    unit === 0x6e || unit === 0x72 || unit === 0x74;

  function unexpected(text, at) {
    if (at >= text.length) return new SyntaxErrorCtor("Unexpected end of JSON input");
    const unit = unitAt(text, at);
    const what = unit === QUOTE ? "string" : isDigit(unit) || unit === MINUS ? "number"
      : `token ${StringFromCharCode(unit)}`;
    return new SyntaxErrorCtor(`Unexpected ${what} in JSON at position ${at}`);
  }

  function skipSpace(text, at) {
    for (;;) {
      const unit = unitAt(text, at);
      if (unit !== 0x20 && unit !== 0x0a && unit !== 0x0d && unit !== 0x09) return at;
      at++;
    }
  }

  // Where the string token starting at `at` (a quote) ends, one past its closing quote;
  // `escaped` tells whether it holds an escape (then the builtin decodes it).
  let escaped = false;
  function stringEnd(text, at) {
    escaped = false;
    for (let index = at + 1; ;) {
      const unit = unitAt(text, index);
      if (unit === QUOTE) return index + 1;
      if (unit === BACKSLASH) {
        escaped = true;
        const next = unitAt(text, index + 1);
        if (next === 0x75) {
          for (let digit = 2; digit < 6; digit++) {
            if (!isHex(unitAt(text, index + digit))) throw unexpected(text, index + digit);
          }
          index += 6;
        } else if (isEscape(next)) {
          index += 2;
        } else {
          throw unexpected(text, index + 1);
        }
      } else if (unit < 0x20 || unit !== unit) {  // a control character, or the text's end (NaN)
        throw unexpected(text, index);
      } else {
        index++;
      }
    }
  }

  function stringAt(text, at, end) {
    return escaped ? builtinParse(sliceOf(text, at, end)) : sliceOf(text, at + 1, end - 1);
  }

  function digitsEnd(text, at) {
    if (!isDigit(unitAt(text, at))) throw unexpected(text, at);
    while (isDigit(unitAt(text, at))) at++;
    return at;
  }

  // -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
  function numberEnd(text, at) {
    if (unitAt(text, at) === MINUS) at++;
    at = unitAt(text, at) === ZERO ? at + 1 : digitsEnd(text, at);
    if (unitAt(text, at) === DOT) at = digitsEnd(text, at + 1);
    const unit = unitAt(text, at);
    if (unit === 0x65 || unit === 0x45) {
      at++;
      const sign = unitAt(text, at);
      if (sign === PLUS || sign === MINUS) at++;
      at = digitsEnd(text, at);
    }
    return at;
  }

  function growing(isArray) {
    const container = isArray ? [] : {};
    ObjectSetPrototypeOf(container, null);
    return container;
  }

  function completed(container, isArray) {
    ObjectSetPrototypeOf(container, isArray ? ArrayPrototype : ObjectPrototype);
    return container;
  }

  // native.jsonSpan (ext/json_natives.cc): where the value at `at`, or the run of array
  // elements or object members from `at`, ends within a step; -1 if it does not. Containers
  // still open at the step's end are marked in `big`, so that none is scanned again: each unit
  // is scanned about twice.
  const VALUE = 0;
  const ELEMENTS = 1;
  const MEMBERS = 2;
  function spanEnd(text, at, kind, big) {
    const span = jsonSpan(text, at, kind);
    if (typeof span === "number") return span;
    for (let index = 0; index < span.length; index++) big[span[index]] = true;
    return -1;
  }

  // The builtin's value of `text` (a piece of the whole), or UNPARSED if that is not JSON:
  // then the piece is read here, and the error names its position in the whole text.
  const UNPARSED = {};
  function parsedPiece(text) {
    try {
      return builtinParse(text);
    } catch {
      return UNPARSED;
    }
  }

  // The run of members from `at` that ends within a step, read by the builtin and put into
  // `object` in their order (a key seen before keeps its place and takes the new value, as in
  // the builtin); where the run ends, or -1 when the members are to be read here.
  const NOTHING = {};
  function membersRead(text, at, object, big) {
    const end = unitAt(text, at) === QUOTE ? spanEnd(text, at, MEMBERS, big) : -1;
    if (end === -1) return -1;
    const members = parsedPiece(`{${sliceOf(text, at, end)}}`);
    if (members === UNPARSED) return -1;
    const keys = ObjectKeys(members);
    for (let index = 0; index < keys.length; index++) object[keys[index]] = members[keys[index]];
    return end;
  }

  // Containers open around the value being read are kept on a stack of (container, isArray,
  // key) triples, not in JS frames: the builtin reads 100K levels of nesting, so must this.
  // The stack has no prototype either: no user's push, pop or index setter runs.
  function parseInSteps(text) {
    const stack = growing(true);
    let depth = 0;
    const big = growing(false);  // positions of containers known to be longer than a step
    let container = null;
    let isArray = false;
    let key = "";
    let at = skipSpace(text, 0);
    for (;;) {
      let value;
      const unit = unitAt(text, at);
      // An array's run of elements, or a container, that ends within a step: the builtin's.
      const end = (isArray || unit === OPEN_ARRAY || unit === OPEN_OBJECT) && big[at] !== true
        ? spanEnd(text, at, isArray ? ELEMENTS : VALUE, big) : -1;
      const values = end !== -1 && isArray ? parsedPiece(`[${sliceOf(text, at, end)}]`) : UNPARSED;
      if (values !== UNPARSED) {
        // All but the last into the array here; the last goes as any value does, below.
        const last = values.length - 1;
        for (let index = 0; index < last; index++) container[container.length] = values[index];
        value = values[last];
        at = end;
      } else if (end !== -1 && !isArray && (value = parsedPiece(sliceOf(text, at, end))) !== UNPARSED) {
        at = end;
      } else if (unit === OPEN_ARRAY || unit === OPEN_OBJECT) {
        const opening = unit === OPEN_ARRAY;
        const opened = growing(opening);
        at = skipSpace(text, at + 1);
        if (unitAt(text, at) === (opening ? CLOSE_ARRAY : CLOSE_OBJECT)) {
          value = completed(opened, opening);
          at++;
        } else {
          stack[depth++] = container;
          stack[depth++] = isArray;
          stack[depth++] = key;
          container = opened;
          isArray = opening;
          if (isArray) continue;
          const run = membersRead(text, at, container, big);
          if (run === -1) {
            at = memberKey(text, at);
            continue;
          }
          at = run;
          value = NOTHING;
        }
      } else if (unit === QUOTE) {
        const end = stringEnd(text, at);
        value = stringAt(text, at, end);
        at = end;
      } else if (unit === MINUS || isDigit(unit)) {
        const end = numberEnd(text, at);
        value = NumberCtor(sliceOf(text, at, end));
        at = end;
      } else {
        value = literalAt(text, at);
        at += value === false ? 5 : 4;
      }
      // `value` is complete: into its container, then the container's next member or its end.
      for (;;) {
        at = skipSpace(text, at);
        if (container === null) {
          if (at < text.length) throw unexpected(text, at);
          return value;
        }
        if (value === NOTHING) {
          // The members just read went in already.
        } else if (isArray) {
          container[container.length] = value;
        } else {
          container[key] = value;
        }
        const next = unitAt(text, at);
        if (next === COMMA) {
          at = skipSpace(text, at + 1);
          if (isArray) break;
          const run = membersRead(text, at, container, big);
          if (run === -1) {
            at = memberKey(text, at);
            break;
          }
          at = run;
          value = NOTHING;
          continue;
        }
        if (next !== (isArray ? CLOSE_ARRAY : CLOSE_OBJECT)) throw unexpected(text, at);
        at++;
        value = completed(container, isArray);
        key = stack[--depth];
        isArray = stack[--depth];
        container = stack[--depth];
      }
    }

    // Reads `"name" :` at `at` into `key`; where the member's value starts.
    function memberKey(text, at) {
      if (unitAt(text, at) !== QUOTE) throw unexpected(text, at);
      const end = stringEnd(text, at);
      key = stringAt(text, at, end);
      at = skipSpace(text, end);
      if (unitAt(text, at) !== COLON) throw unexpected(text, at);
      return skipSpace(text, at + 1);
    }
  }

  // true, false or null at `at`; else the error names the first unit that differs.
  function literalAt(text, at) {
    const first = unitAt(text, at);
    const word = first === 0x74 ? "true" : first === 0x66 ? "false" : "null";
    const value = first === 0x74 ? true : first === 0x66 ? false : null;
    for (let index = 0; index < word.length; index++) {
      if (unitAt(text, at + index) !== unitAt(word, index)) throw unexpected(text, at + index);
    }
    return value;
  }

  // The spec's InternalizeJSONProperty: the reviver sees each value after its members, with
  // its holder as `this`; undefined deletes the member.
  function internalize(holder, name, reviver) {
    const value = holder[name];
    if ((typeof value === "object" && value !== null) || typeof value === "function") {
      if (ArrayIsArray(value)) {
        const length = MathMin(MathTrunc(+value.length) || 0, 2 ** 53 - 1);
        for (let index = 0; index < length; index++) revive(value, `${index}`, reviver);
      } else {
        const keys = ObjectKeys(value);
        for (let index = 0; index < keys.length; index++) revive(value, keys[index], reviver);
      }
    }
    return ReflectApply(reviver, holder, [name, value]);
  }

  function revive(object, key, reviver) {
    const element = internalize(object, key, reviver);
    if (element === undefined) {
      ReflectDeleteProperty(object, key);
    } else {
      ReflectDefineProperty(object, key, { value: element, writable: true, enumerable: true, configurable: true });
    }
  }

  const parse = {
    parse(text, reviver) {
      const source = `${text}`;
      if (source.length <= PARSE_STEP) return builtinParse(source, reviver);
      const value = parseInSteps(source);
      return typeof reviver === "function" ? internalize({ "": value }, "", reviver) : value;
    },
  }.parse;
  ReflectDefineProperty(parse, "length", { value: 2 });
  ReflectDefineProperty(JSON, "parse", { value: parse, writable: true, enumerable: false, configurable: true });
})();
