// The RegExp constructor and `compile`, in front of a compile that no limit stops. V8 parses
// a pattern when the RegExp is made and compiles it on its first match, each in one step; with
// the flags `i` and `u` (or `v`), every '.', \S, \W, \D, \p{…} or wide class range makes it
// close a set of up to a million code points over case folding, some 2.5 ms each here: a
// 400-character pattern of dots took 1.1 s, past the process guard's grace (the worker ends,
// with every request in flight). A pattern whose compile this file estimates past
// MAX_COMPILE_US is refused with a SyntaxError, as V8 refuses one too large to compile.
// The estimate follows what the pattern names, not its length alone (measured with V8 10.2,
// `tests/engine/test_regexp_guard.py`); a regular expression literal in the app's own code,
// or in a string given to `eval`, is compiled as V8 reads it (ext/code_from_strings.h bounds
// the latter's length).
"use strict";

(function installRegExpGuard() {
  const {
    apply: ReflectApply, construct: ReflectConstruct, defineProperty: ReflectDefineProperty,
    getOwnPropertyDescriptor: ReflectGetOwnPropertyDescriptor,
  } = Reflect;
  const BuiltinRegExp = RegExp;
  const RegExpPrototype = BuiltinRegExp.prototype;
  const getter = (name) => ReflectGetOwnPropertyDescriptor(RegExpPrototype, name)?.get;
  const sourceOf = getter("source");
  const flagGetters = [["d", getter("hasIndices")], ["g", getter("global")], ["i", getter("ignoreCase")],
    ["m", getter("multiline")], ["s", getter("dotAll")], ["u", getter("unicode")], ["v", getter("unicodeSets")],
    ["y", getter("sticky")]].filter(([, get]) => get !== undefined);
  const builtinCompile = RegExpPrototype.compile;
  const matchSymbol = Symbol.match;
  // `call` bound once: user code may replace the prototypes' methods, not these.
  const uncurry = (method) => Function.prototype.call.bind(method);
  const charCodeAt = uncurry(String.prototype.charCodeAt);
  const codePointAt = uncurry(String.prototype.codePointAt);
  const includes = uncurry(String.prototype.includes);
  const indexOf = uncurry(String.prototype.indexOf);
  const slice = uncurry(String.prototype.slice);
  const stringOf = (value) => `${value}`;
  const SyntaxErrorCtor = SyntaxError;
  const { round: MathRound } = Math;

  // µs, measured with V8 10.2 and rounded up: a wide set closed over case folding (2.2 to
  // 2.8 ms for '.', \S, \P{L}, \p{Cn}; 0.5 ms for \p{L}); a property escape's lookup in ICU
  // under `u` alone (75); a class range per 1,000 code points under `i` (2.2 to 2.7); per
  // character (0.4 for a list of words, 3.2 for the same with `iu`), and per group (11).
  const WIDE_SET_US = 3000;
  const PROPERTY_US = 100;
  const RANGE_PER_1K_US = 3;
  const CHAR_US = 0.5;
  const CHAR_FOLDED_US = 4;
  const GROUP_US = 12;
  const MAX_COMPILE_US = 150_000;
  // Below this length with neither `i` nor `u`, no pattern can reach the bound (12 µs a character).
  const UNSCANNED = 4096;

  // A real RegExp (not RegExp.prototype, whose getters answer undefined).
  function isBuiltinRegExp(value) {
    if (value === null || (typeof value !== "object" && typeof value !== "function") || value === RegExpPrototype) {
      return false;
    }
    try {
      ReflectApply(sourceOf, value, []);
      return true;
    } catch {
      return false;
    }
  }

  function flagsOf(regexp) {
    let flags = "";
    for (let i = 0; i < flagGetters.length; i++) {
      if (ReflectApply(flagGetters[i][1], regexp, [])) flags += flagGetters[i][0];
    }
    return flags;
  }

  const hexValue = (code) => (code >= 48 && code <= 57 ? code - 48 : code >= 97 && code <= 102 ? code - 87
    : code >= 65 && code <= 70 ? code - 55 : -1);

  // Where the escape classEscape read last ends.
  let escapeEnd = 0;

  // The code point an escape inside a class names (`at` is just past the backslash), or -1 for
  // a class escape (\d, \p{…}: no range endpoint); sets escapeEnd. No arrays: their iteration
  // is user code's to replace.
  function classEscape(pattern, at, unicode) {
    const code = charCodeAt(pattern, at);
    switch (code) {
      case 117: {  // u
        if (unicode && charCodeAt(pattern, at + 1) === 123 /* { */) {
          const close = indexOf(pattern, "}", at + 2);
          escapeEnd = close < 0 ? pattern.length : close + 1;
          let value = 0;
          for (let i = at + 2; i < close && value <= 0x10ffff; i++) {
            value = value * 16 + hexValue(charCodeAt(pattern, i));
          }
          return close < 0 ? -1 : value;
        }
        let value = 0;
        for (let i = at + 1; i < at + 5 && value >= 0; i++) {
          const digit = hexValue(charCodeAt(pattern, i));
          value = digit < 0 ? -1 : value * 16 + digit;
        }
        escapeEnd = value >= 0 ? at + 5 : at + 1;
        return value >= 0 ? value : code;
      }
      case 120: {  // x
        const high = hexValue(charCodeAt(pattern, at + 1));
        const low = hexValue(charCodeAt(pattern, at + 2));
        escapeEnd = high >= 0 && low >= 0 ? at + 3 : at + 1;
        return high >= 0 && low >= 0 ? high * 16 + low : code;
      }
      case 99:  // c
        escapeEnd = at + 2;
        return charCodeAt(pattern, at + 1) % 32;
      case 112: case 80: {  // p, P
        const close = unicode ? indexOf(pattern, "}", at) : -1;
        escapeEnd = close < 0 ? at + 1 : close + 1;
        return -1;
      }
      case 100: case 68: case 115: case 83: case 119: case 87:  // d, D, s, S, w, W
        escapeEnd = at + 1;
        return -1;
      case 110: escapeEnd = at + 1; return 10;
      case 114: escapeEnd = at + 1; return 13;
      case 116: escapeEnd = at + 1; return 9;
      case 118: escapeEnd = at + 1; return 11;
      case 102: escapeEnd = at + 1; return 12;
      case 48: escapeEnd = at + 1; return 0;
      case 98: escapeEnd = at + 1; return 8;
      default:
        escapeEnd = at + (unicode && code >= 0xd800 && code < 0xdc00 ? 2 : 1);
        return unicode ? codePointAt(pattern, at) : code;
    }
  }

  // What compiling `pattern` with `flags` is estimated to cost, in µs.
  function compileCost(pattern, flags) {
    const folded = includes(flags, "i");
    const unicode = includes(flags, "u") || includes(flags, "v");
    const dotAll = includes(flags, "s");
    const length = pattern.length;
    if (!folded && !unicode && length <= UNSCANNED) return 0;
    const wide = folded && unicode;
    let cost = length * (wide ? CHAR_FOLDED_US : CHAR_US);
    let depth = 0;  // classes open (nested under `v`)
    let previous = -1;  // the class's last code point, a range's start
    for (let i = 0; i < length;) {
      const code = charCodeAt(pattern, i);
      if (code === 92 /* \ */) {
        const escaped = charCodeAt(pattern, i + 1);
        if (escaped === 112 || escaped === 80) {  // \p{…}, \P{…}
          if (unicode) cost += folded ? WIDE_SET_US : PROPERTY_US;
        } else if (escaped === 83 || escaped === 87 || escaped === 68) {  // \S, \W, \D
          if (wide) cost += WIDE_SET_US;
        }
        if (depth > 0) {
          previous = classEscape(pattern, i + 1, unicode);
          i = escapeEnd;
        } else {
          i += 2;
        }
        continue;
      }
      if (depth > 0) {
        if (code === 93 /* ] */) {
          depth--;
          previous = -1;
        } else if (code === 91 /* [ */ && includes(flags, "v")) {
          depth++;
          previous = -1;
        } else if (code === 45 /* - */ && previous >= 0 && i + 1 < length &&
                   charCodeAt(pattern, i + 1) !== 93) {
          const next = charCodeAt(pattern, i + 1);
          let last;
          if (next === 92) {
            last = classEscape(pattern, i + 2, unicode);
            i = escapeEnd;
          } else {
            last = unicode ? codePointAt(pattern, i + 1) : next;
            i += unicode && next >= 0xd800 && next < 0xdc00 ? 3 : 2;
          }
          if (folded && last > previous) cost += ((last - previous) / 1000) * RANGE_PER_1K_US;
          previous = -1;
          continue;
        } else {
          previous = unicode ? codePointAt(pattern, i) : code;
          if (previous > 0xffff) i++;
        }
        i++;
        continue;
      }
      if (code === 91) {
        depth = 1;
        previous = -1;
      } else if (code === 40 /* ( */) {
        cost += GROUP_US;
      } else if (code === 46 /* . */ && wide && !dotAll) {
        cost += WIDE_SET_US;
      }
      i++;
    }
    return cost;
  }

  function check(pattern, flags) {
    const cost = compileCost(pattern, flags);
    if (cost <= MAX_COMPILE_US) return;
    const shown = pattern.length > 64 ? slice(pattern, 0, 64) + "…" : pattern;
    throw new SyntaxErrorCtor(
      `Invalid regular expression: /${shown}/${flags}: compiling it would take about ${MathRound(cost / 1000)} ms ` +
      `of CPU in one step no limit can stop (with the flags i and u or v, each '.', \\S, \\W, \\D, \\p{…} and ` +
      `wide class range costs milliseconds); at most ${MAX_COMPILE_US / 1000} ms is allowed`);
  }

  function isRegExp(value) {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return false;
    const matcher = value[matchSymbol];
    return matcher !== undefined ? !!matcher : isBuiltinRegExp(value);
  }

  // The spec's RegExp(pattern, flags) up to RegExpInitialize, with the pattern and flags turned
  // into strings once, checked, and given to the builtin as strings (or the RegExp itself).
  function make(pattern, flags, newTarget) {
    const patternIsRegExp = isRegExp(pattern);
    if (newTarget === undefined) {
      newTarget = GuardedRegExp;
      if (patternIsRegExp && flags === undefined && pattern.constructor === newTarget) return pattern;
    }
    let source = pattern;
    if (isBuiltinRegExp(pattern)) {
      source = ReflectApply(sourceOf, pattern, []);
      if (flags === undefined) flags = flagsOf(pattern);
    } else if (patternIsRegExp) {
      source = pattern.source;
      if (flags === undefined) flags = pattern.flags;
    }
    source = source === undefined ? "" : stringOf(source);
    flags = flags === undefined ? "" : stringOf(flags);
    check(source, flags);
    return ReflectConstruct(BuiltinRegExp, [source, flags], newTarget);
  }

  const GuardedRegExp = new Proxy(BuiltinRegExp, {
    // `args[0]` of an empty list would read Array.prototype[0], user code's to set.
    construct(target, args, newTarget) {
      return make(args.length > 0 ? args[0] : undefined, args.length > 1 ? args[1] : undefined, newTarget);
    },
    apply(target, receiver, args) {
      return make(args.length > 0 ? args[0] : undefined, args.length > 1 ? args[1] : undefined, undefined);
    },
  });

  ReflectDefineProperty(RegExpPrototype, "constructor",
    { value: GuardedRegExp, writable: true, enumerable: false, configurable: true });
  ReflectDefineProperty(globalThis, "RegExp", { value: GuardedRegExp, writable: true, enumerable: false, configurable: true });

  const compile = {
    compile(pattern, flags) {
      if (isBuiltinRegExp(pattern)) {
        if (flags === undefined) check(ReflectApply(sourceOf, pattern, []), flagsOf(pattern));
        return ReflectApply(builtinCompile, this, [pattern, flags]);
      }
      const source = pattern === undefined ? "" : stringOf(pattern);
      const text = flags === undefined ? "" : stringOf(flags);
      check(source, text);
      return ReflectApply(builtinCompile, this, [source, text]);
    },
  }.compile;
  ReflectDefineProperty(compile, "length", { value: 2 });
  ReflectDefineProperty(RegExpPrototype, "compile", { value: compile, writable: true, enumerable: false, configurable: true });
})();
