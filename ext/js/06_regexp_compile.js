// The cost of a RegExp's compile, which V8 runs in one step that no limit stops. V8
// compiles a pattern on its first match; with the flags `i` and `u` (or `v`), every '.', \S,
// \W, \D, \p{…} or wide class range makes it close a set of up to a million code points over
// case folding, some 2.5 ms each here: 400 dots took 1.1 s, past the process guard's grace
// (the worker ends, with every request in flight). 07_builtin_guards.js calls
// checkRegExpCompile before a match through `test`, `search`, `match`, `matchAll`, `replace`
// or `split`, and checkRegExpArguments in `compile`: a pattern whose compile is estimated past
// MAX_COMPILE_US is refused with a SyntaxError, as V8 refuses one too large to compile.
//
// Not guarded, for what it would cost every app: `exec` called directly (with `exec` or the
// constructor replaced, V8 runs every split and replace on its slow path, 10 to 40 times
// slower), and the constructor's parse of \p{…} escapes (about 0.1 ms each under `u`) in a
// pattern made at run time. Sources are bounded by ext/regexp_sources.h.
"use strict";

const { getOwnPropertyDescriptor: ReflectGetOwnPropertyDescriptor } = Reflect;
const RegExpPrototype = RegExp.prototype;
// `call` bound once: user code may replace the prototypes' methods, not these (nor `call`).
const uncurry = (method) => Function.prototype.call.bind(method);
const getter = (name) => {
  const get = ReflectGetOwnPropertyDescriptor(RegExpPrototype, name)?.get;
  return get === undefined ? undefined : uncurry(get);
};
const sourceOf = getter("source");
const flagGetters = [["d", getter("hasIndices")], ["g", getter("global")], ["i", getter("ignoreCase")],
  ["m", getter("multiline")], ["s", getter("dotAll")], ["u", getter("unicode")], ["v", getter("unicodeSets")],
  ["y", getter("sticky")]].filter(([, get]) => get !== undefined);
const ignoreCaseOf = getter("ignoreCase");
const unicodeOf = getter("unicode");
const unicodeSetsOf = getter("unicodeSets") ?? (() => false);  // V8 11's `v`
const dotAllOf = getter("dotAll");
const charCodeAt = uncurry(String.prototype.charCodeAt);
const codePointAt = uncurry(String.prototype.codePointAt);
const includes = uncurry(String.prototype.includes);
const indexOf = uncurry(String.prototype.indexOf);
const slice = uncurry(String.prototype.slice);
const mapGet = uncurry(Map.prototype.get);
const mapSet = uncurry(Map.prototype.set);
const mapClear = uncurry(Map.prototype.clear);
const mapSize = uncurry(ReflectGetOwnPropertyDescriptor(Map.prototype, "size").get);
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

function flagsOf(regexp) {
  let flags = "";
  for (let i = 0; i < flagGetters.length; i++) {
    if (flagGetters[i][1](regexp)) flags += flagGetters[i][0];
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

// Refuses `pattern` if its compile with `flags` is estimated past the bound; `shown` are the
// flags the message names (the RegExp's own, where `flags` holds only those that cost).
function check(pattern, flags, shown = flags) {
  const cost = compileCost(pattern, flags);
  if (cost <= MAX_COMPILE_US) return;
  const text = pattern.length > 64 ? slice(pattern, 0, 64) + "…" : pattern;
  throw new SyntaxErrorCtor(
    `Invalid regular expression: /${text}/${shown}: compiling it would take about ${MathRound(cost / 1000)} ms ` +
    `of CPU in one step no limit can stop (with the flags i and u or v, each '.', \\S, \\W, \\D, \\p{…} and ` +
    `wide class range costs milliseconds); at most ${MAX_COMPILE_US / 1000} ms is allowed`);
}

// A real RegExp (RegExp.prototype's getters answer undefined; any other value's throw).
function isRegExp(value) {
  try {
    return ignoreCaseOf(value) !== undefined;
  } catch {
    return false;
  }
}

// Sources with `i` and `u` or `v` found cheap enough, each with a bit per flag set: V8 keeps
// one compiled pattern per source and flags, and a literal in a loop is a new RegExp each
// time (its source the same string). Emptied past CHECKED_MAX sources or CHECKED_CHARS
// characters of them: it keeps them alive, in the isolate's heap.
const checked = new Map();
const CHECKED_MAX = 1024;
const CHECKED_CHARS = 1 << 20;
let checkedChars = 0;

// Before `regexp` first matches: refuses one whose compile would run past the bound. Only
// `i` with `u` or `v` makes a short pattern costly; a long one was paid for as V8 parsed it.
function checkRegExpCompile(regexp) {
  let folded;
  try {
    folded = ignoreCaseOf(regexp);
  } catch {
    return;  // not a RegExp: the builtin says so
  }
  if (!folded) return;
  const sets = unicodeSetsOf(regexp);
  if (!sets && !unicodeOf(regexp)) return;
  const dotAll = dotAllOf(regexp);
  const bit = (sets ? 2 : 1) << (dotAll ? 2 : 0);
  const source = sourceOf(regexp);
  const seen = mapGet(checked, source);
  if (seen !== undefined && (seen & bit) !== 0) return;
  check(source, (sets ? "iv" : "iu") + (dotAll ? "s" : ""), flagsOf(regexp));
  if (mapSize(checked) >= CHECKED_MAX || checkedChars + source.length > CHECKED_CHARS) {
    mapClear(checked);
    checkedChars = 0;
  }
  if (seen === undefined) checkedChars += source.length;
  mapSet(checked, source, (seen ?? 0) | bit);
}

// `compile(pattern, flags)` parses and compiles anew: the whole estimate, parse included. The
// arguments are turned into strings here, once, and passed on so (a RegExp with no flags as
// it is).
function checkRegExpArguments(args) {
  // An element past the list's end would be read from Array.prototype, user code's to set.
  const pattern = args.length > 0 ? args[0] : undefined;
  const flags = args.length > 1 ? args[1] : undefined;
  if (isRegExp(pattern)) {
    if (flags === undefined) check(sourceOf(pattern), flagsOf(pattern));
    return;
  }
  args[0] = pattern === undefined ? "" : stringOf(pattern);
  args[1] = flags === undefined ? "" : stringOf(flags);
  check(args[0], args[1]);
}

Object.assign(internal, { checkRegExpArguments, checkRegExpCompile });
