// Guards in front of builtins that V8 runs to completion in C++ without looking at
// termination, where a large input means a V8 fatal error (the process aborts, with every
// request in flight on it) or minutes of CPU no watchdog can interrupt:
//   - a global RegExp match, replace or split of a 2**27-character string builds a result
//     longer than V8's largest FixedArray ("Fatal javascript OOM in invalid array length");
//   - fill, sort, reverse, indexOf... on a sparse array of length 2**32-1 walk four billion
//     indexes (dictionary-mode fill also grows a dictionary until the heap is exhausted);
//   - JSON.stringify of a 10M-element typed array lists 10M keys as strings.
// Each guard checks its input size before the builtin runs and throws a RangeError naming the
// limit. The caps follow from the memory limit: an element takes at least 8 bytes, so an
// array-like longer than limit / 8 cannot be dense (work on it is mostly holes); a global
// match costs V8's result builders a few dozen bytes per match, so a string longer than
// limit / 32 could need more than the isolate has, allocated where no termination reaches
// (the heap headroom is granted once; past it V8 aborts). Strings are also kept under 2**25
// code units so that no result reaches V8's FixedArray maximum whatever the limit.
// The builtins are captured here, before user code exists; the guards convert their inputs
// once (a string subject is passed on as the primitive that was checked), so a getter or
// valueOf cannot show one size to the check and another to V8. One gap is known: a Proxy or
// an accessor `length` may answer differently when the builtin reads it again; the process
// guard (ext/process_guard.h) and the OOM handler are the last line there.
const { checkRegExpArguments, checkRegExpCompile } = internal;

