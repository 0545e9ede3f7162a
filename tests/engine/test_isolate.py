"""The public Isolate API: evaluation, calls, errors, promises, conversions, lifecycle."""

import gc
import math

import pytest

import pyruntime
from pyruntime import Isolate, IsolateClosed, JSError, UnsettledPromise


@pytest.fixture
def iso():
    with Isolate() as isolate:
        yield isolate


def test_public_api_is_importable_from_the_package_root():
    for name in ("Isolate", "JSError", "LimitExceeded", "TimeLimitExceeded", "MemoryLimitExceeded",
                 "IsolateClosed", "Error"):
        assert hasattr(pyruntime, name)
    for error in (JSError, pyruntime.LimitExceeded, IsolateClosed, UnsettledPromise):
        assert issubclass(error, pyruntime.Error)
    assert issubclass(pyruntime.TimeLimitExceeded, pyruntime.LimitExceeded)
    assert issubclass(pyruntime.MemoryLimitExceeded, pyruntime.LimitExceeded)


def test_defaults_match_the_documented_limits():
    iso = Isolate()
    assert (iso.memory_limit_mb, iso.cpu_limit_ms, iso.timeout_ms, iso.total_timeout_ms) == (128, 50, 1000, 30000)
    assert iso.heap_statistics()["memory_limit"] == 128 * 1024 * 1024


def test_eval_returns_the_completion_value(iso):
    assert iso.eval("1 + 1") == 2
    assert iso.eval("let x = 20; x + 22") == 42
    assert iso.eval("x") == 20  # the global scope persists between calls


def test_call_converts_arguments_and_result(iso):
    iso.eval("function describe(n, s, list, obj) { return [n * 2, s.toUpperCase(), list.length, obj.k] }")
    assert iso.call("describe", 21, "abc", [1, 2, 3], {"k": None}) == [42, "ABC", 3, None]


def test_call_of_a_missing_function_is_a_js_type_error(iso):
    with pytest.raises(JSError) as info:
        iso.call("nope")
    assert info.value.name == "TypeError"
    assert "nope is not a function" in info.value.message


def test_uncaught_exception_carries_name_message_and_stack_with_filename(iso):
    with pytest.raises(JSError) as info:
        iso.eval("function inner() { throw new RangeError('out of range') }\ninner()", filename="app.js")
    error = info.value
    assert error.name == "RangeError"
    assert error.message == "out of range"
    assert "app.js:1:" in error.stack and "inner" in error.stack
    assert str(error) == "RangeError: out of range"


def test_syntax_error_names_file_line_and_column(iso):
    with pytest.raises(JSError) as info:
        iso.eval("let ok = 1;\nlet = = 2;", filename="broken.js")
    assert info.value.name == "SyntaxError"
    assert info.value.stack.startswith("broken.js:2:")


def test_thrown_non_error_values_are_reported(iso):
    with pytest.raises(JSError) as info:
        iso.eval("throw 'plain string'")
    assert info.value.message == "plain string"


def test_thrown_text_of_any_length_reaches_the_host_cut_to_its_two_ends():
    """The host keeps at most 8,192 UTF-16 units of an error's name, message and stack: the
    first three quarters, a note of what was left out, the last quarter (where a stack's
    frames are). Whole, a thrown 2**28-character string cost seconds of CPU past the limits and
    gigabytes of host memory in copies."""
    left_out = f"\n[... {2**24 + 4 - 8192} characters left out ...]\n"
    with Isolate(cpu_limit_ms=5000, timeout_ms=30000) as iso:
        with pytest.raises(JSError) as info:
            iso.eval("throw 'a' + 'x'.repeat(2 ** 24) + 'END'")
        assert info.value.message == "a" + "x" * 6143 + left_out + "x" * 2045 + "END"
        with pytest.raises(JSError) as info:
            iso.eval("function deep() { throw new Error('b'.repeat(2 ** 24 + 4)) }\ndeep()", filename="app.js")
        assert info.value.message == "b" * 6144 + left_out + "b" * 2048
        stack = info.value.stack
        assert stack.startswith("Error: bbb") and "characters left out" in stack and len(stack) < 8300
        assert "at deep (app.js:1:" in stack  # the stack's end, with its frames, is kept
        with pytest.raises(JSError) as info:
            iso.eval("const e = new Error('short'); e.name = 'N'.repeat(2 ** 20); throw e")
        assert len(info.value.name) < 8300 and info.value.message == "short"
        with pytest.raises(JSError) as info:  # a cut through a surrogate pair leaves U+FFFD
            iso.eval("throw 'a' + '\\u{1F600}'.repeat(2 ** 20)")
        assert info.value.message.startswith("a" + "\U0001F600" * 3071 + "\ufffd\n[... ")
        assert info.value.message.endswith("\U0001F600" * 1024)
        assert iso.eval("'still usable'") == "still usable"


