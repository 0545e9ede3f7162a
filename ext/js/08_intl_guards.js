// Locale lists, language tags and option strings in front of Intl, which reads them in C++
// without looking at termination: `Intl.getCanonicalLocales({ length: 2**32 - 1 })` held 24 GB
// of the host's memory outside V8's heap (a handle for each index it looks at) before the
// kernel ended the process; a list of 2M tags took 3.4 s of CPU, `new Intl.Collator` of 1M
// 1.7 s, a `timeZone` option of 96M characters 1.7 s and 600 MB, `DisplayNames.of` of a 90M
// character code more than two minutes. Real lists hold a few tags of a few dozen characters.
//
// So every entry point that takes locales or options (the constructors, `supportedLocalesOf`,
// `getCanonicalLocales`, `DisplayNames.prototype.of`, the `toLocale*` methods, and
// `localeCompare` through 08_unicode_guards' wrapper of it) first reads a locale list as the
// spec's CanonicalizeLocaleList does (its length once, then each index present, in order, an
// object other than an Intl.Locale converted to a string once) into a private copy,
// refusing more than MAX_LOCALES entries or a tag past
// MAX_TEXT characters; options go to the builtin behind a proxy that refuses a string past
// MAX_TEXT as the builtin reads it. Methods are wrapped by 07_builtin_guards' `guard()`;
// constructors, which it cannot wrap, are proxies of V8's own, installed as their prototypes'
// `constructor`, so `instanceof`, subclassing and identity hold.
const { guard, toLength } = internal;

const { checkedCompareArguments } = (function installIntlGuards() {
  const { apply: ReflectApply, construct: ReflectConstruct, defineProperty: ReflectDefineProperty,
    get: ReflectGet } = Reflect;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const stringOf = (value) => `${value}`;
  const MAX_LOCALES = 256;
  const MAX_TEXT = 1024;
  const localeBaseName = ObjectGetOwnPropertyDescriptor(Intl.Locale.prototype, "baseName").get;
  const isObject = (value) => (typeof value === "object" && value !== null) || typeof value === "function";

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

  // A tag (or a code) as the builtin takes it: a string checked, an Intl.Locale as it is,
  // another object converted to a string once; another type as it is, for the builtin's TypeError.
  function checkedTag(tag, what, naming) {
    if (typeof tag === "string") return checkText(tag, what, naming);
    return isObject(tag) && !isLocale(tag) ? checkText(stringOf(tag), what, naming) : tag;
  }

  // What the builtin would read of `locales`, read once, as the value to pass it instead.
  function checkedLocales(locales, what) {
    if (typeof locales === "string") return checkText(locales, what, "a language tag");
    if (!isObject(locales) || isLocale(locales)) return locales;  // none, one Locale, or the builtin's TypeError
    const length = toLength(locales.length);
    if (length > MAX_LOCALES) {
      throw new RangeError(`${what}: a list of ${length} locales; at most ${MAX_LOCALES} ` +
        "(Intl reads it in one step no limit can stop)");
    }
    const copy = { __proto__: null, length: 0 };
    let count = 0;
    for (let index = 0; index < length; index++) {
      if (index in locales) copy[count++] = checkedTag(locales[index], what, "a language tag");
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

  const checkedOptions = (options, handler) => isObject(options) ? new Proxy(options, handler) : options;

  // guard()'s check for a method taking locales at `at` and, `withOptions`, options after them.
  // Only arguments given are replaced: one past the list's end would be read from Array.prototype.
  function localesCheck(what, at, withOptions) {
    const handler = optionsHandler(what);
    return (receiver, args) => {
      if (args.length > at) args[at] = checkedLocales(args[at], what);
      if (withOptions && args.length > at + 1) args[at + 1] = checkedOptions(args[at + 1], handler);
      return receiver;
    };
  }

  for (const name of ["Collator", "DateTimeFormat", "DisplayNames", "ListFormat", "NumberFormat", "PluralRules",
    "RelativeTimeFormat", "Segmenter", "Locale"]) {
    const builtin = Intl[name];
    if (builtin === undefined) continue;  // not in this V8
    const label = `Intl.${name}`;
    const handler = optionsHandler(label);
    const first = name === "Locale"
      ? (tag) => checkedTag(tag, label, "a language tag")
      : (locales) => checkedLocales(locales, label);
    const checkedArguments = (args) => [first(args[0]), checkedOptions(args[1], handler)];
    const guarded = new Proxy(builtin, {
      construct(target, args, newTarget) {
        return ReflectConstruct(target, checkedArguments(args), newTarget === guarded ? target : newTarget);
      },
      apply(target, receiver, args) {
        return ReflectApply(target, receiver, checkedArguments(args));
      },
    });
    if (name !== "Locale") guard(builtin, "supportedLocalesOf", localesCheck(`${label}.supportedLocalesOf`, 0, true));
    ReflectDefineProperty(builtin.prototype, "constructor", { value: guarded });
    ReflectDefineProperty(Intl, name, { value: guarded });
  }

  guard(Intl, "getCanonicalLocales", localesCheck("Intl.getCanonicalLocales", 0, false));
  guard(Intl.DisplayNames.prototype, "of", (receiver, args) => {
    if (args.length > 0) args[0] = checkedTag(args[0], "Intl.DisplayNames.prototype.of", "a code");
    return receiver;
  });
  for (const name of ["toLocaleLowerCase", "toLocaleUpperCase"]) {
    guard(String.prototype, name, localesCheck(`String.prototype.${name}`, 0, false));
  }
  guard(Number.prototype, "toLocaleString", localesCheck("Number.prototype.toLocaleString", 0, true));
  guard(BigInt.prototype, "toLocaleString", localesCheck("BigInt.prototype.toLocaleString", 0, true));
  for (const name of ["toLocaleString", "toLocaleDateString", "toLocaleTimeString"]) {
    guard(Date.prototype, name, localesCheck(`Date.prototype.${name}`, 0, true));
  }
  // localeCompare's arguments for the builtin, its locales and options checked: for
  // 08_unicode_guards' one wrapper of it.
  const compareHandler = optionsHandler("String.prototype.localeCompare");
  const checkedCompareArguments = (that, locales, options) =>
    [that, checkedLocales(locales, "String.prototype.localeCompare"), checkedOptions(options, compareHandler)];
  return { checkedCompareArguments };
})();

Object.assign(internal, { checkedCompareArguments });
