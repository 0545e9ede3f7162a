"""No stack-trace API or `.caller` path reaches the bootstrap's internals.

User JS can install `Error.prepareStackTrace` and call `getThis()` / `getFunction()` on the
call sites it receives, or walk `fn.caller` from a sloppy-mode function. Every kind of
callback the runtime invokes is probed that way here, and nothing reached may be the
`internal` or `native` object, or a bootstrap function that is not a public API.
"""

import asyncio
import json
import re

import pytest
from conftest import REPO

import pyruntime
from pyruntime.engine import AppIsolate, Limits, load_script

JS_DIR = REPO / "ext" / "js"

# The probe: sloppy-mode functions that record what the stack-trace API and `caller` expose.
# `probe(label, thisValue, args)` is called from inside each callback; everything reached from
# call sites and caller chains is checked by `report()` against what globalThis and the
# callbacks' own arguments make public.
PROBE = r"""
(function () {
  const reached = [];        // [label, how, value]
  const given = [];          // objects the API hands to callbacks on purpose (arguments, events)
  const isObj = (v) => (typeof v === "object" && v !== null) || typeof v === "function";
  const note = (label, how, v) => { if (isObj(v)) reached.push([label, how, v]); };
  const labels = new Set();

  function sites(label, list) {
    if (!Array.isArray(list)) return;
    for (const site of list) {
      for (const how of ["getThis", "getFunction"]) {
        try { note(label, how, site[how]()); } catch {}
      }
      for (const how of ["getTypeName", "getFunctionName", "getMethodName", "getFileName", "getEvalOrigin"]) {
        try { site[how](); } catch {}
      }
    }
  }
  // Every stack formatted anywhere (also by the runtime, e.g. when it reports an error) is walked.
  Error.prepareStackTrace = function (error, list) {
    sites("prepareStackTrace", list);
    return "stack hidden by the probe";
  };
  function probe(label, thisValue, args) {
    labels.add(label);
    const previous = Error.prepareStackTrace;
    let list;
    Error.prepareStackTrace = function (error, l) { return l; };
    try { list = new Error("probe").stack; } finally { Error.prepareStackTrace = previous; }
    sites(label, list);
    let f = probe.caller;
    for (let i = 0; f && i < 64; i++) {
      note(label, "caller", f);
      try { note(label, "caller.arguments", f.arguments); } catch {}
      try { f = f.caller; } catch { break; }
    }
    if (isObj(thisValue)) given.push(thisValue);
    for (const a of args ?? []) if (isObj(a)) given.push(a);
  }

  // Functions and objects anyone can reach from the given roots through properties,
  // accessors and prototypes.
  function reachable(roots) {
    const seen = new Set();
    const stack = [...roots];
    while (stack.length > 0) {
      const o = stack.pop();
      if (!isObj(o) || seen.has(o)) continue;
      seen.add(o);
      try { stack.push(Object.getPrototypeOf(o)); } catch {}
      let keys = [];
      try { keys = Reflect.ownKeys(o); } catch {}
      for (const k of keys) {
        let d;
        try { d = Object.getOwnPropertyDescriptor(o, k); } catch { continue; }
        if (d) stack.push(d.value, d.get, d.set);
      }
    }
    return seen;
  }

  function source(fn) {
    try { return Function.prototype.toString.call(fn); } catch { return ""; }
  }

  function report() {
    const publicValues = reachable([globalThis, ...given]);
    const findings = [];
    const checked = new Set();
    const check = (label, how, v) => {
      if (checked.has(v)) return;
      checked.add(v);
      if (typeof v === "function" && !publicValues.has(v)) {
        findings.push({ label, how, kind: "function", name: String(v.name), source: source(v) });
      }
      if (typeof v === "object") {
        let keys = [];
        try { keys = Reflect.ownKeys(v).filter((k) => typeof k === "string"); } catch {}
        findings.push({ label, how, kind: "object", public: publicValues.has(v), keys: keys.slice(0, 200) });
        for (const k of keys) {
          let d;
          try { d = Object.getOwnPropertyDescriptor(v, k); } catch { continue; }
          for (const part of [d?.value, d?.get, d?.set]) {
            if (typeof part === "function" && !publicValues.has(part)) {
              findings.push({ label, how: how + "." + k, kind: "function", name: String(part.name),
                              source: source(part) });
            }
          }
        }
      }
    };
    for (const [label, how, v] of reached) check(label, how, v);
    return { findings, labels: [...labels].sort(), reached: reached.length };
  }
  globalThis.probe = probe;
  globalThis.probeReport = report;
})();
"""

