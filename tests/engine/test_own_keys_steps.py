"""Own keys in steps (ext/js/09_builtin_steps.js): `Object.keys`, `values`, `entries`,
`assign`, `getOwnPropertyNames`, `getOwnPropertyDescriptors` and `Reflect.ownKeys` on large
arrays, typed arrays and strings.

V8 runs each to completion in C++ without looking at termination. Under the default 128 MB
limit, `Object.keys` of a 2M-element array took 1.2 s of CPU, `entries` 13.4 s (each
scavenge rescans the growing result), `getOwnPropertyNames` 3.9 s, `assign` 2.4 s;
`Object.values` of a 32M-element typed array 0.6 s; `Object.keys` and `Reflect.ownKeys` of a
64M-element typed array, `Object.keys` of a 16M-character string, `entries` of a 32M-element
typed array and `getOwnPropertyDescriptors` of a 16M-element one or a 16M-character string ran
out of heap inside the builtin, and V8 aborted the process. Each case now stops at the CPU or memory
limit, in a child process (a V8 abort would end it, not the suite), and the isolate or a
fresh one keeps working. The results are the builtins': keys in their order, enumerability
and values read as each key is reached, no setter or trap run that the builtin would not run.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from pyruntime import Isolate

LIMIT_MS = 50
MARGIN_MS = 450  # V8 reaching the termination, and a late watchdog on a loaded machine

# A 2M-element packed array, made in steps of its own (each well under the limit, and each
# picking up where it stopped if a loaded machine made it run past the limit: see CHILD).
PACKED = ["globalThis.a = []"] + [f"for (let i = a.length; i < {k + 1} * 2 ** 18; i++) a.push(i)" for k in range(8)]

CASES = {
    "keys of a 2M-element array": (PACKED, "Object.keys(a).length"),
    "entries of a 2M-element array": (PACKED, "Object.entries(a).length"),
    "getOwnPropertyNames of a 2M-element array": (PACKED, "Object.getOwnPropertyNames(a).length"),
    "assign from a 2M-element array": (PACKED, "Object.keys(Object.assign({}, a)).length"),
    "keys of a 64M-element typed array": ([], "Object.keys(new Uint8Array(2 ** 26)).length"),
    "entries of a 32M-element typed array": ([], "Object.entries(new Uint8Array(2 ** 25)).length"),
    "values of a 32M-element typed array": ([], "Object.values(new Uint8Array(2 ** 25)).length"),
    "values of a 16M-character string": (["globalThis.s = 'ab'.repeat(2 ** 23); s.charCodeAt(0)"],
                                         "Object.values(s).length"),
    "getOwnPropertyDescriptors of a 16M-character string": (
        ["globalThis.s = 'ab'.repeat(2 ** 23); s.charCodeAt(0)"], "Object.getOwnPropertyDescriptors(s) && 0"),
    "Reflect.ownKeys of a 64M-element typed array": ([], "Reflect.ownKeys(new Uint8Array(2 ** 26)).length"),
    "getOwnPropertyDescriptors of a 16M-element typed array": (
        [], "Object.keys(Object.getOwnPropertyDescriptors(new Uint8Array(2 ** 24))).length"),
    "keys of a 16M-character string": (["globalThis.s = 'ab'.repeat(2 ** 23); s.charCodeAt(0)"],
                                       "Object.keys(s).length"),
}

CHILD = textwrap.dedent("""
    import json, sys, time
    from pyruntime import Isolate, MemoryLimitExceeded, TimeLimitExceeded
    setup, work, limit_ms = json.loads(sys.argv[1])
    report = {}
    iso = Isolate(cpu_limit_ms=limit_ms, timeout_ms=None)
    for step in setup:  # the setup is not under test: a step cut by the limit runs again
        for attempt in range(5):
            try:
                iso.eval(step + "; undefined")
                break
            except TimeLimitExceeded:
                if attempt == 4:
                    raise
    start = time.thread_time()
    try:
        report["result"] = iso.eval(work)
    except (TimeLimitExceeded, MemoryLimitExceeded) as exc:
        report["stopped"] = type(exc).__name__
    report["spent_ms"] = (time.thread_time() - start) * 1000
    if report.get("stopped") == "MemoryLimitExceeded":
        iso = Isolate()
    report["after"] = iso.eval("Object.keys([7, 8]).join() + Object.entries({ x: 1 }).join()")
    print(json.dumps(report))
