// `internal.inspect` (readable output of any value) and the `console` namespace.

const { defineGlobals, isDOMException, webidl, webPrototypes } = internal;

// Objects can customise their inspect output with a method under this symbol:
// `[internal.inspectCustom](inspect, depth)` returns the text to show.
const inspectCustom = Symbol("inspect.custom");

const defaultOptions = { depth: 2, breakLength: 80, maxArrayLength: 100, maxStringLength: 10000 };

const typedArrayLength = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype), "length").get;
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, "size").get;
const setSize = Object.getOwnPropertyDescriptor(Set.prototype, "size").get;

function isOfClass(value, getterCall) {
  try {
    getterCall(value);
    return true;
  } catch {
    return false;
  }
}
const isMap = (v) => isOfClass(v, (x) => mapSize.call(x));
const isSet = (v) => isOfClass(v, (x) => setSize.call(x));
const isDate = (v) => isOfClass(v, (x) => Date.prototype.getTime.call(x));
const isRegExp = (v) => isOfClass(v, (x) => Object.getOwnPropertyDescriptor(RegExp.prototype, "source").get.call(x)) && v !== RegExp.prototype;
// native.promiseState reads a promise's state without calling into it (no `then`).
const promiseState = (v) => {
  if (v === null || (typeof v !== "object" && typeof v !== "function")) return null;
  try {
    return native.promiseState(v);
  } catch {
    return null;
  }
};
const isPromise = (v) => promiseState(v) !== null;
const isWeakMap = (v) => isOfClass(v, (x) => WeakMap.prototype.has.call(x, {}));
const isWeakSet = (v) => isOfClass(v, (x) => WeakSet.prototype.has.call(x, {}));
const boxedTypes = [
  ["Number", (x) => Number.prototype.valueOf.call(x)],
  ["String", (x) => String.prototype.valueOf.call(x)],
  ["Boolean", (x) => Boolean.prototype.valueOf.call(x)],
  ["Symbol", (x) => Symbol.prototype.valueOf.call(x)],
  ["BigInt", (x) => BigInt.prototype.valueOf.call(x)],
];

function isError(value) {
  return value instanceof Error || isDOMException(value) ||
    Object.prototype.toString.call(value) === "[object Error]";
}

const identifierRe = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function quoteString(s) {
  const quote = !s.includes("'") ? "'" : !s.includes('"') ? '"' : !s.includes("`") ? "`" : "'";
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\v") out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).toUpperCase().padStart(2, "0");
    else if (c >= 0xd800 && c <= 0xdfff) out += "\\u" + c.toString(16).toUpperCase();
    else out += ch;
  }
  return quote + out + quote;
}

function formatKey(key) {
  if (typeof key === "symbol") return `[${key.toString()}]`;
  return identifierRe.test(key) ? key : quoteString(key);
}

function formatNumber(n) {
  return Object.is(n, -0) ? "-0" : String(n);
}