# Each scenario is sloppy-mode user code that makes the runtime invoke callbacks; every
# callback calls `probe(label, this, arguments)` and throws in some of them.
SCENARIOS = r"""
function cbTimer() { probe("setTimeout", this, arguments); }
setTimeout(cbTimer, 0, "x");
var intervalId = setInterval(function cbInterval() {
  probe("setInterval", this, arguments); clearInterval(intervalId); }, 0);
setTimeout(function cbTimerThrows() {
  probe("setTimeout-throws", this, arguments); throw new Error("from a timer"); }, 0);

Promise.resolve(1).then(function cbThen() { probe("promise-then", this, arguments); });
Promise.reject(new Error("r")).catch(function cbCatch() { probe("promise-catch", this, arguments); });
queueMicrotask(function cbMicrotask() { probe("queueMicrotask", this, arguments); });
queueMicrotask(function cbMicrotaskThrows() {
  probe("queueMicrotask-throws", this, arguments); throw new Error("mt"); });

addEventListener("error", function onError(e) { probe("error-event", this, arguments); e.preventDefault(); });
addEventListener("unhandledrejection", function onUnhandled(e) {
  probe("unhandledrejection", this, arguments); e.preventDefault();
});
reportError(new Error("reported"));
Promise.reject(new Error("nobody handles this"));

var target = new EventTarget();
target.addEventListener("ping", function onPing() { probe("event-listener", this, arguments); });
target.addEventListener("ping", { handleEvent: function handleEvent() { probe("handleEvent", this, arguments); } });
target.addEventListener("ping", function onPingThrows() {
  probe("listener-throws", this, arguments); throw new Error("l"); });
target.dispatchEvent(new Event("ping"));
target.dispatchEvent(new CustomEvent("ping", { detail: 1 }));

var controller = new AbortController();
controller.signal.addEventListener("abort", function onAbort() { probe("abort-listener", this, arguments); });
controller.signal.onabort = function onAbortAttr() { probe("onabort", this, arguments); };
controller.abort("why");
AbortSignal.timeout(0).addEventListener("abort", function onTimeoutAbort() {
  probe("abort-timeout", this, arguments); });
if (typeof AbortSignal.any === "function") {
  var c2 = new AbortController();
  AbortSignal.any([c2.signal]).addEventListener("abort", function onAny() { probe("abort-any", this, arguments); });
  c2.abort();
}

var strategy = { highWaterMark: 2, size: function size() { probe("strategy-size", this, arguments); return 1; } };
var rs = new ReadableStream({
  start: function start(c) { probe("readable-start", this, arguments); c.enqueue("a"); },
  pull: function pull(c) { probe("readable-pull", this, arguments); c.enqueue("b"); },
  cancel: function cancel() { probe("readable-cancel", this, arguments); },
}, strategy);
var rsReader = rs.getReader();
rsReader.read().then(function () { return rsReader.read(); }).then(function () { return rsReader.cancel("stop"); });
new ReadableStream({ cancel: function cancel2() { probe("readable-cancel-direct", this, arguments); } }).cancel("x");
new ReadableStream({ pull: function pullThrows() {
  probe("readable-pull-throws", this, arguments); throw new Error("p"); } })
  .getReader().read().catch(function () {});

var bytes = new ReadableStream({
  type: "bytes",
  start: function byteStart() { probe("byte-start", this, arguments); },
  pull: function bytePull(c) {
    probe("byte-pull", this, arguments);
    if (c.byobRequest) { c.byobRequest.view[0] = 7; c.byobRequest.respond(1); } else { c.enqueue(new Uint8Array([1])); }
  },
  cancel: function byteCancel() { probe("byte-cancel", this, arguments); },
});
var byob = bytes.getReader({ mode: "byob" });
byob.read(new Uint8Array(4)).then(function () { return byob.cancel(); });
new ReadableStream({ type: "bytes", cancel: function byteCancel2() {
  probe("byte-cancel-direct", this, arguments); } }).cancel();
var teeParts = new ReadableStream({ pull: function teePull(c) {
  probe("tee-pull", this, arguments); c.enqueue(1); c.close(); } }).tee();
teeParts[0].getReader().read();

var ws = new WritableStream({
  start: function wStart() { probe("writable-start", this, arguments); },
  write: function wWrite() { probe("writable-write", this, arguments); },
  close: function wClose() { probe("writable-close", this, arguments); },
}, { highWaterMark: 1, size: function wSize() { probe("writable-size", this, arguments); return 1; } });
var writer = ws.getWriter();
writer.write("x").then(function () { return writer.close(); });
new WritableStream({ abort: function wAbort() { probe("writable-abort", this, arguments); } }).abort("why");
new WritableStream({ write: function wThrows() {
  probe("writable-write-throws", this, arguments); throw new Error("w"); } })
  .getWriter().write(1).catch(function () {});

var ts = new TransformStream({
  start: function tStart() { probe("transform-start", this, arguments); },
  transform: function tTransform(chunk, c) { probe("transform-transform", this, arguments); c.enqueue(chunk); },
  flush: function tFlush() { probe("transform-flush", this, arguments); },
});
var tw = ts.writable.getWriter();
tw.write("t").then(function () { return tw.close(); });
ts.readable.getReader().read();
new ReadableStream({ start: function pipeSrc(c) { probe("pipe-source", this, arguments); c.enqueue(1); c.close(); } })
  .pipeTo(new WritableStream({ write: function pipeSink() { probe("pipe-sink", this, arguments); } }));
ReadableStream.from && ReadableStream.from({
  [Symbol.iterator]: function iter() {
    probe("from-iterator", this, arguments);
    return { next: function next() { probe("from-next", this, arguments); return { done: true }; } };
  },
}).getReader().read();

new Response(new ReadableStream({ pull: function bodyPull(c) {
  probe("response-body-pull", this, arguments); c.enqueue(new Uint8Array([104, 105])); c.close();
} })).text();
new Request("http://x.test/", { method: "POST", body: new ReadableStream({
  start: function reqBody(c) { probe("request-body-start", this, arguments); c.close(); },
}), duplex: "half" }).arrayBuffer();
new Blob([{ toString: function blobPart() { probe("blob-part-tostring", this, arguments); return "p"; } }]).text();
new Headers({ get a() { probe("headers-getter", this, arguments); return "1"; } });
new Headers({ b: { toString: function hv() { probe("header-value-tostring", this, arguments); return "v"; } } });
new URLSearchParams({ [Symbol.iterator]: function* usp() {
  probe("urlsearchparams-iterator", this, arguments); yield ["a", "b"]; } });
new URL({ toString: function urlStr() { probe("url-tostring", this, arguments); return "http://a.test/"; } });
new TextEncoder().encode({ toString: function encStr() { probe("encode-tostring", this, arguments); return "e"; } });
atob({ toString: function atobStr() { probe("atob-tostring", this, arguments); return "YQ=="; } });

structuredClone({ get a() { probe("structuredClone-getter", this, arguments); return 1; } });
structuredClone({ blob: new File(["x"], "f"), get after() {
  probe("structuredClone-blob-getter", this, arguments); return 1; } });
try {
  structuredClone(1, { transfer: { [Symbol.iterator]: function* tr() {
    probe("structuredClone-transfer", this, arguments); } } });
} catch (e) {}

console.log("%f %s", { toString: function ts2() { probe("console-toString-f", this, arguments); return "3"; } },
  { get [Symbol.toStringTag]() { probe("console-tag", this, arguments); return "T"; } });
console.log({ get g() { return 1; }, get [Symbol.toStringTag]() {
  probe("console-tag2", this, arguments); return "U"; } });
console.log(new Proxy({}, { ownKeys: function pk(t) { probe("console-proxy-ownKeys", this, arguments); return []; } }));
console.table([{ get a() { probe("console-table", this, arguments); return "t"; } }]);
"""


