// Builtins that V8 runs to completion in C++ without looking at termination, in steps
// instead, each step one call of the builtin on part of the input; the call can stop between
// steps. The builtins, the typed array getters and the string methods used are captured here,
// before user code exists, and no user code runs between steps.
//
// Typed arrays: V8's `join` took 6.2 s of CPU for a 64 MiB Uint8Array, `toLocaleString` 7.1 s
// for 8M doubles, `sort` 1.4 s for 64M integers and, with a comparator, 0.3 s for 2M doubles
// before it first called the comparator. Past one step the builtin joins, or sorts, one
// step's view at a time (the same text: elements and separators in order), and sorted runs
// are merged here, stably, with the spec's comparison. `toString` is Array.prototype.toString,
// which calls `join`. The views are made with the array's own intrinsic constructor, so no
// species constructor or getter runs.
//
// Arrays: V8's `join` took 1.3-1.6 s of CPU for 16M elements, `toLocaleString` 5.2 s for 4M
// numbers, `sort` without a comparator 2.3 s for 2M strings and 5.7 s for 2M numbers. Past one
// step the spec's loop runs here instead (each element read, then converted, in order): each
// step's strings are joined by the builtin on a private array, and elements are sorted here
// by their strings, each converted once.
//
// `flat` and `flatMap` run the spec's steps here, an element at a time (V8's took 0.65 s of
// CPU for 2M elements).
//
// Own keys: `Object.keys` of a 2M-element array took 1.2 s of CPU under a 128 MB limit,
// `entries` 13.4 s (each scavenge rescans the growing result), `assign` 2.4 s; for a typed
// array or string of 64M elements V8 ran out of heap inside the builtin (the process
// aborts), as it did for `Reflect.ownKeys` and `Object.getOwnPropertyDescriptors`. Past one
// step of indices, these (and `values`, `getOwnPropertyNames`) walk the indices here and
// grow their result element by element.
//
// `replaceAll` with a string pattern: 0.9 s for 2M matches in a 6M-character string. Past
// one step of text the spec's loop runs here (find, then replace, match by match; a
// replacement with `$` patterns goes to the builtin whole), the pieces joined step by step.
//
// Case mapping: `toLowerCase` of 16M '\u0130' took 0.8 s of CPU in ICU (each becomes two
// characters), `toUpperCase` of 16M '\ufb03' 0.6 s; mapped a step at a time, each piece with
// what its context needs of the text beyond it.
//
// URI functions: `encodeURIComponent` of 32M characters took 1.0 s, `escape` 0.3 s,
// `decodeURIComponent` 0.2 s. They work an escape or a code point at a time, so the text is
// cut where no escape, UTF-8 sequence or surrogate pair straddles the cut, and the pieces'
// results joined are the whole's.
"use strict";

