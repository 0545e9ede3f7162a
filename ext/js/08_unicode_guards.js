// Normalization and collation in front of ICU, whose cost grows with the square of a run of
// combining marks (ext/unicode_natives.cc): V8's `normalize` took 41 s of CPU for 512 KB of
// text, and `localeCompare` 1.1 s for 64 KB, in one call no limit stops. Strings of up to
// SHORT units go to the builtins as they are (a run that long costs ICU under a millisecond).
// Longer ones are normalized in steps that stop at the call's limit, and are checked before
// collation; a run of more than 1024 characters with no normalization boundary, which no
// text in any script has, is refused with a RangeError.
// The builtins are captured here, before user code exists; the receiver and arguments are
// converted once and the checked strings passed on.
const { checkedCompareArguments } = internal;

(function installUnicodeGuards() {
  const { apply: ReflectApply, defineProperty: ReflectDefineProperty } = Reflect;
  const { getOwnPropertyDescriptor: ObjectGetOwnPropertyDescriptor, getPrototypeOf: ObjectGetPrototypeOf } = Object;
  // ToString: a Symbol throws, as in the builtins (String(symbol) would describe it).
  const stringOf = (value) => `${value}`;
  const { get: WeakMapGet, set: WeakMapSet } = WeakMap.prototype;
  const { normalizeInSteps, checkNormalizationRuns } = native;
  const stringSlice = String.prototype.slice;
  const SHORT = 1024;

  function receiverString(receiver, what) {
    if (receiver === null || receiver === undefined) throw new TypeError(`${what} called on null or undefined`);
    return stringOf(receiver);
  }

  function replaceMethod(owner, name, method, length) {
    ReflectDefineProperty(method, "length", { value: length });
    ReflectDefineProperty(owner, name, { value: method, writable: true, enumerable: false, configurable: true });
  }

  const builtinNormalize = String.prototype.normalize;
  replaceMethod(String.prototype, "normalize", {
    normalize(form) {
      const text = receiverString(this, "String.prototype.normalize");
      const name = form === undefined ? "NFC" : stringOf(form);
      if (text.length <= SHORT) return ReflectApply(builtinNormalize, text, [name]);
      const result = normalizeInSteps(text, name);
      return result[0] === text.length ? text : ReflectApply(stringSlice, text, [0, result[0]]) + result[1];
    },
  }.normalize, 0);

  function checkRuns(text, what) {
    if (text.length > SHORT) checkNormalizationRuns(text, what);
    return text;
  }

  // Locales and options as 08_intl_guards.js checks them, in this one wrapper of the method.
  const builtinLocaleCompare = String.prototype.localeCompare;
  replaceMethod(String.prototype, "localeCompare", {
    localeCompare(that, locales, options) {
      const what = "String.prototype.localeCompare";
      const text = checkRuns(receiverString(this, what), what);
      const compared = checkRuns(stringOf(that), what);
      if (locales === undefined && options === undefined) return ReflectApply(builtinLocaleCompare, text, [compared]);
      return ReflectApply(builtinLocaleCompare, text, checkedCompareArguments(compared, locales, options));
    },
  }.localeCompare, 1);

  // `compare` is a getter returning a function bound to the collator, the same one each time.
  const collatorCompare = ObjectGetOwnPropertyDescriptor(Intl.Collator.prototype, "compare");
  const guardedCompares = new WeakMap();
  ReflectDefineProperty(Intl.Collator.prototype, "compare", {
    ...collatorCompare,
    get: ObjectGetOwnPropertyDescriptor({
      get compare() {
        const bound = ReflectApply(collatorCompare.get, this, []);
        let guarded = ReflectApply(WeakMapGet, guardedCompares, [bound]);
        if (guarded === undefined) {
          const what = "Intl.Collator.prototype.compare";
          guarded = (x, y) => bound(checkRuns(stringOf(x), what), checkRuns(stringOf(y), what));
          ReflectDefineProperty(guarded, "name", { value: "" });
          ReflectApply(WeakMapSet, guardedCompares, [bound, guarded]);
        }
        return guarded;
      },
    }, "compare").get,
  });

  // Spreading the segments of a 16M-character string ran out of heap inside V8's loop, which
  // calls the segment iterator's native `next` and never sees termination; it does at the
  // entry of a JS `next`.
  const SegmentIteratorPrototype = ObjectGetPrototypeOf(new Intl.Segmenter().segment("")[Symbol.iterator]());
  const builtinSegmentNext = SegmentIteratorPrototype.next;
  replaceMethod(SegmentIteratorPrototype, "next", {
    next() {
      return ReflectApply(builtinSegmentNext, this, []);
    },
  }.next, 0);
})();