const { guard, toLength } = (function installBuiltinGuards() {
  const { apply: ReflectApply, defineProperty: ReflectDefineProperty } = Reflect;
  const { floor: MathFloor, min: MathMin, max: MathMax, trunc: MathTrunc } = Math;
  const ObjectCtor = Object;
  const { getOwnPropertyDescriptor: ObjectGetOwnPropertyDescriptor, getPrototypeOf: ObjectGetPrototypeOf } = Object;
  // ToString: a Symbol throws, as in the builtins (String(symbol) would describe it).
  const stringOf = (value) => `${value}`;
  const memoryLimit = native.memoryLimit;
  const MAX_SUBJECT = 2 ** 25;

  // The limit is fixed for an isolate's life; natives answer 0 while the snapshot is built.
  let limit = 0;
  const limitBytes = () => limit || (limit = memoryLimit()) || Infinity;
  const elementCap = () => MathFloor(limitBytes() / 8);
  const subjectCap = () => MathMin(MAX_SUBJECT, MathFloor(limitBytes() / 32));

  function toLength(value) {
    const n = MathTrunc(+value);
    return n > 0 ? MathMin(n, Number.MAX_SAFE_INTEGER) : 0;
  }

  function lengthOf(receiver, what) {
    if (receiver === null || receiver === undefined) throw new TypeError(`${what} called on null or undefined`);
    return toLength(ObjectCtor(receiver).length);
  }

  function tooLong(what, count, cap, unit) {
    return new RangeError(`${what}: ${count} ${unit} exceed the ${cap} the isolate's memory limit allows`);
  }

  // A relative index (start/end) as the builtin will see it; object arguments run user code
  // when converted, so for them the whole length counts.
  function relativeIndex(value, length, fallback) {
    if (value === undefined) return fallback;
    if (typeof value !== "number") return null;
    const n = MathTrunc(value) || 0;
    return n < 0 ? MathMax(length + n, 0) : MathMin(n, length);
  }

  // `check(receiver, args, name)` throws, or returns the receiver the builtin gets; it may
  // replace arguments in `args` (a fresh array) with the values it checked.
  function guard(owner, name, check) {
    const original = owner[name];
    if (typeof original !== "function") return;  // not in this V8 version
    const what = `${typeof name === "symbol" ? `[${name.description}]` : name}`;
    const wrapped = {
      [what](...args) {
        return ReflectApply(original, check(this, args, what), args);
      },
    }[what];
    ReflectDefineProperty(wrapped, "length", { value: original.length });
    ReflectDefineProperty(owner, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
  }

  // --- arrays: the work is proportional to the length, whatever the elements ---
  const arrayMethod = (name) => `Array.prototype.${name}`;
  function checkLength(receiver, args, name) {
    const length = lengthOf(receiver, arrayMethod(name));
    const cap = elementCap();
    if (length > cap) throw tooLong(arrayMethod(name), length, cap, "elements");
    return receiver;
  }
  for (const name of ["sort", "reverse", "indexOf", "lastIndexOf", "includes", "copyWithin", "slice", "splice",
    "shift", "unshift", "flat", "flatMap", "forEach", "map", "filter", "reduce", "reduceRight", "some", "every",
    "find", "findIndex", "findLast", "findLastIndex", "toReversed", "toSorted", "toSpliced", "with"]) {
    guard(Array.prototype, name, checkLength);
  }
  guard(Array.prototype, "fill", (receiver, args, name) => {
    const length = lengthOf(receiver, arrayMethod(name));
    const start = relativeIndex(args[1], length, 0);
    const end = relativeIndex(args[2], length, length);
    const count = start === null || end === null ? length : MathMax(end - start, 0);
    const cap = elementCap();
    if (count > cap) throw tooLong(arrayMethod(name), count, cap, "elements");
    return receiver;
  });
  // Array.from of an array-like allocates its length up front. Iterables are checked too:
  // a result longer than the cap could not fit in the memory limit anyway.
  guard(Array, "from", (receiver, args) => {
    const items = args[0];
    if (items !== null && items !== undefined) {
      const length = toLength(ObjectCtor(items).length);
      const cap = elementCap();
      if (length > cap) throw tooLong("Array.from", length, cap, "elements");
    }
    return receiver;
  });

  // --- strings: global matching, replacing and splitting make one result per match ---
  function subject(value, what) {
    const text = stringOf(value);
    const cap = subjectCap();
    if (text.length > cap) throw tooLong(what, text.length, cap, "characters");
    return text;
  }
  for (const symbol of [Symbol.match, Symbol.matchAll, Symbol.replace, Symbol.split]) {
    guard(RegExp.prototype, symbol, (receiver, args, name) => {
      args[0] = subject(args[0], `RegExp.prototype${name}`);
      checkRegExpCompile(receiver);  // before its first match compiles it (06_regexp_compile.js)
      return receiver;
    });
  }
  // --- regular expressions: a pattern's compile, before its first match (06_regexp_compile.js) ---
  function checkCompile(receiver) {
    checkRegExpCompile(receiver);
    return receiver;
  }
  guard(RegExp.prototype, "test", checkCompile);
  guard(RegExp.prototype, Symbol.search, checkCompile);
  guard(RegExp.prototype, "compile", (receiver, args) => {
    checkRegExpArguments(args);
    return receiver;
  });

  // The receiver is converted here and passed on as the checked string (with a RegExp
  // pattern, the builtin hands it to the RegExp guards above).
  function checkReceiver(receiver, args, name) {
    const what = `String.prototype.${name}`;
    if (receiver === null || receiver === undefined) throw new TypeError(`${what} called on null or undefined`);
    return subject(receiver, what);
  }
  guard(String.prototype, "split", checkReceiver);
  guard(String.prototype, "replaceAll", checkReceiver);

  // --- typed arrays in JSON: V8 serializes a typed array as an object, listing its keys as
  // strings first, all in one builtin: 0.6 us per byte element, 1.4 us per double.
  // JSON.stringify of { d: a 10M-element typed array } ran out of heap under a 128 MB limit
  // (the process aborts), of 3M elements it took 1.7 s of CPU. JSON.stringify calls a toJSON
  // for every value that has one, at any depth: this one refuses a typed array past one step
  // (64K elements: under 0.1 s) and hands on the rest. A plain array serializes in steps.
  const JSON_STEP = 65536;
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
  const typedGetter = (name) => ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, name).get;
  const typedArrayTag = typedGetter(Symbol.toStringTag);
  const typedArrayLength = typedGetter("length");
  ReflectDefineProperty(TypedArrayPrototype, "toJSON", {
    value: {
      toJSON(key) {
        if (ReflectApply(typedArrayTag, this, []) !== undefined) {
          const length = ReflectApply(typedArrayLength, this, []);
          if (length > JSON_STEP) {
            throw new RangeError(`JSON.stringify: a typed array of ${length} elements is past the ${JSON_STEP} ` +
              "serialized as an object; serialize Array.from(it), an array, instead");
          }
        }
        return this;
      },
    }.toJSON,
    writable: true, enumerable: false, configurable: true,
  });
  return { guard, toLength };
})();

Object.assign(internal, { guard, toLength });