def test_promise_results_are_awaited(iso):
    assert iso.eval("Promise.resolve(5)") == 5
    assert iso.eval("(async () => { await null; return 'done' })()") == "done"
    assert iso.eval("new Promise(resolve => setTimeout(() => resolve('late'), 20))") == "late"


def test_rejected_promise_raises_its_reason(iso):
    with pytest.raises(JSError) as info:
        iso.eval("(async () => { throw new TypeError('async failure') })()")
    assert (info.value.name, info.value.message) == ("TypeError", "async failure")


def test_a_promise_that_can_never_settle_raises_at_once(iso):
    with pytest.raises(UnsettledPromise, match="can never settle"):
        iso.eval("new Promise(() => {})")
    with pytest.raises(UnsettledPromise):
        iso.eval("(async () => { await new Promise(() => {}) })()")
    assert iso.eval("'still usable'") == "still usable"


def test_total_timeout_bounds_waiting_for_timers():
    with Isolate(total_timeout_ms=100) as iso:
        with pytest.raises(pyruntime.TimeLimitExceeded) as info:
            iso.eval("new Promise(resolve => setTimeout(resolve, 60_000))")
        assert info.value.limit == "total"
        assert iso.eval("3") == 3


def test_total_timeout_stops_a_spin_whose_cpu_and_wall_limits_are_off():
    # Nothing else ends this slice: the total limit must stop it while it runs.
    with Isolate(cpu_limit_ms=None, timeout_ms=None, total_timeout_ms=300) as iso:
        with pytest.raises(pyruntime.TimeLimitExceeded) as info:
            iso.eval("for (;;) {}")
        assert info.value.limit == "total"
        assert iso.eval("4") == 4
        # A later slice of a call that waited first is stopped as well.
        with pytest.raises(pyruntime.TimeLimitExceeded) as info:
            iso.eval("new Promise(r => setTimeout(r, 100)).then(() => { for (;;) {} })")
        assert info.value.limit == "total"
        assert iso.eval("5") == 5


def test_waiting_for_timers_is_not_run_time():
    # 200 ms of waiting under a 50 ms run-time limit: waits are not JS execution.
    with Isolate(timeout_ms=50, cpu_limit_ms=50) as iso:
        assert iso.eval("new Promise(resolve => setTimeout(() => resolve(1), 200))") == 1


@pytest.mark.parametrize(("python_value", "js_check"), [
    (None, "v === null"),
    (True, "v === true"),
    (0, "v === 0"),
    (-(2**53 - 1), "v === -Number.MAX_SAFE_INTEGER"),
    (2**64, "v === 2n ** 64n"),
    (-(2**100), "v === -(2n ** 100n)"),
    (1.5, "v === 1.5"),
    ("héllo ✓ 😀", "v === 'héllo ✓ 😀'"),
    (b"\x00\xff", "v instanceof Uint8Array && v.length === 2 && v[1] === 255"),
    (bytearray(b"ab"), "v instanceof Uint8Array && v[0] === 97"),
    ([1, [2, None]], "Array.isArray(v) && v[1][0] === 2 && v[1][1] === null"),
    ((1, 2), "Array.isArray(v) && v.length === 2"),
    ({"a": {"b": "c"}}, "Object.getPrototypeOf(v) === Object.prototype && v.a.b === 'c'"),
])
def test_python_to_js_conversions(iso, python_value, js_check):
    iso.eval("function check(v) { return " + js_check + " }")
    assert iso.call("check", python_value) is True