function formatPrimitive(value, nested, opts) {
  switch (typeof value) {
    case "string": {
      if (!nested) return value;
      const s = value.length > opts.maxStringLength
        ? quoteString(value.slice(0, opts.maxStringLength)) +
          `... ${value.length - opts.maxStringLength} more characters`
        : quoteString(value);
      return s;
    }
    case "number":
      return formatNumber(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
    default:
      return value === null ? "null" : String(value);
  }
}

// The constructor name shown before an object, or null for null-prototype objects.
function constructorName(obj) {
  let proto = obj;
  while (proto !== null) {
    const desc = Object.getOwnPropertyDescriptor(proto, "constructor");
    if (desc && typeof desc.value === "function" && typeof desc.value.name === "string" && desc.value.name !== "") {
      return desc.value.name;
    }
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function getPrefix(obj, fallback, size) {
  const name = constructorName(obj);
  const tag = obj[Symbol.toStringTag];
  const sizeText = size === undefined ? "" : `(${size})`;
  if (name === null) {
    return `[${fallback}${sizeText}: null prototype]${typeof tag === "string" && tag !== "" ? ` [${tag}]` : ""} `;
  }
  const tagText = typeof tag === "string" && tag !== "" && tag !== name ? ` [${tag}]` : "";
  return `${name}${sizeText}${tagText} `;
}

function functionBase(fn) {
  let source = "";
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    // Proxies and such: fall back to the plain description.
  }
  const name = typeof fn.name === "string" ? fn.name : "";
  if (source.startsWith("class") && /^class\b/.test(source)) {
    const ext = Object.getPrototypeOf(fn);
    const extName = ext && ext !== Function.prototype && ext.name ? ` extends ${ext.name}` : "";
    return `[class ${name || "(anonymous)"}${extName}]`;
  }
  let kind = "Function";
  const tag = fn[Symbol.toStringTag];
  if (tag === "AsyncFunction") kind = "AsyncFunction";
  else if (tag === "GeneratorFunction") kind = "GeneratorFunction";
  else if (tag === "AsyncGeneratorFunction") kind = "AsyncGeneratorFunction";
  return name ? `[${kind}: ${name}]` : `[${kind} (anonymous)]`;
}

function errorBase(err) {
  let stack;
  try {
    stack = err.stack;
  } catch {
    stack = undefined;
  }
  let name, message;
  try {
    name = err.name;
    message = err.message;
  } catch {
    name = "Error";
  }
  const header = message ? `${name}: ${message}` : String(name);
  if (typeof stack === "string" && stack !== "") {
    // Stacks captured before the name was set show the old header; show the real one.
    return stack.includes("\n    at ") && !stack.startsWith(header)
      ? header + stack.slice(stack.indexOf("\n    at "))
      : stack;
  }
  return `[${header}]`;
}

function webAttributes(obj) {
  const attributes = [];
  const seen = new Set();
  for (let proto = Object.getPrototypeOf(obj); proto !== null && webPrototypes.has(proto);
    proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const desc = Object.getOwnPropertyDescriptor(proto, key);
      if (seen.has(key) || !desc.get || key.startsWith("on")) continue;
      seen.add(key);
      try {
        attributes.push([key, desc.get.call(obj)]);
      } catch {
        // A getter that throws is left out.
      }
    }
  }
  return attributes;
}

function formatProperty(obj, key, ctx, depth, opts) {
  const desc = Object.getOwnPropertyDescriptor(obj, key);
  let valueText;
  if (desc === undefined) return null;
  if ("value" in desc) {
    valueText = formatValue(desc.value, ctx, depth + 1, true, opts);
  } else if (desc.get && desc.set) {
    valueText = "[Getter/Setter]";
  } else if (desc.get) {
    valueText = "[Getter]";
  } else {
    valueText = "[Setter]";
  }
  return `${formatKey(key)}: ${valueText}`;
}

// Own enumerable keys. With `skipIndices` (arrays, typed arrays, String objects) the
// native lists them without walking the elements: output stays linear in what is shown.
function ownKeys(obj, skipIndices) {
  if (skipIndices) return native.ownNonIndexKeys(obj);
  const keys = [];
  for (const key of Reflect.ownKeys(obj)) {
    const desc = Object.getOwnPropertyDescriptor(obj, key);
    if (desc && desc.enumerable) keys.push(key);
  }
  return keys;
}

// "... N more items" after the first `opts.maxArrayLength` entries.
function moreItems(entries, total, opts) {
  const rest = total - opts.maxArrayLength;
  if (rest > 0) entries.push(`... ${rest} more item${rest > 1 ? "s" : ""}`);
}

// Joins entries on one line when short enough, else one per line.
function reduceToText(entries, prefix, open, close, indentation, opts) {
  if (entries.length === 0) return `${prefix}${open}${close}`;
  const oneLine = `${prefix}${open} ${entries.join(", ")} ${close}`;
  const multiline = entries.some((e) => e.includes("\n"));
  if (!multiline && oneLine.length + indentation <= opts.breakLength - 4) {
    return oneLine;
  }
  const pad = " ".repeat(indentation + 2);
  const body = entries.map((e) => pad + e.split("\n").join("\n" + pad)).join(",\n");
  return `${prefix}${open}\n${body}\n${" ".repeat(indentation)}${close}`;
}

function formatArrayEntries(arr, length, ctx, depth, opts, formatItem) {
  const entries = [];
  const limit = Math.min(length, opts.maxArrayLength);
  let holes = 0;
  for (let i = 0; i < limit; i++) {
    if (!Object.prototype.hasOwnProperty.call(arr, i)) {
      holes++;
      continue;
    }
    if (holes > 0) {
      entries.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
      holes = 0;
    }
    entries.push(formatItem(i));
  }
  if (holes > 0) entries.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
  moreItems(entries, length, opts);
  return entries;
}

function hexBytes(buffer, opts) {
  const bytes = new Uint8Array(buffer);
  const shown = Math.min(bytes.length, opts.maxArrayLength * 0.5);
  let text = "";
  for (let i = 0; i < shown; i++) {
    text += (i ? " " : "") + bytes[i].toString(16).padStart(2, "0");
  }
  if (bytes.length > shown) text += ` ... ${bytes.length - shown} more byte${bytes.length - shown > 1 ? "s" : ""}`;
  return `<${text}>`;
}

function formatValue(value, ctx, depth, nested, opts) {
  if (!webidl.isObject(value)) return formatPrimitive(value, nested, opts);

  if (ctx.seen.includes(value)) return "[Circular]";

  const custom = value[inspectCustom];
  if (typeof custom === "function") {
    ctx.seen.push(value);
    try {
      const result = custom.call(value, (v, extra = {}) =>
        formatValue(v, ctx, depth + (extra.depthOffset ?? 1), true, opts), opts.depth - depth);
      if (typeof result === "string") {
        return result.split("\n").join("\n" + " ".repeat(ctx.indentation));
      }
      return formatValue(result, ctx, depth, nested, opts);
    } finally {
      ctx.seen.pop();
    }
  }

  ctx.seen.push(value);
  try {
    return formatObject(value, ctx, depth, opts);
  } finally {
    ctx.seen.pop();
  }
}

function formatObject(value, ctx, depth, opts) {
  let base = "";
  let open = "{";
  let close = "}";
  let entries = [];
  let prefix = "";
  let keys;
  const tooDeep = depth > opts.depth;
  const child = (v) => {
    ctx.indentation += 2;
    try {
      return formatValue(v, ctx, depth + 1, true, opts);
    } finally {
      ctx.indentation -= 2;
    }
  };
  const property = (key) => {
    ctx.indentation += 2;
    try {
      return formatProperty(value, key, ctx, depth, opts);
    } finally {
      ctx.indentation -= 2;
    }
  };

  if (Array.isArray(value)) {
    const name = constructorName(value);
    prefix = name === "Array" ? "" : getPrefix(value, "Array", value.length);
    if (tooDeep) return "[Array]";
    open = "[";
    close = "]";
    entries = formatArrayEntries(value, value.length, ctx, depth, opts, (i) => child(value[i]));
    keys = ownKeys(value, true);
  } else if (webidl.typedArrayName(value) !== undefined) {
    const length = typedArrayLength.call(value);
    prefix = getPrefix(value, webidl.typedArrayName(value), length);
    if (tooDeep) return `[${webidl.typedArrayName(value)}]`;
    open = "[";
    close = "]";
    const limit = Math.min(length, opts.maxArrayLength);
    for (let i = 0; i < limit; i++) {
      entries.push(typeof value[i] === "bigint" ? `${value[i]}n` : formatNumber(value[i]));
    }
    moreItems(entries, length, opts);
    keys = ownKeys(value, true);
  } else if (typeof value === "function") {
    base = functionBase(value);
    keys = ownKeys(value, false).filter((k) => k !== "prototype");
    if (keys.length === 0) return base;
    if (tooDeep) return base;
  } else if (isError(value)) {
    base = errorBase(value);
    keys = ownKeys(value, false).filter((k) => k !== "stack" && k !== "message");
    if (Object.prototype.hasOwnProperty.call(value, "cause") && !keys.includes("cause")) {
      keys.push("cause");
    }
    if (keys.length === 0 || tooDeep) return base;
    if (ctx.indentation > 0) {
      base = base.split("\n").join("\n" + " ".repeat(ctx.indentation));
    }
  } else if (isMap(value)) {
    prefix = getPrefix(value, "Map", mapSize.call(value));
    if (tooDeep) return "[Map]";
    for (const [k, v] of Map.prototype.entries.call(value)) {
      if (entries.length === opts.maxArrayLength) break;
      entries.push(`${child(k)} => ${child(v)}`);
    }
    moreItems(entries, mapSize.call(value), opts);
    keys = ownKeys(value, false);
  } else if (isSet(value)) {
    prefix = getPrefix(value, "Set", setSize.call(value));
    if (tooDeep) return "[Set]";
    for (const v of Set.prototype.values.call(value)) {
      if (entries.length === opts.maxArrayLength) break;
      entries.push(child(v));
    }
    moreItems(entries, setSize.call(value), opts);
    keys = ownKeys(value, false);
  } else if (isDate(value)) {
    const time = Date.prototype.getTime.call(value);
    base = Number.isNaN(time) ? "Invalid Date" : Date.prototype.toISOString.call(value);
    keys = ownKeys(value, false);
    if (keys.length === 0 || tooDeep) return base;
  } else if (isRegExp(value)) {
    base = RegExp.prototype.toString.call(value);
    keys = ownKeys(value, false).filter((k) => k !== "lastIndex");
    if (keys.length === 0 || tooDeep) return base;
  } else if (webidl.isArrayBuffer(value) || webidl.isSharedArrayBuffer(value)) {
    const shared = webidl.isSharedArrayBuffer(value);
    prefix = getPrefix(value, shared ? "SharedArrayBuffer" : "ArrayBuffer");
    if (tooDeep) return `[${shared ? "SharedArrayBuffer" : "ArrayBuffer"}]`;
    entries.push(`[Uint8Contents]: ${hexBytes(value, opts)}`, `byteLength: ${value.byteLength}`);
    keys = ownKeys(value, false);
  } else if (webidl.isDataView(value)) {
    prefix = getPrefix(value, "DataView");
    if (tooDeep) return "[DataView]";
    entries.push(
      `byteLength: ${value.byteLength}`,
      `byteOffset: ${value.byteOffset}`,
      `buffer: ${child(value.buffer)}`,
    );
    keys = ownKeys(value, false);
  } else if (isPromise(value)) {
    prefix = getPrefix(value, "Promise");
    if (tooDeep) return "[Promise]";
    const [state, result] = promiseState(value);
    if (state === "pending") entries.push("<pending>");
    else if (state === "rejected") entries.push(`<rejected> ${child(result)}`);
    else entries.push(child(result));
    keys = ownKeys(value, false);
  } else if (isWeakMap(value) || isWeakSet(value)) {
    prefix = getPrefix(value, isWeakMap(value) ? "WeakMap" : "WeakSet");
    return `${prefix}{ <items unknown> }`;
  } else {
    const boxed = boxedTypes.find(([, unbox]) => isOfClass(value, unbox));
    if (boxed) {
      const inner = formatPrimitive(boxed[1](value), true, opts);
      base = `[${boxed[0]}: ${inner}]`;
      keys = ownKeys(value, boxed[0] === "String");
      if (keys.length === 0 || tooDeep) return base;
    } else {
      const name = constructorName(value);
      const tag = value[Symbol.toStringTag];
      if (name === "Object" && (typeof tag !== "string" || tag === "")) {
        prefix = "";
      } else if (name === "Object") {
        prefix = `Object [${tag}] `;
      } else {
        prefix = getPrefix(value, "Object");
      }
      if (tooDeep) return `[${prefix.trim() || "Object"}]`;
      keys = ownKeys(value, false);
      if (keys.length === 0) {
        for (const [key, attribute] of webAttributes(value)) entries.push(`${formatKey(key)}: ${child(attribute)}`);
      }
    }
  }

  for (const key of keys) {
    const text = property(key);
    if (text !== null) entries.push(text);
  }
  if (base !== "") {
    if (entries.length === 0) return base;
    return reduceToText(entries, `${base} `, open, close, ctx.indentation, opts);
  }
  return reduceToText(entries, prefix, open, close, ctx.indentation, opts);
}

function inspect(value, options = {}) {
  const opts = { ...defaultOptions };
  if (webidl.isObject(options)) {
    for (const key of Object.keys(defaultOptions)) {
      if (options[key] !== undefined) opts[key] = options[key];
    }
    if (options.depth === null) opts.depth = Infinity;
  }
  return formatValue(value, { seen: [], indentation: 0 }, 0, false, opts);
}

// printf-style formatting of console arguments.
function formatArgs(args) {
  let first = 0;
  let text = "";
  if (typeof args[0] === "string" && args.length > 1) {
    const fmt = args[0];
    let next = 1;
    let last = 0;
    first = 1;
    for (let i = 0; i < fmt.length - 1; i++) {
      if (fmt[i] !== "%") continue;
      const spec = fmt[i + 1];
      let replacement;
      if (spec === "%") {
        replacement = "%";
      } else if (next < args.length && "sdifoOjc".includes(spec)) {
        const arg = args[next++];
        switch (spec) {
          case "s":
            if (typeof arg === "string") replacement = arg;
            else if (typeof arg === "bigint") replacement = `${arg}n`;
            else if (typeof arg === "symbol") replacement = arg.toString();
            else if (typeof arg === "number") replacement = formatNumber(arg);
            else if (!webidl.isObject(arg)) replacement = String(arg);
            else replacement = inspect(arg, { depth: 1 });
            break;
          case "d":
          case "i":
            if (typeof arg === "bigint") replacement = `${arg}n`;
            else if (typeof arg === "symbol" || webidl.isObject(arg)) replacement = "NaN";
            else {
              const n = spec === "d" ? Number(arg) : parseInt(arg, 10);
              replacement = formatNumber(n);
            }
            break;
          case "f":
            replacement = typeof arg === "symbol" ? "NaN" : formatNumber(parseFloat(arg));
            break;
          case "o":
            replacement = inspect(arg, { depth: 4 });
            break;
          case "O":
            replacement = inspect(arg);
            break;
          case "j":
            try {
              replacement = JSON.stringify(arg);
            } catch (err) {
              replacement = /circular/i.test(String(err && err.message)) ? "[Circular]" : "[Unserializable]";
            }
            break;
          case "c":
            replacement = "";
            break;
        }
      } else {
        continue;
      }
      text += fmt.slice(last, i) + replacement;
      last = i + 2;
      i++;
    }
    text += fmt.slice(last);
    first = next;
  }
  for (let i = first; i < args.length; i++) {
    const arg = args[i];
    const part = typeof arg === "string" ? arg : inspect(arg);
    text += (text === "" && i === first && first === 0 ? "" : " ") + part;
  }
  return text;
}

let groupIndent = "";
const counts = new Map();
const timers = new Map();

function emit(level, text) {
  const out = groupIndent === "" ? text : groupIndent + text.split("\n").join("\n" + groupIndent);
  native.print(level, out);
}

function formatDuration(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(3)}s`;
  return `${Number(ms.toFixed(3))}ms`;
}

function renderTable(head, rows) {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)) + 2);
  const line = (l, m, r) => l + widths.map((w) => "─".repeat(w)).join(m) + r;
  const row = (cells) => "│" + cells.map((cell, c) => {
    const s = cell ?? "";
    const left = Math.floor((widths[c] - s.length) / 2);
    return " ".repeat(left) + s + " ".repeat(widths[c] - s.length - left);
  }).join("│") + "│";
  return [
    line("┌", "┬", "┐"),
    row(head),
    line("├", "┼", "┤"),
    ...rows.map(row),
    line("└", "┴", "┘"),
  ].join("\n");
}

const consoleMethods = {
  log(...data) {
    emit("log", formatArgs(data));
  },
  info(...data) {
    emit("info", formatArgs(data));
  },
  debug(...data) {
    emit("debug", formatArgs(data));
  },
  warn(...data) {
    emit("warn", formatArgs(data));
  },
  error(...data) {
    emit("error", formatArgs(data));
  },
  trace(...data) {
    const holder = {};
    if (typeof Error.captureStackTrace === "function") Error.captureStackTrace(holder, consoleMethods.trace);
    const stack = typeof holder.stack === "string" ? holder.stack.slice(holder.stack.indexOf("\n") + 1) : "";
    const message = formatArgs(data);
    emit("error", `Trace${message ? ": " + message : ""}${stack ? "\n" + stack : ""}`);
  },
  assert(condition = false, ...data) {
    if (condition) return;
    if (data.length === 0) data = ["Assertion failed"];
    else if (typeof data[0] === "string") data[0] = `Assertion failed: ${data[0]}`;
    else data.unshift("Assertion failed");
    emit("error", formatArgs(data));
  },
  dir(item, options) {
    emit("log", inspect(item, webidl.isObject(options) ? options : {}));
  },
  dirxml(...data) {
    emit("log", formatArgs(data));
  },
  table(tabularData, properties) {
    if (!webidl.isObject(tabularData)) {
      emit("log", formatArgs([tabularData]));
      return;
    }
    const cell = (v) => formatValue(v, { seen: [], indentation: 0 }, 1, true, { ...defaultOptions, depth: 0 });
    const columns = [];
    let hasValues = false;
    const rows = [];
    const source = isMap(tabularData)
      ? [...Map.prototype.entries.call(tabularData)]
      : isSet(tabularData)
        ? [...Set.prototype.values.call(tabularData)].map((v, i) => [i, v])
        : Object.keys(tabularData).map((k) => [k, tabularData[k]]);
    for (const [key, value] of source) {
      const row = { index: typeof key === "string" ? key : cell(key), cells: new Map(), value: undefined };
      if (webidl.isObject(value) && typeof value !== "function") {
        for (const k of Object.keys(value)) {
          if (Array.isArray(properties) && !properties.includes(k)) continue;
          if (!columns.includes(k)) columns.push(k);
          row.cells.set(k, cell(value[k]));
        }
      } else {
        hasValues = true;
        row.value = cell(value);
      }
      rows.push(row);
    }
    if (Array.isArray(properties)) {
      columns.length = 0;
      columns.push(...properties.map(String));
    }
    const head = ["(index)", ...columns, ...(hasValues ? ["Values"] : [])];
    const body = rows.map((r) => [
      r.index,
      ...columns.map((c) => r.cells.get(c) ?? ""),
      ...(hasValues ? [r.value ?? ""] : []),
    ]);
    emit("log", renderTable(head, body));
  },
  count(label = "default") {
    label = webidl.toDOMString(label);
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    emit("info", `${label}: ${n}`);
  },
  countReset(label = "default") {
    label = webidl.toDOMString(label);
    if (counts.has(label)) counts.set(label, 0);
    else emit("warn", `Count for '${label}' does not exist`);
  },
  group(...data) {
    if (data.length > 0) emit("log", formatArgs(data));
    groupIndent += "  ";
  },
  groupCollapsed(...data) {
    consoleMethods.group(...data);
  },
  groupEnd() {
    groupIndent = groupIndent.slice(0, -2);
  },
  // Output already sent cannot be taken back: clearing empties the group stack (what the
  // Console Standard requires everywhere).
  clear() {
    groupIndent = "";
  },
  time(label = "default") {
    label = webidl.toDOMString(label);
    if (timers.has(label)) {
      emit("warn", `Timer '${label}' already exists`);
      return;
    }
    timers.set(label, native.now());
  },
  timeLog(label = "default", ...data) {
    label = webidl.toDOMString(label);
    if (!timers.has(label)) {
      emit("warn", `Timer '${label}' does not exist`);
      return;
    }
    const extra = data.length > 0 ? " " + formatArgs(data) : "";
    emit("info", `${label}: ${formatDuration(native.now() - timers.get(label))}${extra}`);
  },
  timeEnd(label = "default") {
    label = webidl.toDOMString(label);
    if (!timers.has(label)) {
      emit("warn", `Timer '${label}' does not exist`);
      return;
    }
    const start = timers.get(label);
    timers.delete(label);
    emit("info", `${label}: ${formatDuration(native.now() - start)}`);
  },
};

// `console` is a namespace object: methods work unbound.
const console = Object.create(Object.prototype);
for (const [name, fn] of Object.entries(consoleMethods)) {
  Object.defineProperty(console, name, { value: fn, writable: true, enumerable: true, configurable: true });
}
Object.defineProperty(console, Symbol.toStringTag, { value: "console", configurable: true });

defineGlobals({ console });

Object.assign(internal, { inspectCustom, inspect });
