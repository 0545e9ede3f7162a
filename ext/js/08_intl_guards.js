// Locale lists, language tags and option strings in front of Intl, which reads them in C++
// without looking at termination: `Intl.getCanonicalLocales({ length: 2**32 - 1 })` held 24 GB
// of the host's memory outside V8's heap (a handle for each index it looks at) before the
// kernel ended the process; a list of 2M tags took 3.4 s of CPU, `new Intl.Collator` of 1M
// 1.7 s, a `timeZone` option of 96M characters 1.7 s and 600 MB, `DisplayNames.of` of a 90M
// character code more than two minutes. Real lists hold a few tags of a few dozen characters.
//
// So every entry point that takes locales or options (the constructors, `supportedLocalesOf`,
// `getCanonicalLocales`, `DisplayNames.prototype.of` and the `toLocale*` and `localeCompare`
// methods) first reads a locale list as the spec's CanonicalizeLocaleList does (its length
// once, then each index present, in order, an object other than an Intl.Locale converted to a
// string once) into a private copy, refusing more than MAX_LOCALES entries or a tag past
// MAX_TEXT characters; options go to the builtin behind a proxy that refuses a string past
// MAX_TEXT as the builtin reads it. Constructors are proxies of V8's own, installed as their
// prototypes' `constructor`, so `instanceof`, subclassing and identity hold.
"use strict";