@pytest.mark.parametrize(("source", "expected"), [
    # Past 512K characters a string is read in steps; a one-byte string as its Latin-1 bytes.
    ("'x'.repeat(1 << 20)", "x" * (1 << 20)),
    ("'\\u00e9'.repeat(600000) + '\\u00ff'", "\u00e9" * 600000 + "\u00ff"),
    ("'a'.repeat((1 << 20) - 1) + '\\u00e9' + 'b'.repeat(10)", "a" * ((1 << 20) - 1) + "\u00e9" + "b" * 10),
    ("'\\u20ac'.repeat(600000) + '\\ud83d'", "\u20ac" * 600000 + "\ufffd"),  # two-byte; a lone surrogate
])
def test_large_strings_come_back_whole(iso, source, expected):
    assert iso.eval(source) == expected


def test_objects_convert_whatever_user_code_did_to_object_keys(iso):
    """The core lists a plain object's keys with the bootstrap's own Object.keys."""
    iso.eval("Object.keys = () => { throw new Error('replaced'); }")
    assert iso.eval("({a: 1, b: {c: [2, {d: 3}]}})") == {"a": 1, "b": {"c": [2, {"d": 3}]}}
    assert "replaced" in iso.eval("String(Object.keys)")  # and the user's own stays theirs


@pytest.mark.parametrize(("source", "expected"), [
    ("undefined", None),
    ("null", None),
    ("false", False),
    ("7", 7),
    ("7.0", 7),
    ("-0.25", -0.25),
    ("2 ** 60", float(2**60)),
    ("123456789012345678901234567890n", 123456789012345678901234567890),
    ("-5n", -5),
    ("'text'", "text"),
    ("[1, , 3]", [1, None, 3]),
    ("({a: 1, b: [true], c: undefined})", {"a": 1, "b": [True], "c": None}),
    ("Object.assign(Object.create(null), {k: 'v'})", {"k": "v"}),
    # Own enumerable string keys only: symbol keys are left out, numeric keys come as strings.
    ("({a: 1, [Symbol('s')]: 2, 3: 'three'})", {"3": "three", "a": 1}),
    ("Object.defineProperty({a: 1}, 'hidden', {value: 2, enumerable: false})", {"a": 1}),
    # Records of one shape share their keys' text (Reader::KeyText); each keeps its own values.
    ("Array.from({length: 40}, (_, i) => ({id: i, ['k' + (i % 20)]: i}))",
     [{"id": i, f"k{i % 20}": i} for i in range(40)]),
    ("new Uint8Array([1, 2, 3])", b"\x01\x02\x03"),
    ("new Uint8Array([0, 1, 2, 3]).subarray(1, 3)", b"\x01\x02"),
    ("new Uint8Array([9, 8]).buffer", b"\x09\x08"),
])
def test_js_to_python_conversions(iso, source, expected):
    result = iso.eval(source)
    assert result == expected
    assert type(result) is type(expected)


def test_special_numbers(iso):
    assert math.isnan(iso.eval("NaN"))
    assert iso.eval("-Infinity") == -math.inf
    assert iso.eval("[1/0]") == [math.inf]


def test_a_large_result_converts_without_gc_passes_and_leaves_the_gc_as_it_was():
    # The containers built from JS are acyclic: collections while building 10,000 records
    # only traversed what was built so far. One may run once the GC is back on (its count
    # includes the records). No time limits: making and converting them takes 40-90 ms of CPU
    # on a busy 2-core machine, near the default 50 ms.
    started = []

    def count(phase, info):
        if phase == "start":
            started.append(info["generation"])

    make = "Array.from({length: 10000}, (_, i) => ({id: i, name: 'user' + i, tags: ['a', 'b']}))"
    iso = Isolate(cpu_limit_ms=None, timeout_ms=None)
    gc.collect()  # what earlier tests allocated could set off a collection before the conversion
    gc.callbacks.append(count)
    try:
        records = iso.eval(make)
    finally:
        gc.callbacks.remove(count)
    assert len(started) <= 1, started
    assert len(records) == 10000 and records[9999] == {"id": 9999, "name": "user9999", "tags": ["a", "b"]}
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(iso.eval(make)) == 10000
        assert not gc.isenabled()
    finally:
        gc.enable()
        iso.close()


def test_symbols_are_refused_naming_the_type(iso):
    with pytest.raises(TypeError, match="cannot convert a JS symbol "):
        iso.eval("Symbol('s')")
    assert iso.eval("'after'") == "after"