def bootstrap_sources() -> list[str]:
    return [path.read_text() for path in sorted(JS_DIR.glob("[0-9][0-9]_*.js"))]


def native_names() -> set[str]:
    """Names of `native` functions, from the table in ext/js/README.md."""
    return set(re.findall(r"^\| `(\w+)", (JS_DIR / "README.md").read_text(), re.M))


def leaks(report: dict) -> list[str]:
    """What the probe reached that is private: bootstrap functions, `internal`, `native`."""
    sources = bootstrap_sources()
    natives = native_names()
    problems = []
    for item in report["findings"]:
        where = f"{item['label']} via {item['how']}"
        if item["kind"] == "function":
            text = item["source"]
            if text.startswith("function (native, internal)") or (
                    "[native code]" not in text and any(text in s for s in sources)):
                problems.append(f"{where}: bootstrap function {item['name']!r}")
            elif "[native code]" in text and item["name"] in natives:
                problems.append(f"{where}: native function {item['name']!r}")
        else:
            keys = set(item["keys"])
            if keys & {"defineGlobals", "webidl", "dispatchFetch"}:
                problems.append(f"{where}: the internal object")
            if len(keys & natives) >= 2:
                problems.append(f"{where}: the native object")
    return problems


def run_probe(iso: pyruntime.Isolate) -> dict:
    iso.eval(PROBE, filename="probe.js")
    iso.eval(SCENARIOS, filename="scenarios.js")
    # Timers with a zero delay, AbortSignal.timeout(0) and the promise chains have run once a
    # later timer fires.
    iso.eval("new Promise((resolve) => setTimeout(resolve, 20))")
    return iso.eval("probeReport()")