(function installBuiltinSteps() {
  const { apply: ReflectApply, defineProperty: ReflectDefineProperty } = Reflect;
  const { getOwnPropertyDescriptor: ObjectGetOwnPropertyDescriptor, getPrototypeOf: ObjectGetPrototypeOf } = Object;
  const { min: MathMin, trunc: MathTrunc } = Math;
  // ToString: a Symbol throws, as in the builtins (String(symbol) would describe it).
  const stringOf = (value) => `${value}`;
  const { charCodeAt: StringCharCodeAt, repeat: StringRepeat, slice: StringSlice, split: StringSplit } =
    String.prototype;
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
  const getter = (name) => ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, name).get;
  const lengthOf = getter("length");
  const builtinSet = TypedArrayPrototype.set;
  const bufferOf = getter("buffer");
  const byteOffsetOf = getter("byteOffset");
  const tagOf = getter(Symbol.toStringTag);
  const constructors = {
    __proto__: null, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  };
  // Elements per step: 64K of join's slowest (doubles) take about 10 ms, 4K of toLocaleString's
  // 4 ms, 1M of sort's without a comparator 25 ms, 64K with one 10 ms.
  const JOIN_STEP = 65536;
  const LOCALE_STEP = 4096;
  const SORT_STEP = 1048576;
  const COMPARED_SORT_STEP = 65536;

  // The array's elements [start, start + count) as a view of the same type; no user code runs.
  function viewOf(array, tag, start, count) {
    const Ctor = constructors[tag];
    const offset = ReflectApply(byteOffsetOf, array, []) + start * Ctor.BYTES_PER_ELEMENT;
    return new Ctor(ReflectApply(bufferOf, array, []), offset, count);
  }

  // `method` applied to each step's view with `args`, the pieces joined by `separator`; null
  // when `array` is not a typed array longer than one step (the builtin then runs whole).
  function inSteps(array, step, method, args, separator) {
    const tag = ReflectApply(tagOf, array, []);
    if (tag === undefined || ReflectApply(lengthOf, array, []) <= step) return null;
    const length = ReflectApply(lengthOf, array, []);
    let text = "";
    for (let start = 0; start < length; start += step) {
      const piece = ReflectApply(method, viewOf(array, tag, start, MathMin(step, length - start)), args);
      text = start === 0 ? piece : text + separator + piece;
    }
    return text;
  }

  function replaceMethodOf(owner, name, method, length) {
    ReflectDefineProperty(method, "length", { value: length });
    ReflectDefineProperty(owner, name, { value: method, writable: true, enumerable: false, configurable: true });
  }

  const builtinJoin = TypedArrayPrototype.join;
  replaceMethodOf(TypedArrayPrototype, "join", {
    join(separator) {
      const tag = ReflectApply(tagOf, this, []);
      if (tag === undefined || ReflectApply(lengthOf, this, []) <= JOIN_STEP) {
        return ReflectApply(builtinJoin, this, [separator]);
      }
      // Converted once: user code in a `toString` may change the array; the steps see it after.
      const text = separator === undefined ? "," : stringOf(separator);
      return inSteps(this, JOIN_STEP, builtinJoin, [text], text) ?? ReflectApply(builtinJoin, this, [text]);
    },
  }.join, 1);

  const builtinToLocaleString = TypedArrayPrototype.toLocaleString;
  replaceMethodOf(TypedArrayPrototype, "toLocaleString", {
    toLocaleString(locales, options) {
      const args = [locales, options];
      return inSteps(this, LOCALE_STEP, builtinToLocaleString, args, ",") ??
        ReflectApply(builtinToLocaleString, this, args);
    },
  }.toLocaleString, 0);

  // The default order of typed array sort: numeric, -0 before +0, NaN last.
  function defaultBefore(x, y) {
    if (x < y) return true;
    if (x > y || x !== x) return false;
    return y !== y || (x === 0 && y === 0 && 1 / x < 0 && 1 / y > 0);
  }

  // Sorted runs of `width` in `from`, merged pairwise into `to`; a tie keeps the left first.
  function mergeRuns(from, to, width, length, before) {
    for (let low = 0; low < length; low += 2 * width) {
      const middle = MathMin(low + width, length);
      const high = MathMin(low + 2 * width, length);
      let i = low;
      let j = middle;
      let k = low;
      while (i < middle && j < high) to[k++] = before(from[j], from[i]) ? from[j++] : from[i++];
      while (i < middle) to[k++] = from[i++];
      while (j < high) to[k++] = from[j++];
    }
  }

  const builtinSort = TypedArrayPrototype.sort;
  replaceMethodOf(TypedArrayPrototype, "sort", {
    sort(comparefn) {
      const tag = ReflectApply(tagOf, this, []);
      const step = comparefn === undefined ? SORT_STEP : COMPARED_SORT_STEP;
      if (tag === undefined || (comparefn !== undefined && typeof comparefn !== "function") ||
          ReflectApply(lengthOf, this, []) <= step) {
        return ReflectApply(builtinSort, this, [comparefn]);
      }
      const length = ReflectApply(lengthOf, this, []);
      const Ctor = constructors[tag];
      // Without a comparator no user code runs, so the array is sorted where it is; with one,
      // a copy is, and written back at the end, as the spec's SortIndexedProperties does.
      let from = this;
      if (comparefn !== undefined) {
        from = new Ctor(length);
        ReflectApply(builtinSet, from, [this]);
      }
      for (let start = 0; start < length; start += step) {
        ReflectApply(builtinSort, viewOf(from, tag, start, MathMin(step, length - start)), [comparefn]);
      }
      const before = comparefn === undefined ? defaultBefore : (x, y) => +comparefn(x, y) < 0;
      let to = new Ctor(length);
      for (let width = step; width < length; width *= 2) {
        mergeRuns(from, to, width, length, before);
        const sorted = to;
        to = from;
        from = sorted;
      }
      if (from !== this && ReflectApply(lengthOf, this, []) === length) ReflectApply(builtinSet, this, [from]);
      return this;
    },
  }.sort, 1);

  // --- arrays ------------------------------------------------------------------------------
  const ARRAY_STEP = 65536;
  const builtinArrayJoin = Array.prototype.join;
  const { add: SetAdd, delete: SetDelete, has: SetHas } = Set.prototype;
  const ObjectCtor = Object;
  // Arrays being joined in steps: one met again inside itself (a cycle) joins as "", as in V8.
  const joining = new Set();

  function lengthOfArrayLike(object) {
    const n = MathTrunc(+object.length);
    return n > 0 ? MathMin(n, Number.MAX_SAFE_INTEGER) : 0;
  }

  // Arrays of empty strings made by `split` (which defines its elements; `fill` would call a
  // setter a user put on Array.prototype): writing to an element they have calls no setter.
  function filledArray(length) {
    return ReflectApply(StringSplit, ReflectApply(StringRepeat, ",", [length - 1]), [","]);
  }

  function joinElements(object, length, separator, stringOf) {
    if (ReflectApply(SetHas, joining, [object])) return "";
    ReflectApply(SetAdd, joining, [object]);
    try {
      const pieces = { __proto__: null, length: 0 };  // grows with the work done, not the length claimed
      const step = filledArray(ARRAY_STEP);
      for (let start = 0; start < length; start += ARRAY_STEP) {
        const count = MathMin(ARRAY_STEP, length - start);
        for (let i = 0; i < count; i++) {
          const element = object[start + i];
          step[i] = element === undefined || element === null ? "" : stringOf(element);
        }
        if (count < ARRAY_STEP) step.length = count;
        pieces[pieces.length++] = ReflectApply(builtinArrayJoin, step, [separator]);
      }
      return ReflectApply(builtinArrayJoin, pieces, [separator]);
    } finally {
      ReflectApply(SetDelete, joining, [object]);
    }
  }

  replaceMethodOf(Array.prototype, "join", {
    join(separator) {
      if (this === null || this === undefined) throw new TypeError("Array.prototype.join called on null or undefined");
      const object = ObjectCtor(this);
      const length = lengthOfArrayLike(object);
      if (length <= ARRAY_STEP) return ReflectApply(builtinArrayJoin, object, [separator]);
      const text = separator === undefined ? "," : `${separator}`;
      return joinElements(object, length, text, (element) => `${element}`);
    },
  }.join, 1);

  // sort and toSorted without a comparator: V8 compares elements as strings in C++, converting both at each
  // comparison, and never looks at termination: 2M strings took 2.3 s of CPU, 2M numbers
  // 5.7 s (a 10 MB JSON body parsed, then sorted). Past one step the spec's
  // SortIndexedProperties runs here: the elements are read (holes skipped, undefined kept
  // aside), each converted to a string once (toString may run once per element, not per
  // comparison: the spec leaves that to the implementation), their positions sorted here by
  // those strings, stably, and the elements written back, undefined after them, holes last.
  // The guards' element cap (07_builtin_guards.js): past it the guarded builtin throws. The
  // limit is fixed for an isolate's life, asked once; natives answer 0 while the snapshot is built.
  const memoryLimit = native.memoryLimit;
  let limit = 0;
  const elementCap = () => MathTrunc((limit || (limit = memoryLimit()) || Infinity) / 8);

  // SortIndexedProperties: the elements in order, then the undefined ones; holes are skipped
  // (`sort`) or read as undefined (`toSorted`).
  function sortedElements(object, length, skipHoles) {
    const values = growing();
    let count = 0;
    let undefineds = 0;
    for (let index = 0; index < length; index++) {
      if (skipHoles && !(index in object)) continue;
      const value = object[index];
      if (value === undefined) undefineds++;
      else values[count++] = value;
    }
    const keys = growing();
    for (let index = 0; index < count; index++) keys[index] = stringOf(values[index]);
    const order = sortedPositions(keys, count);
    const sorted = growing();
    for (let index = 0; index < count; index++) sorted[index] = values[order[index]];
    for (let index = count; index < count + undefineds; index++) sorted[index] = undefined;
    return sorted;
  }

  // Positions 0..count-1 in the order of their keys, stably: runs of SORT_RUN put in order by
  // insertion, then merged pairwise (a tie keeps the left first). Positions live in typed
  // arrays: 4 bytes each, and no setter or split cap in the way.
  const SORT_RUN = 32;
  function sortedPositions(keys, count) {
    let from = new constructors.Uint32Array(count);
    let to = new constructors.Uint32Array(count);
    for (let index = 0; index < count; index++) from[index] = index;
    for (let low = 0; low < count; low += SORT_RUN) {
      const high = MathMin(low + SORT_RUN, count);
      for (let i = low + 1; i < high; i++) {
        const position = from[i];
        const key = keys[position];
        let j = i - 1;
        for (; j >= low && key < keys[from[j]]; j--) from[j + 1] = from[j];
        from[j + 1] = position;
      }
    }
    for (let width = SORT_RUN; width < count; width *= 2) {
      for (let low = 0; low < count; low += 2 * width) {
        const middle = MathMin(low + width, count);
        const high = MathMin(low + 2 * width, count);
        let i = low;
        let j = middle;
        let k = low;
        while (i < middle && j < high) to[k++] = keys[from[j]] < keys[from[i]] ? from[j++] : from[i++];
        while (i < middle) to[k++] = from[i++];
        while (j < high) to[k++] = from[j++];
      }
      const sorted = to;
      to = from;
      from = sorted;
    }
    return from;
  }

  // sort, and toSorted (V8 11): without a comparator and past one step, the order above;
  // `finish(object, length)` makes the result.
  function replaceDefaultSort(name, finish) {
    const builtin = Array.prototype[name];
    if (typeof builtin !== "function") return;
    replaceMethodOf(Array.prototype, name, {
      [name](comparefn) {
        if (comparefn !== undefined || this === null || this === undefined) {
          return ReflectApply(builtin, this, [comparefn]);
        }
        const object = ObjectCtor(this);
        const length = lengthOfArrayLike(object);
        if (length <= ARRAY_STEP || length > elementCap()) return ReflectApply(builtin, object, [comparefn]);
        return finish(object, length);
      },
    }[name], 1);
  }
  replaceDefaultSort("sort", (object, length) => {
    const sorted = sortedElements(object, length, true);
    for (let index = 0; index < sorted.length; index++) object[index] = sorted[index];
    for (let index = sorted.length; index < length; index++) delete object[index];
    return object;
  });
  replaceDefaultSort("toSorted", (object, length) => completed(sortedElements(object, length, false)));

  const builtinArrayToLocaleString = Array.prototype.toLocaleString;
  replaceMethodOf(Array.prototype, "toLocaleString", {
    toLocaleString(locales, options) {
      if (this === null || this === undefined) {
        throw new TypeError("Array.prototype.toLocaleString called on null or undefined");
      }
      const object = ObjectCtor(this);
      const length = lengthOfArrayLike(object);
      if (length <= LOCALE_STEP) return ReflectApply(builtinArrayToLocaleString, object, [locales, options]);
      return joinElements(object, length, ",", (element) => `${element.toLocaleString(locales, options)}`);
    },
  }.toLocaleString, 0);

  // flat and flatMap: V8's FlattenIntoArray reads each element with HasProperty and Get in
  // C++ and never looks at termination: flat() of 2M elements took 0.65 s of CPU, and one
  // element may itself be an array of millions. The spec's steps run here instead, an element
  // at a time (4 times faster than the builtin). A result the Array constructor would make
  // grows without a prototype (no setter a user added to Array.prototype runs) and gets it
  // when complete; one a species constructor makes gets each element defined.
  const builtinFlat = Array.prototype.flat;
  const builtinFlatMap = Array.prototype.flatMap;
  const ArrayCtor = Array;
  const { construct: ReflectConstruct } = Reflect;
  const SymbolSpecies = Symbol.species;
  const MAX_INDEX = 2 ** 53 - 1;

  // ArraySpeciesCreate(original, 0), or null for a plain array (the common case).
  function flatTarget(original) {
    if (!ArrayIsArray(original)) return null;
    let C = original.constructor;
    if ((typeof C === "object" && C !== null) || typeof C === "function") {
      C = C[SymbolSpecies];
      if (C === null) C = undefined;
    }
    return C === undefined || C === ArrayCtor ? null : ReflectConstruct(C, [0]);
  }

  // `plain`: the target is a growing plain array (elements assigned), else a species' (defined).
  function flattenInto(target, plain, source, sourceLength, start, depth, mapper, thisArg) {
    let targetIndex = start;
    for (let sourceIndex = 0; sourceIndex < sourceLength; sourceIndex++) {
      if (!(sourceIndex in source)) continue;
      let element = source[sourceIndex];
      if (mapper !== undefined) element = ReflectApply(mapper, thisArg, [element, sourceIndex, source]);
      if (depth > 0 && ArrayIsArray(element)) {
        targetIndex = flattenInto(target, plain, element, lengthOfArrayLike(element), targetIndex, depth - 1);
        continue;
      }
      if (targetIndex >= MAX_INDEX) throw new TypeError("Array.prototype.flat: the result is too long");
      if (plain) {
        target[targetIndex] = element;
      } else if (!ReflectDefineProperty(target, targetIndex, { value: element, writable: true, enumerable: true,
        configurable: true })) {
        throw new TypeError(`Cannot add property ${targetIndex} to the result of flat`);
      }
      targetIndex++;
    }
    return targetIndex;
  }

  function flattened(object, length, depth, mapper, thisArg) {
    const species = flatTarget(object);
    const target = species === null ? growing() : species;
    flattenInto(target, species === null, object, length, 0, depth, mapper, thisArg);
    return species === null ? completed(target) : target;
  }

  replaceMethodOf(Array.prototype, "flat", {
    flat(depth) {
      if (this === null || this === undefined) return ReflectApply(builtinFlat, this, [depth]);
      const object = ObjectCtor(this);
      const length = lengthOfArrayLike(object);
      if (length > elementCap()) return ReflectApply(builtinFlat, object, [depth]);
      let levels = 1;
      if (depth !== undefined) {
        levels = MathTrunc(+depth) || 0;
        if (levels < 0) levels = 0;
      }
      return flattened(object, length, levels);
    },
  }.flat, 0);

  replaceMethodOf(Array.prototype, "flatMap", {
    flatMap(mapper, thisArg) {
      if (this === null || this === undefined) return ReflectApply(builtinFlatMap, this, [mapper, thisArg]);
      const object = ObjectCtor(this);
      const length = lengthOfArrayLike(object);
      if (length > elementCap() || typeof mapper !== "function") {
        return ReflectApply(builtinFlatMap, object, [mapper, thisArg]);
      }
      return flattened(object, length, 1, mapper, thisArg);
    },
  }.flatMap, 1);

  // --- own keys of arrays, typed arrays and strings -------------------------------------
  // Past one step of indices the index keys are found here (every index of a string or typed
  // array; for an array, each index checked in turn), the other keys come from V8 without
  // visiting the elements (native.ownNonIndexKeys), and the result grows here, element by
  // element. Nothing is made in one piece, so the memory limit stops a result too large too.
  const KEYS_STEP = 16384;
  // An array walked here with fewer elements than this fraction of the indices walked is
  // sparse: V8 lists its elements faster than a walk of its length.
  const SPARSE = 64;
  const ArrayIsArray = Array.isArray;
  const { hasOwnProperty: ObjectHasOwnProperty, propertyIsEnumerable: ObjectPropertyIsEnumerable } =
    Object.prototype;
  const { ownNonIndexKeys, arrayLength: nativeArrayLength } = native;
  const { setPrototypeOf: ObjectSetPrototypeOf } = Object;
  const ArrayPrototype = Array.prototype;
  const ObjectPrototype = Object.prototype;
  // v8::PropertyFilter bits
  const ONLY_ENUMERABLE = 2;
  const SKIP_SYMBOLS = 16;
  const toKey = (key) => (typeof key === "number" ? `${key}` : key);

  // The own keys of `value` in a private list, index keys first as numbers, when it may have
  // more than a step of them; null otherwise (the builtin runs), and for a Proxy, whose traps
  // then run in the builtin alone, a sparse array, or any array unless `arrays`.
  function ownKeysInSteps(value, filter, arrays = true) {
    let length = 0;
    let array = false;
    if (typeof value === "string") {
      length = value.length;
    } else if (typeof value === "object" && value !== null) {
      if (ReflectApply(tagOf, value, []) !== undefined) {
        length = ReflectApply(lengthOf, value, []);
      } else {
        try {
          if (!arrays || !ArrayIsArray(value)) return null;
        } catch {
          return null;  // a revoked proxy: the builtin throws its own error
        }
        length = nativeArrayLength(value);
        array = true;
      }
    }
    if (length <= KEYS_STEP) return null;
    const object = ObjectCtor(value);
    const list = { __proto__: null };
    let count = 0;
    if (array) {
      // An ordinary array runs no user code here: each index is looked up where it is.
      const check = filter & ONLY_ENUMERABLE ? ObjectPropertyIsEnumerable : ObjectHasOwnProperty;
      for (let start = 0; start < length; start += KEYS_STEP) {
        const end = MathMin(start + KEYS_STEP, length);
        for (let i = start; i < end; i++) if (ReflectApply(check, object, [i])) list[count++] = i;
        if (count * SPARSE < end) return null;
      }
    } else {
      for (; count < length; count++) list[count] = count;
    }
    const named = ownNonIndexKeys(object, filter);
    for (let i = 0; i < named.length; i++) list[count++] = named[i];
    list.length = count;
    return list;
  }

  // A result grows with no prototype, where no setter can be found for its new elements (a
  // user's getter run meanwhile could add one to Array.prototype), and gets it when complete.
  function growing() {
    const array = [];
    ObjectSetPrototypeOf(array, null);
    return array;
  }

  function completed(array) {
    ObjectSetPrototypeOf(array, ArrayPrototype);
    return array;
  }

  function keyNames(value, filter, builtin) {
    const list = ownKeysInSteps(value, filter);
    if (list === null) return builtin(value);
    const result = growing();
    for (let i = 0; i < list.length; i++) result[i] = toKey(list[i]);
    return completed(result);
  }

  // Values or [key, value] entries of the enumerable string keys, each checked as it is reached
  // (a getter met earlier may have removed a later key or made it non-enumerable). An array's
  // values are the builtin's: it copies them, 26 ms for 2M elements, converting nothing.
  function enumerableOwn(value, entries, builtin) {
    const list = ownKeysInSteps(value, SKIP_SYMBOLS, entries);
    if (list === null) return builtin(value);
    const object = ObjectCtor(value);
    const result = growing();
    let count = 0;
    for (let i = 0; i < list.length; i++) {
      const key = list[i];
      if (!ReflectApply(ObjectPropertyIsEnumerable, object, [key])) continue;
      result[count++] = entries ? [toKey(key), object[key]] : object[key];
    }
    return completed(result);
  }

  const { keys: builtinKeys, values: builtinValues, entries: builtinEntries, assign: builtinAssign } = ObjectCtor;
  const builtinGetOwnPropertyNames = ObjectCtor.getOwnPropertyNames;
  replaceMethodOf(ObjectCtor, "keys", {
    keys(object) {
      return keyNames(object, ONLY_ENUMERABLE | SKIP_SYMBOLS, builtinKeys);
    },
  }.keys, 1);
  replaceMethodOf(ObjectCtor, "getOwnPropertyNames", {
    getOwnPropertyNames(object) {
      return keyNames(object, SKIP_SYMBOLS, builtinGetOwnPropertyNames);
    },
  }.getOwnPropertyNames, 1);
  replaceMethodOf(ObjectCtor, "values", {
    values(object) {
      return enumerableOwn(object, false, builtinValues);
    },
  }.values, 1);
  replaceMethodOf(ObjectCtor, "entries", {
    entries(object) {
      return enumerableOwn(object, true, builtinEntries);
    },
  }.entries, 1);
  const { ownKeys: builtinOwnKeys } = Reflect;
  replaceMethodOf(Reflect, "ownKeys", {
    ownKeys(target) {
      return typeof target === "object" ? keyNames(target, 0, builtinOwnKeys) : builtinOwnKeys(target);
    },
  }.ownKeys, 1);

  const builtinGetOwnPropertyDescriptors = ObjectCtor.getOwnPropertyDescriptors;
  replaceMethodOf(ObjectCtor, "getOwnPropertyDescriptors", {
    getOwnPropertyDescriptors(value) {
      const list = ownKeysInSteps(value, 0);
      if (list === null) return builtinGetOwnPropertyDescriptors(value);
      const object = ObjectCtor(value);
      const result = { __proto__: null };  // as a result array grows: no setter can be found
      for (let i = 0; i < list.length; i++) {
        const descriptor = ObjectGetOwnPropertyDescriptor(object, list[i]);
        if (descriptor !== undefined) result[list[i]] = descriptor;
      }
      ObjectSetPrototypeOf(result, ObjectPrototype);
      return result;
    },
  }.getOwnPropertyDescriptors, 1);

  replaceMethodOf(ObjectCtor, "assign", {
    assign(target, ...sources) {
      if (target === null || target === undefined) return builtinAssign(target);
      const to = ObjectCtor(target);
      for (let s = 0; s < sources.length; s++) {
        const source = sources[s];
        const list = ownKeysInSteps(source, 0);
        if (list === null) {
          builtinAssign(to, source);
          continue;
        }
        const from = ObjectCtor(source);
        for (let i = 0; i < list.length; i++) {
          const key = list[i];
          if (ReflectApply(ObjectPropertyIsEnumerable, from, [key])) to[key] = from[key];
        }
      }
      return to;
    },
  }.assign, 2);

  // --- replaceAll with a string pattern --------------------------------------------------
  const TEXT_STEP = 262144;
  const REPLACE_STEP = 32768;  // matches joined at once
  const builtinReplaceAll = String.prototype.replaceAll;
  const { indexOf: StringIndexOf } = String.prototype;
  const hasOwn = (object, key) => ObjectGetOwnPropertyDescriptor(object, key) !== undefined;
  const StringPrototype = String.prototype;

  replaceMethodOf(StringPrototype, "replaceAll", {
    replaceAll(searchValue, replaceValue) {
      if (typeof this === "string" && this.length <= TEXT_STEP) {
        return ReflectApply(builtinReplaceAll, this, [searchValue, replaceValue]);
      }
      // A string pattern runs no user code before the text is converted, unless a user gave
      // strings a Symbol.replace: then, and for other patterns, the builtin runs whole.
      if (this === null || this === undefined || typeof searchValue !== "string" ||
          hasOwn(StringPrototype, Symbol.replace) || hasOwn(ObjectPrototype, Symbol.replace)) {
        return ReflectApply(builtinReplaceAll, this, [searchValue, replaceValue]);
      }
      const text = stringOf(this);
      const functional = typeof replaceValue === "function";
      const replacement = functional ? "" : stringOf(replaceValue);
      if (text.length <= TEXT_STEP || (!functional && ReflectApply(StringIndexOf, replacement, ["$"]) !== -1)) {
        return ReflectApply(builtinReplaceAll, text, [searchValue, functional ? replaceValue : replacement]);
      }
      const advanceBy = searchValue.length || 1;
      const pieces = { __proto__: null, length: 0 };
      let parts = filledArray(2 * REPLACE_STEP);
      let count = 0;
      let kept = 0;  // the end of the last match
      for (let at = ReflectApply(StringIndexOf, text, [searchValue, 0]); at !== -1;) {
        parts[count++] = ReflectApply(StringSlice, text, [kept, at]);
        parts[count++] = functional ? `${replaceValue(searchValue, at, text)}` : replacement;
        kept = at + searchValue.length;
        if (count === 2 * REPLACE_STEP) {
          pieces[pieces.length++] = ReflectApply(builtinArrayJoin, parts, [""]);
          parts = filledArray(2 * REPLACE_STEP);
          count = 0;
        }
        const next = at + advanceBy;
        at = next > text.length ? -1 : ReflectApply(StringIndexOf, text, [searchValue, next]);
      }
      parts[count++] = ReflectApply(StringSlice, text, [kept]);
      parts.length = count;
      pieces[pieces.length++] = ReflectApply(builtinArrayJoin, parts, [""]);
      return ReflectApply(builtinArrayJoin, pieces, [""]);
    },
  }.replaceAll, 2);

  // --- case mapping ------------------------------------------------------------------
  // Past one step of text the text is mapped a step at a time. Each cut is before a character
  // that is not a combining mark and not the second half of a surrogate pair: the contexts of
  // the Turkish and Lithuanian dots are a letter and the marks after it. Lowercasing has one
  // more context, final sigma: a capital sigma's lowercase depends on whether the nearest
  // characters on either side that are not case-ignorable are cased. So each piece is mapped
  // with a stand-in for that character on each side ("a" if cased, " " if not, neither has a
  // context of its own), whose mapping is then dropped.
  const CASE_STEP = 262144;
  const CASE_CUTS = 1024;  // candidate cuts looked at, back from a step's end
  const CASE_IGNORABLE = /\p{Case_Ignorable}/u;
  const CASED = /\p{Cased}/u;
  const MARK = /\p{M}/u;
  const RegExpExec = RegExp.prototype.exec;
  const { fromCharCode: StringFromCharCode } = String;
  const unitAt = (text, index) => ReflectApply(StringCharCodeAt, text, [index]);
  const matches = (regExp, character) => ReflectApply(RegExpExec, regExp, [character]) !== null;
  const isHigh = (unit) => unit >= 0xd800 && unit <= 0xdbff;
  const isLow = (unit) => unit >= 0xdc00 && unit <= 0xdfff;
  const cutsBefore = (text, at) => !isLow(unitAt(text, at)) && !matches(MARK, StringFromCharCode(unitAt(text, at)));

  // The nearest character from `at` on, by `direction`, that is not case-ignorable, before
  // `stop`: [its index, whether it is cased], or null.
  function nonIgnorable(text, at, direction, stop) {
    for (let i = at; i !== stop; i += direction) {
      const unit = unitAt(text, i);
      let first = i;
      let character;
      if (direction < 0 && isLow(unit) && i - 1 !== stop && isHigh(unitAt(text, i - 1))) {
        first = i - 1;
        character = ReflectApply(StringSlice, text, [first, i + 1]);
      } else if (direction > 0 && isHigh(unit) && i + 1 !== stop && isLow(unitAt(text, i + 1))) {
        character = ReflectApply(StringSlice, text, [i, i + 2]);
      } else {
        character = StringFromCharCode(unit);
      }
      if (!matches(CASE_IGNORABLE, character)) return [first, matches(CASED, character)];
      if (direction < 0) i = first;
      else if (character.length === 2) i++;
    }
    return null;
  }

  // Where a step meant to end at `end` ends: at the nearest cut before it, or the first after.
  function caseCut(text, end) {
    if (end >= text.length) return text.length;
    for (let at = end; at > end - CASE_CUTS; at--) if (cutsBefore(text, at)) return at;
    let at = end + 1;
    while (at < text.length && !cutsBefore(text, at)) at++;
    return at;
  }

  function replaceCaseMapping(name, lowering) {
    const builtin = StringPrototype[name];
    replaceMethodOf(StringPrototype, name, {
      [name](locales) {
        if (typeof this === "string" && this.length <= CASE_STEP) return ReflectApply(builtin, this, [locales]);
        if (this === null || this === undefined) throw new TypeError(`String.prototype.${name} called on null or undefined`);
        const text = stringOf(this);
        if (text.length <= CASE_STEP) return ReflectApply(builtin, text, [locales]);
        let result = "";
        // Each scan for a stand-in covers only text no earlier scan covered: the one before a
        // piece stops at the previous piece's start (nothing found: the previous stand-in holds),
        // the one after reuses the last character found if it is still ahead. A text of
        // case-ignorable characters costs linear time, not a scan to its start per step.
        // Only a capital sigma looks across a cut for a stand-in.
        const sigma = lowering && ReflectApply(StringIndexOf, text, ["\u03a3"]) !== -1;
        let before = " ";
        let ahead = null;
        for (let start = 0, previous = 0; start < text.length;) {
          const end = caseCut(text, start + CASE_STEP);
          let piece = ReflectApply(StringSlice, text, [start, end]);
          let prefix = "";
          let suffix = "";
          if (sigma && start > 0) {
            const found = nonIgnorable(text, start - 1, -1, previous - 1);
            if (found !== null) before = found[1] ? "a" : " ";
            prefix = before;
          }
          if (sigma && end < text.length) {
            if (ahead === null || ahead[0] < end) {
              ahead = nonIgnorable(text, end, 1, text.length) ?? [text.length, false];
            }
            suffix = ahead[1] ? "a" : " ";
          }
          piece = ReflectApply(builtin, prefix + piece + suffix, [locales]);
          result += ReflectApply(StringSlice, piece, [prefix.length, piece.length - suffix.length]);
          previous = start;
          start = end;
        }
        return result;
      },
    }[name], 0);
  }
  replaceCaseMapping("toLowerCase", true);
  replaceCaseMapping("toUpperCase", false);
  replaceCaseMapping("toLocaleLowerCase", true);
  replaceCaseMapping("toLocaleUpperCase", false);

  // --- URI functions -------------------------------------------------------------------
  // Units per step: 256K of encodeURIComponent's slowest (two-byte characters) take about 8 ms.
  const URI_STEP = 262144;
  // How far back from a step's end a cut is looked for: a UTF-8 sequence is at most four
  // escapes (12 units). Further back the text is malformed, and a cut anywhere gives the error.
  const MAX_BACK = 16;
  const PERCENT = 0x25;
  // Whether the escape starting at `index` is a UTF-8 continuation byte (%80-%BF).
  const continues = (text, index) => {
    const digit = unitAt(text, index + 1) | 0x20;
    return digit === 0x38 || digit === 0x39 || digit === 0x61 || digit === 0x62;
  };
  const splitsPair = (text, at) => isHigh(unitAt(text, at - 1)) && isLow(unitAt(text, at));
  const cuts = {
    encode: (text, at) => !splitsPair(text, at),
    escape: () => true,
    // Not inside %XX, nor before the continuation of a UTF-8 sequence.
    decode: (text, at) => !splitsPair(text, at) && (unitAt(text, at) === PERCENT
      ? !continues(text, at)
      : unitAt(text, at - 1) !== PERCENT && unitAt(text, at - 2) !== PERCENT),
    // Not inside %XX or %uXXXX: before a %, or with no % in the five units before.
    unescape: (text, at) => {
      if (unitAt(text, at) === PERCENT) return true;
      for (let back = 1; back <= 5; back++) if (unitAt(text, at - back) === PERCENT) return false;
      return true;
    },
  };

  function cutBefore(text, end, safe) {
    for (let at = end; at > end - MAX_BACK; at--) if (safe(text, at)) return at;
    return end;
  }

  function replaceGlobal(builtin, safe) {
    const name = builtin.name;
    const stepped = {
      [name](value) {
        const text = stringOf(value);
        if (text.length <= URI_STEP) return builtin(text);
        let result = "";
        for (let start = 0; start < text.length;) {
          let end = MathMin(start + URI_STEP, text.length);
          if (end < text.length) end = cutBefore(text, end, safe);
          result += builtin(ReflectApply(StringSlice, text, [start, end]));
          start = end;
        }
        return result;
      },
    }[name];
    ReflectDefineProperty(stepped, "length", { value: 1 });
    ReflectDefineProperty(globalThis, name, { value: stepped, writable: true, enumerable: false, configurable: true });
  }
  replaceGlobal(encodeURIComponent, cuts.encode);
  replaceGlobal(encodeURI, cuts.encode);
  replaceGlobal(escape, cuts.escape);
  replaceGlobal(decodeURIComponent, cuts.decode);
  replaceGlobal(decodeURI, cuts.decode);
  replaceGlobal(unescape, cuts.unescape);
})();