@pytest.mark.parametrize(("source", "type_name"), [
    ("new Map()", "Map"),
    ("new Set()", "Set"),
    ("(function f() {})", "function"),
    ("new Int32Array(2)", "Int32Array"),
    ("new (class Point {})()", "Point"),
    ("Promise.resolve(1)", "Promise"),
])
def test_objects_that_do_not_convert_come_back_as_handles(iso, source, type_name):
    handle = iso.eval(f"[{source}]")[0]
    assert handle.type_name == type_name
    assert repr(handle) == f"<JS {type_name}>"


def test_js_cycles_are_refused_not_looped_on(iso):
    with pytest.raises(TypeError, match="cycle"):
        iso.eval("const o = {}; o.self = o; o")
    with pytest.raises(TypeError, match="cycle"):
        iso.eval("const a = []; a.push([a]); a")
    # Shared, non-cyclic references are fine.
    assert iso.eval("const s = {v: 1}; [s, s]") == [{"v": 1}, {"v": 1}]


class _Name(str):
    def __str__(self) -> str:
        return "not the text"


class _Count(int):
    pass


def test_python_strings_and_numbers_of_every_kind_reach_js_intact(iso):
    # ASCII, non-ASCII and a lone surrogate; str and int subclasses by their value; dict
    # keys of each kind; records sharing one shape.
    iso.eval("function points(v) { return [...v.s].map((c) => c.codePointAt(0)) }")
    assert iso.call("points", {"s": "plain"}) == [112, 108, 97, 105, 110]
    assert iso.call("points", {"s": "h\u00e9\u20ac\U0001f600"}) == [104, 233, 8364, 128512]
    around = iso.call("points", {"s": "a\ud800b"})  # the surrogate's bytes arrive as U+FFFD
    assert around[0] == 97 and around[-1] == 98 and set(around[1:-1]) == {0xFFFD}
    assert iso.call("points", {"s": _Name("named")}) == [110, 97, 109, 101, 100]
    iso.eval("function keys(v) { return Object.keys(v).join(',') + '|' + typeof v['\u00e9'] }")
    assert iso.call("keys", {"id": _Count(3), "\u00e9": 1.5, "a\ud800": True}) == "id,\u00e9,a\ufffd\ufffd\ufffd|number"
    records = [{"id": i, "name": f"user{i}", "score": i / 4, "big": 2**60 + i} for i in range(3)]
    iso.eval("function sums(rs) { return rs.map(r => [r.id, r.name, r.score, typeof r.big, String(r.big)]) }")
    assert iso.call("sums", records) == [[i, f"user{i}", i / 4, "bigint", str(2**60 + i)] for i in range(3)]


def test_python_values_that_cannot_convert_are_refused(iso):
    iso.eval("function id(v) { return v }")
    with pytest.raises(TypeError, match="cannot convert a Python set"):
        iso.call("id", {1, 2})
    with pytest.raises(TypeError, match="cannot convert a Python object"):
        iso.call("id", object())
    with pytest.raises(TypeError, match="dict keys must be str"):
        iso.call("id", {1: "x"})
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError, match="cycle"):
        iso.call("id", cyclic)


def test_records_keep_their_own_keys_and_share_their_strs(iso):
    # More distinct keys than the conversion remembers, of equal lengths, in changing orders.
    records = iso.eval("Array.from({length: 60}, (_, i) => i % 2"
                       " ? {['k' + (i % 20)]: i, id: i, ['é' + (i % 3)]: 'x', [(i % 7) + 'z']: [i]}"
                       " : {[(i % 7) + 'z']: [i], ['é' + (i % 3)]: 'x', id: i, ['k' + (i % 20)]: i})")
    expected = [{f"k{i % 20}": i, "id": i, f"é{i % 3}": "x", f"{i % 7}z": [i]} for i in range(60)]
    assert records == expected
    assert [list(r) for r in records[:2]] == [["0z", "é0", "id", "k0"], ["k1", "id", "é1", "1z"]]
    wide = iso.eval("Object.fromEntries(Array.from({length: 40}, (_, i) => ['w' + i, {id: i}]))")
    assert wide == {f"w{i}": {"id": i} for i in range(40)}  # a map of more keys than are kept
    uniform = iso.eval("Array.from({length: 100}, (_, i) => ({id: i, name: 'n' + i, tags: []}))")
    for key in ("id", "name", "tags"):
        strs = [next(k for k in r if k == key) for r in uniform]
        assert all(s is strs[0] for s in strs)  # one str for every record's key