def test_the_probe_detects_leaks():
    """A bootstrap function on the caller chain, and an internal-looking receiver, are reported."""
    defining = re.search(r"function defineGlobals\(values\) \{\n(?:.*\n)*?\}", bootstrap_sources()[0])
    with pyruntime.Isolate(timeout_ms=None, cpu_limit_ms=None) as iso:
        iso.eval(PROBE, filename="probe.js")
        # A sloppy copy of a bootstrap function, never stored where the public walk finds it.
        iso.eval(f"(function () {{ const planted = ({defining.group(0)});"
                 " planted({ get planted() { probe('planted', this, []); return 1; } }); })()")
        iso.eval("({ defineGlobals() {}, webidl: {}, m: function m() { probe('receiver', this, []); } }).m()")
        found = leaks(iso.eval("probeReport()"))
    assert any(p.startswith("planted via") and p.endswith("bootstrap function 'defineGlobals'") for p in found), found
    assert any(p.startswith("receiver via getThis: the internal object") for p in found), found


def test_no_callback_reaches_internals():
    with pyruntime.Isolate(timeout_ms=None, cpu_limit_ms=None, total_timeout_ms=20_000) as iso:
        report = run_probe(iso)
    expected = set(re.findall(r'probe\("([\w-]+)"', SCENARIOS))
    # Every callback ran and was probed.
    assert set(report["labels"]) == expected
    assert report["reached"] > 0
    assert leaks(report) == []