""")


@pytest.mark.parametrize("name", CASES)
def test_own_keys_work_stops_at_the_limits_without_ending_the_process(name):
    setup, work = CASES[name]
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps([setup, work, LIMIT_MS])], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert "stopped" in report, report
    assert report["spent_ms"] < LIMIT_MS + MARGIN_MS, report
    assert report["after"] == "0,1x,1"


@pytest.fixture(scope="module")
def iso():
    with Isolate(memory_limit_mb=512, timeout_ms=None, cpu_limit_ms=60_000, total_timeout_ms=None) as isolate:
        isolate.eval("""
            globalThis.same = (x, y) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
            globalThis.range = (n, keep = () => true) => {
              const keys = [];
              for (let i = 0; i < n; i++) if (keep(i)) keys.push(String(i));
              return keys;
            };
        """)
        yield isolate


def test_keys_of_large_arrays_typed_arrays_and_strings_are_the_builtins(iso):
    # Holes, a non-enumerable element, named keys before and after the elements were made,
    # symbols: in V8's order (indices ascending, then names as they were added, then symbols).
    assert iso.eval("""{
        const a = [];
        for (let i = 0; i < 100000; i++) if (i % 7) a[i] = i;
        a.first = 1;
        Object.defineProperty(a, 50002, { value: 2, enumerable: false });
        Object.defineProperty(a, "hidden", { value: 3, enumerable: false });
        const s1 = Symbol("s1");
        const s2 = Symbol("s2");
        a[s1] = 4;
        a.last = 5;
        a[s2] = 6;
        const indices = range(100000, (i) => i % 7 !== 0);
        const t = new Float32Array(70000);
        t.name = "t";
        Object.defineProperty(t, "secret", { value: 1, enumerable: false });
        t[s1] = 1;
        const text = "é".repeat(40000) + "x";
        const descriptors = Object.getOwnPropertyDescriptors(a);
        const typedDescriptors = Object.getOwnPropertyDescriptors(t);
        [
          same(Object.keys(a), [...indices.filter((k) => k !== "50002"), "first", "last"]),
          same(Object.getOwnPropertyNames(a), [...indices, "length", "first", "hidden", "last"]),
          same(Reflect.ownKeys(a), [...indices, "length", "first", "hidden", "last", s1, s2]),
          same(Object.keys(t), [...range(70000), "name"]),
          same(Object.getOwnPropertyNames(t), [...range(70000), "name", "secret"]),
          same(Reflect.ownKeys(t), [...range(70000), "name", "secret", s1]),
          same(Object.keys(text), range(40001)),
          same(Object.getOwnPropertyNames(text), [...range(40001), "length"]),
          same(Reflect.ownKeys(descriptors), Reflect.ownKeys(a)),
          JSON.stringify([descriptors[1], descriptors[50002], descriptors.length, descriptors.hidden]),
          descriptors[s2].value === 6 && Object.getPrototypeOf(descriptors) === Object.prototype,
          JSON.stringify([typedDescriptors[69999], typedDescriptors.secret]),
        ];
    }""") == [True] * 9 + [
        '[{"value":1,"writable":true,"enumerable":true,"configurable":true},'
        '{"value":2,"writable":true,"enumerable":false,"configurable":true},'
        '{"value":100000,"writable":true,"enumerable":false,"configurable":false},'
        '{"value":3,"writable":false,"enumerable":false,"configurable":false}]',
        True,
        '[{"value":0,"writable":true,"enumerable":true,"configurable":true},'
        '{"value":1,"writable":false,"enumerable":false,"configurable":false}]',
    ]


def test_values_and_entries_of_large_inputs_read_each_key_as_it_is_reached(iso):
    assert iso.eval("""{
        const n = 40000;
        const a = Array.from({ length: n }, (_, i) => i * 2);
        let reads = 0;
        // A getter that deletes a later element and hides another: both are skipped.
        Object.defineProperty(a, 10, { enumerable: true, configurable: true, get() {
          reads++;
          delete a[20];
          Object.defineProperty(a, 30, { enumerable: false });
          return "g";
        } });
        a.tail = "t";
        const values = Object.values(a);
        const entries = Object.entries(a);
        const expected = [];
        for (let i = 0; i < n; i++) if (i !== 20 && i !== 30) expected.push(i === 10 ? "g" : i * 2);
        expected.push("t");
        const t = new Int16Array(n).map((_, i) => i - 20000);
        [
          same(values, expected),
          same(entries.map((e) => e[1]), expected),
          entries.every((e, i) => e[0] === (i === n - 2 ? "tail" : String(i < 20 ? i : i < 29 ? i + 1 : i + 2))),
          same(Object.values(t), Array.from(t)),
          Object.entries("ab".repeat(10000)).slice(0, 2).join("|"),
          reads,
        ];
    }""") == [True, True, True, True, "0,a|1,b", 2]


def test_results_are_plain_arrays_and_run_no_setter_on_array_prototype(iso):
    assert iso.eval("""{
        let called = 0;
        Object.defineProperty(Array.prototype, "3", { configurable: true, set(v) { called++; } });
        try {
          const big = new Uint8Array(20000).fill(9);
          const keys = Object.keys(big);
          const entries = Object.entries(big);
          // A getter that adds a setter to Array.prototype while the result grows.
          const a = Array.from({ length: 20000 }, (_, i) => i);
          Object.defineProperty(a, 1, { enumerable: true, get() {
            Object.defineProperty(Array.prototype, "4", { configurable: true, set(v) { called++; } });
            return "one";
          } });
          const values = Object.values(a);
          delete Array.prototype[4];
          [
            called,
            keys[3], entries[3].join(), values[4], values[1],
            Array.isArray(keys) && Object.getPrototypeOf(values) === Array.prototype,
            keys.push("x") === 20001 && keys.at(-1) === "x",
          ];
        } finally {
          delete Array.prototype[3];
          delete Array.prototype[4];
        }
    }""") == [0, "3", "3,9", 4, "one", True, True]


def test_assign_from_large_sources_in_order_with_the_builtins_errors(iso):
    assert iso.eval("""{
        const big = Array.from({ length: 30000 }, (_, i) => i);
        big.name = "big";
        big[Symbol.for("k")] = "sym";
        const to = Object.assign({ name: "to" }, { a: 1 }, null, big, "xyz", undefined, { name: "last" });
        const frozen = Object.freeze({});
        let error = "";
        try { Object.assign(frozen, big); } catch (e) { error = e.constructor.name; }
        let nullError = "";
        try { Object.assign(null, big); } catch (e) { nullError = e.constructor.name; }
        [to.a, to[0], to[2], to[29999], to.name, to[Symbol.for("k")], Object.keys(to).length, error, nullError];
    }""") == [1, "x", "z", 29999, "last", "sym", 30002, "TypeError", "TypeError"]


def test_sparse_arrays_and_proxies_keep_the_builtins(iso):
    assert iso.eval("""{
        const sparse = [];
        sparse[5] = 1;
        sparse[2 ** 31] = 2;
        const start = Date.now();
        const late = [];
        late[3e7] = 1;
        for (let i = 0; i < 20000; i++) late[i] = i;  // dense at first, then a long sparse tail
        const traps = [];
        const target = Array.from({ length: 20000 }, (_, i) => i);
        const proxy = new Proxy(target, { ownKeys(t) { traps.push("ownKeys"); return Reflect.ownKeys(t); } });
        [
          Object.keys(sparse).join(),
          Object.keys(late).length,
          Object.keys(proxy).length, traps.join(),
        ];
    }""") == ["5,2147483648", 20001, 20000, "ownKeys"]


def test_a_long_sparse_array_is_listed_within_a_small_limit():
    with Isolate(cpu_limit_ms=LIMIT_MS, timeout_ms=None) as small:
        assert small.eval("const a = []; a[2 ** 24] = 1; a[2] = 0; Object.keys(a).join()") == "2,16777216"


def test_the_methods_keep_their_shape_and_errors(iso):
    assert iso.eval("""{
        const shape = (name) => [name, Object[name].name, Object[name].length,
                                 Object.getOwnPropertyDescriptor(Object, name).enumerable];
        const error = (f) => { try { f(); return "none"; } catch (e) { return e.constructor.name; } };
        const revoked = Proxy.revocable([], {});
        revoked.revoke();
        [
          ...["keys", "values", "entries", "getOwnPropertyNames", "getOwnPropertyDescriptors", "assign"].map(shape),
          [Reflect.ownKeys.name, Reflect.ownKeys.length], error(() => Reflect.ownKeys("abc")),
          error(() => Object.keys(undefined)), error(() => Object.entries(null)),
          error(() => Object.keys(revoked.proxy)),
          Object.keys(5).length, Object.values("ab").join(),
        ];
    }""") == [["keys", "keys", 1, False], ["values", "values", 1, False], ["entries", "entries", 1, False],
              ["getOwnPropertyNames", "getOwnPropertyNames", 1, False],
              ["getOwnPropertyDescriptors", "getOwnPropertyDescriptors", 1, False], ["assign", "assign", 2, False],
              ["ownKeys", 1], "TypeError",
              "TypeError", "TypeError", "TypeError", 0, "a,b"]