def test_python_records_keep_their_own_keys(iso):
    # More distinct keys than a conversion keeps made, of equal lengths, in changing orders.
    records = [{f"k{i % 20}": i, "id": i, f"é{i % 3}": "x", f"{i % 7}z": [i]} if i % 2 else
               {f"{i % 7}z": [i], f"é{i % 3}": "x", "id": i, f"k{i % 20}": i} for i in range(60)]
    iso.eval("function entries(records) { return records.map((r) => Object.entries(r)) }")
    assert iso.call("entries", records) == [[list(item) for item in r.items()] for r in records]
    wide = {f"w{i}": {"id": i} for i in range(40)}  # a map of more keys than are kept
    assert iso.call("entries", [wide]) == [[[f"w{i}", {"id": i}] for i in range(40)]]


def test_one_value_passed_as_several_arguments_is_no_cycle(iso):
    # The arguments share one path of the containers being walked: each walk must leave it empty.
    shared = {"items": [1, 2], "name": "x"}
    iso.eval("function both(a, b, c) { return [a.items.length + b.items.length, a === b, c[0].name] }")
    assert iso.call("both", shared, shared, [shared]) == [4, False, "x"]


class _Growing(list):
    """A list whose iteration yields more items than its length says."""

    def __iter__(self):
        yield from super().__iter__()
        yield "extra"


class _Shrinking(dict):
    """A dict whose items() yields fewer pairs than its length says."""

    def items(self):
        return iter([("only", 1)])


def test_python_containers_that_change_size_while_converted_are_refused(iso):
    # Containers are sized before they are filled: a length that lies is an error, not an overrun.
    iso.eval("function id(v) { return v }")
    with pytest.raises(RuntimeError, match="the _Growing changed size while it was converted"):
        iso.call("id", _Growing([1, 2]))
    with pytest.raises(RuntimeError, match="the _Shrinking changed size while it was converted"):
        iso.call("id", _Shrinking(a=1, b=2))
    assert iso.call("id", [(1, "a"), {"k": (True, None)}, b"x"]) == [[1, "a"], {"k": [True, None]}, b"x"]


def test_getter_failures_during_conversion_are_reported(iso):
    with pytest.raises(TypeError, match="getter threw"):
        iso.eval("({ get boom() { throw new Error('x') } })")


def test_heap_statistics(iso):
    stats = iso.heap_statistics()
    for key in ("used_heap_size", "total_heap_size", "heap_size_limit", "external_memory",
                "array_buffer_bytes", "memory_limit"):
        assert isinstance(stats[key], int)
    before = stats["array_buffer_bytes"]
    iso.eval("globalThis.keep = new Uint8Array(4 * 1024 * 1024)")
    assert iso.heap_statistics()["array_buffer_bytes"] >= before + 4 * 1024 * 1024


def test_close_and_context_manager():
    with Isolate() as iso:
        assert iso.alive
    assert not iso.alive
    with pytest.raises(IsolateClosed):
        iso.eval("1")
    iso.close()  # closing twice is harmless


@pytest.mark.parametrize("kwargs", [
    {"memory_limit_mb": 8},
    {"memory_limit_mb": 64.5},
    {"timeout_ms": 0},
    {"cpu_limit_ms": -1},
    {"timeout_ms": "50"},
    {"cpu_limit_ms": float("inf")},
    {"cpu_limit_ms": 1e15},
    {"timeout_ms": float("nan")},
    {"total_timeout_ms": float("inf")},
    {"memory_limit_mb": 10**9},
])
def test_invalid_limits_are_rejected_with_a_clear_error(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Isolate(**kwargs)


def test_console_output_reaches_the_sink():
    lines = []
    with Isolate(console=lambda level, text: lines.append((level, text))) as iso:
        iso.eval("console.log('a %s b', 'x', {k: 1}); console.error(new Error('e').message)")
    assert lines == [("log", "a x b { k: 1 }"), ("error", "e")]


def test_no_node_or_deno_globals(iso):
    assert iso.eval("[typeof process, typeof require, typeof Deno, typeof global, typeof module]") == \
        ["undefined"] * 5


def test_dynamic_import_is_refused_with_a_clear_error(iso):
    with pytest.raises(JSError, match=r"import\('./x.js'\) is not supported: use a static import"):
        iso.eval("import('./x.js')")


def _random_value(rng, depth=0):
    kinds = ["none", "bool", "int", "big", "float", "str", "bytes"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-(2**53 - 1), 2**53 - 1)
    if kind == "big":
        return rng.choice([-1, 1]) * rng.randint(2**53, 2**200)
    if kind == "float":
        return rng.uniform(-1e300, 1e300) + 0.5
    if kind == "str":
        code_points = [rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0xD7FF), rng.randint(0x10000, 0x10FFFF)])
                       for _ in range(rng.randint(0, 12))]
        return "".join(map(chr, code_points))
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 40))
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {f"k{i}_{rng.randint(0, 99)}": _random_value(rng, depth + 1) for i in range(rng.randint(0, 5))}