(function installIntlGuards() {
  const { apply: ReflectApply, construct: ReflectConstruct, defineProperty: ReflectDefineProperty,
    get: ReflectGet } = Reflect;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const NumberIsFinite = Number.isFinite;
  const MathFloor = Math.floor;
  const stringOf = (value) => `${value}`;
  const MAX_LOCALES = 256;
  const MAX_TEXT = 1024;
  const localeBaseName = ObjectGetOwnPropertyDescriptor(Intl.Locale.prototype, "baseName").get;

  function isLocale(value) {
    try {
      ReflectApply(localeBaseName, value, []);
      return true;
    } catch {
      return false;
    }
  }

  function checkText(text, what, naming) {
    if (text.length > MAX_TEXT) {
      throw new RangeError(`${what}: ${naming} of ${text.length} characters; at most ${MAX_TEXT} ` +
        "(Intl reads it in one step no limit can stop)");
    }
    return text;
  }

  function lengthOf(value) {
    const number = +value;
    if (!(number > 0)) return 0;
    return NumberIsFinite(number) ? MathFloor(number) : number;
  }

  // What the builtin would read of `locales`, read once, as the value to pass it instead.
  function checkedLocales(locales, what) {
    if (typeof locales === "string") return checkText(locales, what, "a language tag");
    if (locales === undefined || locales === null || (typeof locales !== "object" && typeof locales !== "function")) {
      return locales;  // the builtin's own answer: none, or its TypeError
    }
    if (isLocale(locales)) return locales;
    const length = lengthOf(locales.length);
    if (length > MAX_LOCALES) {
      throw new RangeError(`${what}: a list of ${length} locales; at most ${MAX_LOCALES} ` +
        "(Intl reads it in one step no limit can stop)");
    }
    const copy = { __proto__: null, length: 0 };
    let count = 0;
    for (let index = 0; index < length; index++) {
      if (!(index in locales)) continue;
      let tag = locales[index];
      if (typeof tag === "string") {
        checkText(tag, what, "a language tag");
      } else if ((typeof tag === "object" && tag !== null) || typeof tag === "function") {
        if (!isLocale(tag)) tag = checkText(stringOf(tag), what, "a language tag");
      }
      copy[count++] = tag;  // another type: the builtin's TypeError
    }
    copy.length = count;
    return copy;
  }

  // A proxy handler for the options of `what`: the builtin reads them through it.
  function optionsHandler(what) {
    return {
      get(target, key, receiver) {
        const value = ReflectGet(target, key, receiver);
        if (typeof value === "string" && value.length > MAX_TEXT) {
          checkText(value, what, `the option ${typeof key === "symbol" ? "(a symbol)" : key}, a string`);
        }
        return value;
      },
    };
  }

  function checkedOptions(options, handler) {
    return (typeof options === "object" && options !== null) || typeof options === "function"
      ? new Proxy(options, handler) : options;
  }

  function replaceMethod(owner, name, method, length) {
    ReflectDefineProperty(method, "length", { value: length });
    ReflectDefineProperty(owner, name, { value: method, writable: true, enumerable: false, configurable: true });
  }

  function guardLocalesMethod(owner, name, length, what) {
    const builtin = owner[name];
    const handler = optionsHandler(what);
    replaceMethod(owner, name, {
      [name](locales, options) {
        if (locales === undefined && options === undefined) return ReflectApply(builtin, this, []);
        return ReflectApply(builtin, this, [checkedLocales(locales, what), checkedOptions(options, handler)]);
      },
    }[name], length);
  }

  for (const [name, label] of [
    ["Collator", "Intl.Collator"], ["DateTimeFormat", "Intl.DateTimeFormat"], ["DisplayNames", "Intl.DisplayNames"],
    ["ListFormat", "Intl.ListFormat"], ["NumberFormat", "Intl.NumberFormat"], ["PluralRules", "Intl.PluralRules"],
    ["RelativeTimeFormat", "Intl.RelativeTimeFormat"], ["Segmenter", "Intl.Segmenter"], ["Locale", "Intl.Locale"],
  ]) {
    const builtin = Intl[name];
    if (builtin === undefined) continue;  // not in this V8
    const handler = optionsHandler(label);
    const checkedArguments = name === "Locale"
      ? (args) => {
        let tag = args[0];
        if (typeof tag === "string") checkText(tag, label, "a language tag");
        else if ((typeof tag === "object" && tag !== null) || typeof tag === "function") {
          if (!isLocale(tag)) tag = checkText(stringOf(tag), label, "a language tag");
        }
        return [tag, checkedOptions(args[1], handler)];
      }
      : (args) => [checkedLocales(args[0], label), checkedOptions(args[1], handler)];
    const guarded = new Proxy(builtin, {
      construct(target, args, newTarget) {
        return ReflectConstruct(target, checkedArguments(args), newTarget === guarded ? target : newTarget);
      },
      apply(target, receiver, args) {
        return ReflectApply(target, receiver, checkedArguments(args));
      },
    });
    if (name !== "Locale") guardLocalesMethod(builtin, "supportedLocalesOf", 1, `${label}.supportedLocalesOf`);
    ReflectDefineProperty(builtin.prototype, "constructor", { value: guarded });
    ReflectDefineProperty(Intl, name, { value: guarded });
  }

  const builtinCanonicalLocales = Intl.getCanonicalLocales;
  replaceMethod(Intl, "getCanonicalLocales", {
    getCanonicalLocales(locales) {
      return ReflectApply(builtinCanonicalLocales, Intl, [checkedLocales(locales, "Intl.getCanonicalLocales")]);
    },
  }.getCanonicalLocales, 1);

  const builtinOf = Intl.DisplayNames.prototype.of;
  replaceMethod(Intl.DisplayNames.prototype, "of", {
    of(code) {
      let value = code;
      if ((typeof value === "object" && value !== null) || typeof value === "function") value = stringOf(value);
      if (typeof value === "string") checkText(value, "Intl.DisplayNames.prototype.of", "a code");
      return ReflectApply(builtinOf, this, [value]);
    },
  }.of, 1);

  const builtinLocaleCompare = String.prototype.localeCompare;
  const compareHandler = optionsHandler("String.prototype.localeCompare");
  replaceMethod(String.prototype, "localeCompare", {
    localeCompare(that, locales, options) {
      if (locales === undefined && options === undefined) return ReflectApply(builtinLocaleCompare, this, [that]);
      return ReflectApply(builtinLocaleCompare, this,
        [that, checkedLocales(locales, "String.prototype.localeCompare"), checkedOptions(options, compareHandler)]);
    },
  }.localeCompare, 1);

  for (const name of ["toLocaleLowerCase", "toLocaleUpperCase"]) {
    const builtin = String.prototype[name];
    const what = `String.prototype.${name}`;
    replaceMethod(String.prototype, name, {
      [name](locales) {
        return locales === undefined ? ReflectApply(builtin, this, []) :
          ReflectApply(builtin, this, [checkedLocales(locales, what)]);
      },
    }[name], 0);
  }

  guardLocalesMethod(Number.prototype, "toLocaleString", 0, "Number.prototype.toLocaleString");
  guardLocalesMethod(BigInt.prototype, "toLocaleString", 0, "BigInt.prototype.toLocaleString");
  for (const name of ["toLocaleString", "toLocaleDateString", "toLocaleTimeString"]) {
    guardLocalesMethod(Date.prototype, name, 0, `Date.prototype.${name}`);
  }
})();