WORKER_MODULE = """
(0, eval)(%s);
(0, eval)(`
globalThis.sloppyFetch = function fetch(request, env, ctx) {
  if (request.url.endsWith("/report")) return Response.json(probeReport());
  probe("module-fetch", this, arguments);
  ctx.waitUntil({ then: function then(resolve) { probe("waitUntil-thenable", this, arguments); resolve(); } });
  ctx.waitUntil(Promise.resolve().then(function bg() { probe("waitUntil-reaction", this, arguments); }));
  var n = 0;
  return new Response(new ReadableStream({
    pull: function pull(c) {
      probe("response-stream-pull", this, arguments);
      if (n++ < 2) c.enqueue(new TextEncoder().encode("chunk")); else c.close();
    },
  }));
};
`);
export default { fetch: globalThis.sloppyFetch };
"""

SERVICE_WORKER = """
(0, eval)(%s);
addEventListener("fetch", function onFetch(event) {
  if (event.request.url.endsWith("/report")) return event.respondWith(Response.json(probeReport()));
  probe("fetch-event", this, arguments);
  event.waitUntil(Promise.resolve().then(function bg() { probe("event-waitUntil", this, arguments); }));
  event.respondWith({ then: function then(resolve) {
    probe("respondWith-thenable", this, arguments); resolve(new Response("ok"));
  } });
});
"""


@pytest.mark.parametrize(("name", "text"), [("worker.mjs", WORKER_MODULE), ("sw.js", SERVICE_WORKER)])
def test_worker_dispatch_reaches_no_internals(tmp_path, name, text):
    entry = tmp_path / name
    entry.write_text(text % json.dumps(PROBE))

    async def run():
        worker = AppIsolate(load_script(entry), limits=Limits(timeout_ms=None, cpu_limit_ms=None))
        try:
            await worker.load()
            first = await worker.fetch("GET", "http://example.test/", [], None)
            while first.stream_id and await worker.read_chunk(first.stream_id) is not None:
                pass
            await worker.wait_until()
            return json.loads((await worker.fetch("GET", "http://example.test/report", [], None)).body)
        finally:
            worker.close()

    report = asyncio.run(run())
    expected = set(re.findall(r'probe\("([\w-]+)"', text))
    assert set(report["labels"]) == expected
    assert leaks(report) == []


def test_every_bootstrap_function_is_strict():
    """Reading `caller` of a strict function throws; every public bootstrap function is strict."""
    with pyruntime.Isolate(timeout_ms=5000, cpu_limit_ms=5000) as iso:
        sloppy, count = iso.eval(r"""(() => {
          const seen = new Set(), stack = [globalThis], sloppy = [];
          let count = 0;
          while (stack.length > 0) {
            const o = stack.pop();
            if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) continue;
            seen.add(o);
            stack.push(Object.getPrototypeOf(o));
            for (const k of Reflect.ownKeys(o)) {
              const d = Object.getOwnPropertyDescriptor(o, k);
              stack.push(d.value, d.get, d.set);
            }
            if (typeof o !== "function" || Function.prototype.toString.call(o).includes("[native code]")) continue;
            count++;
            try { o.caller; sloppy.push(o.name); } catch {}
          }
          return [sloppy, count];
        })()""")
    assert count > 100
    assert sloppy == []


def test_replaced_builtins_never_see_the_host_object_constructor():
    """Blob construction goes through Reflect.construct taken at bootstrap, not the global one."""
    with pyruntime.Isolate(timeout_ms=5000, cpu_limit_ms=5000) as iso:
        seen = iso.eval("""(() => {
            const seen = [];
            const original = Reflect.construct;
            Reflect.construct = function (target, args, newTarget) {
                seen.push(target.name);
                return original(target, args, newTarget);
            };
            new Blob(["a"]); new File(["b"], "f"); structuredClone(new Blob(["c"]));
            Reflect.construct = original;
            return seen;
        })()""")
    assert seen == []