def test_random_values_round_trip_through_js(iso):
    import random

    rng = random.Random(20261127)
    iso.eval("function identity(v) { return v }")
    for _ in range(300):
        value = _random_value(rng)
        assert iso.call("identity", value) == value


def test_hostile_values_are_refused_without_harming_the_host(iso):
    # A throwing getter in place of globalThis.Object once aborted the process during conversion.
    assert iso.eval("Object.defineProperty(globalThis, 'Object', { get() { throw new Error('no') } }); ({a: 1})") \
        == {"a": 1}
    with pytest.raises(TypeError, match="more than 1048576 array elements"):
        iso.eval("const sparse = []; sparse.length = 2 ** 32 - 1; sparse")
    with pytest.raises(TypeError, match="nested more than 512 levels"):
        iso.eval("let deep = []; for (let i = 0; i < 100000; i++) deep = [deep]; deep")
    assert iso.eval("'the isolate still answers'") == "the isolate still answers"


def test_converting_a_large_result_is_bounded_by_the_time_limit():
    with Isolate(memory_limit_mb=64, timeout_ms=50) as iso:
        with pytest.raises(pyruntime.TimeLimitExceeded):
            iso.eval("new Array(1e6).fill().map((_, i) => ({ i }))")
        assert iso.eval("2") == 2


def test_host_functions_are_exposed_as_promise_returning_js_functions():
    calls = []

    def lookup(key):
        calls.append(key)
        return {"user": {"id": 7, "tags": ["a"]}}[key]

    def fails():
        raise ValueError("bad input")

    with Isolate(timeout_ms=50, host_functions={"lookup": lookup, "fails": fails}) as iso:
        assert iso.eval("(async () => (await host.lookup('user')).tags)()") == ["a"]
        assert iso.eval("host.fails().catch(e => e.message)") == "ValueError: bad input"
        assert iso.eval("host.lookup('missing').catch(e => e.message)") == "KeyError: 'missing'"
        assert iso.eval("[Object.isFrozen(host), typeof host.other]") == [True, "undefined"]
        assert calls == ["user", "missing"]
    with Isolate() as plain:
        assert plain.eval("typeof host") == "undefined"
    with pytest.raises(TypeError, match="host_functions maps identifiers to callables"):
        Isolate(host_functions={"not valid": print})


def test_host_functions_run_outside_the_js_time_limit():
    import time

    def slow():
        time.sleep(0.2)  # 200 ms of Python under a 50 ms JS limit
        return "done"

    with Isolate(timeout_ms=50, cpu_limit_ms=50, host_functions={"slow": slow}) as iso:
        assert iso.eval("host.slow()") == "done"


def test_calling_back_into_the_isolate_from_a_host_function_is_an_error_not_a_deadlock():
    holder = {}

    def reenter():
        return holder["iso"].eval("1")

    with Isolate(host_functions={"reenter": reenter}) as iso:
        holder["iso"] = iso
        assert "cannot call back into it" in iso.eval("host.reenter().catch(e => e.message)")
        assert iso.eval("2") == 2


def test_a_host_function_result_js_cannot_hold_rejects_the_promise():
    with Isolate(host_functions={"odd": lambda: {1, 2}}) as iso:
        assert "cannot convert a Python set" in iso.eval("host.odd().catch(e => e.message)")
        assert iso.eval("'usable'") == "usable"
