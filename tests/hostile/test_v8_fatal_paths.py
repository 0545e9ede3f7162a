"""Inputs that reached a V8 fatal error (the process aborted, with every request in flight on
it) or ran for minutes inside a builtin no termination reaches. Each is now refused before the
builtin runs (ext/js/07_builtin_guards.js) with a RangeError naming the limit.

Each case runs in its own child process under the default 128 MB limit: the child must exit
normally, report the RangeError, and a fresh isolate must work afterwards."""

import pytest
from hostile_child import run_hostile

from pyruntime import Isolate, JSError

SPARSE = "const a = []; a.length = 2 ** 32 - 1; "
# input -> the guard that refuses it
CATALOGUE = {
    "'x'.repeat(2**27 + 16).match(/x/g)": "RegExp.prototype[Symbol.match]",
    "'x'.repeat(2**27 + 16).replace(/x/g, '$&')": "RegExp.prototype[Symbol.replace]",
    "[...'x'.repeat(2**27 + 16).matchAll(/x/g)]": "RegExp.prototype[Symbol.matchAll]",
    "'x'.repeat(2**27 + 16).replaceAll('x', '$&')": "String.prototype.replaceAll",
    "'x'.repeat(2**28).split('')": "String.prototype.split",
    "/(?:)/[Symbol.split]('x'.repeat(2**28))": "RegExp.prototype[Symbol.split]",
    "'ab'.repeat(4e6).replace(/a/g, 'cc')": "RegExp.prototype[Symbol.replace]",
    SPARSE + "a.fill(0)": "Array.prototype.fill",
    "new Array(2**32 - 1).fill(0)": "Array.prototype.fill",
    "new Array(3.4e7).fill(0)": "Array.prototype.fill",
    "Array.prototype.fill.call({length: 2**32 - 1}, 0)": "Array.prototype.fill",
    "Array.from({length: 2**27})": "Array.from",
    SPARSE + "a.sort()": "Array.prototype.sort",
    SPARSE + "a.reverse()": "Array.prototype.reverse",
    SPARSE + "a.indexOf(1)": "Array.prototype.indexOf",
    SPARSE + "a.lastIndexOf(1)": "Array.prototype.lastIndexOf",
    SPARSE + "a.copyWithin(0, 1)": "Array.prototype.copyWithin",
    SPARSE + "a.forEach(x => x)": "Array.prototype.forEach",
    SPARSE + "a.map(x => x)": "Array.prototype.map",
    SPARSE + "a.filter(x => x)": "Array.prototype.filter",
    SPARSE + "a.reduce((x, y) => x, 0)": "Array.prototype.reduce",
    SPARSE + "a.slice(0)": "Array.prototype.slice",
    SPARSE + "a.splice(0, 1)": "Array.prototype.splice",
    SPARSE + "a.shift()": "Array.prototype.shift",
    "const a = []; a.length = 2 ** 32 - 2; a.unshift(1)": "Array.prototype.unshift",
    SPARSE + "a.flat()": "Array.prototype.flat",
}


@pytest.mark.parametrize("source", CATALOGUE)
def test_fatal_and_unbounded_builtin_inputs_are_refused(source):
    report = run_hostile(source, cpu_ms=1000)
    assert report.returncode == 0, (report.returncode, report.stderr[-3000:])
    assert report.outcome["status"] == "JSError", report.outcome
    assert report.outcome["name"] == "RangeError"
    assert report.outcome["message"].startswith(f"RangeError: {CATALOGUE[source]}: ")
    assert "the isolate's memory limit allows" in report.outcome["message"]
    assert report.outcome["after"] == "alive"
    assert report.cpu_s < 10, report  # start-up and the refusal; unguarded these ran 5-60 s or aborted
    assert report.peak_mb < 128 + 256, report


# V8 11's copying methods (not in V8 10.2) allocate a copy of the whole length.
COPYING = {
    SPARSE + "a.toReversed()": "Array.prototype.toReversed",
    SPARSE + "a.toSorted((x, y) => 0)": "Array.prototype.toSorted",
    SPARSE + "a.toSpliced(0, 1)": "Array.prototype.toSpliced",
    SPARSE + "a.with(0, 1)": "Array.prototype.with",
}


@pytest.mark.parametrize("source", COPYING)
def test_copying_methods_of_v8_11_refuse_lengths_past_the_memory_limit(source):
    with Isolate() as iso:
        if iso.eval("typeof Array.prototype.toReversed") != "function":
            pytest.skip("V8 10.2 has no copying array methods")
    report = run_hostile(source, cpu_ms=1000)
    assert report.returncode == 0, (report.returncode, report.stderr[-3000:])
    assert report.outcome["message"].startswith(f"RangeError: {COPYING[source]}: "), report.outcome
    assert report.outcome["after"] == "alive"


def test_json_of_a_large_typed_array_is_refused_at_any_depth():
    # V8 lists a typed array's keys as strings before serializing it as an object: 10M
    # elements ran out of heap (the process aborted), 3M took 1.7 s of CPU in one call.
    report = run_hostile("JSON.stringify({ body: [new Uint8Array(10 * 2 ** 20)] })", cpu_ms=1000)
    assert report.returncode == 0, (report.returncode, report.stderr[-3000:])
    assert report.outcome["status"] == "JSError", report.outcome
    assert report.outcome["message"].startswith(
        "RangeError: JSON.stringify: a typed array of 10485760 elements is past the 65536 serialized as an object")
    assert report.outcome["after"] == "alive"
    with Isolate() as iso:
        assert iso.eval("""[
            JSON.stringify({ a: new Uint8Array([1, 2]), b: [new Float32Array(1)], c: new BigInt64Array(0) }),
            JSON.stringify(new Uint8Array(65536)).length,
            JSON.stringify(Array.from(new Uint8Array(70000))).length,
            Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype), "toJSON").enumerable,
            Object.keys(new Uint8Array(2)).join(),
            Object.getPrototypeOf(Int8Array.prototype).toJSON.call(5),
        ]""") == ['{"a":{"0":1,"1":2},"b":[{"0":0}],"c":{}}', 644251, 140001, False,
                  "0,1", 5]


def test_lowercasing_a_128_mb_text_that_grows_stops_at_the_cpu_limit():
    # Each 'İ' lowercases to two characters: V8's builtin ran out of heap inside ICU's mapping
    # and aborted the process. Case mapping in steps (09_builtin_steps.js) stops at the limit.
    report = run_hostile("'\\u0130'.repeat(2 ** 26).toLowerCase().length", cpu_ms=50)
    assert report.returncode == 0, (report.returncode, report.stderr[-3000:])
    assert report.outcome["status"] in ("TimeLimitExceeded", "MemoryLimitExceeded"), report.outcome
    assert report.outcome["after"] == "alive"


def test_ordinary_uses_of_the_guarded_builtins_behave_as_before():
    with Isolate(timeout_ms=None) as iso:
        assert iso.eval("'a-b-c'.split('-')") == ["a", "b", "c"]
        assert iso.eval("'a1b2'.split(/\\d/)") == ["a", "b", ""]
        assert iso.eval("'aXbX'.replace(/X/g, '$&$&')") == "aXXbXX"
        assert iso.eval("'abab'.replaceAll('a', () => 'z')") == "zbzb"
        assert iso.eval("[...'a1b2'.matchAll(/\\d/g)].map(m => m[0] + m.index)") == ["11", "23"]
        assert iso.eval("'xx'.match(/x/g)") == ["x", "x"]
        assert iso.eval("[3, 1, 2].sort((a, b) => a - b).reverse()") == [3, 2, 1]
        assert iso.eval("new Array(4).fill(7, 1, 3)") == [None, 7, 7, None]
        assert iso.eval("Array.from({length: 3}, (_, i) => i * i)") == [0, 1, 4]
        assert iso.eval("Array.prototype.map.call('abc', c => c.toUpperCase())") == ["A", "B", "C"]
        assert iso.eval("[1, [2, [3]]].flat(Infinity)") == [1, 2, 3]
        assert iso.eval("[Array.prototype.fill.name, Array.prototype.fill.length, "
                        "RegExp.prototype[Symbol.replace].name, String.prototype.split.length]") == \
            ["fill", 1, "[Symbol.replace]", 2]
        # Receivers are converted once: toString runs once, as with the builtin alone.
        assert iso.eval("let n = 0; String.prototype.split.call({toString() { n++; return 'a,b' }}, ','); n") == 1
        with pytest.raises(JSError, match="called on null or undefined"):
            iso.eval("String.prototype.split.call(null, ',')")


def test_guards_do_not_expose_the_builtins_or_their_callers():
    with Isolate(timeout_ms=None) as iso:
        # A sloppy callback cannot climb from the builtin to the (strict) guard.
        assert iso.eval("let c = 'unset'; [2, 1].sort(function f(a, b) { c = f.caller; return a - b }); c") is None
        # Replacing a primordial the guards use does not change what they do.
        assert iso.eval("Reflect.apply = () => 'hijacked'; Math.floor = () => 1e12; "
                        "Array.prototype.slice = null; 'a,b'.split(',')") == ["a", "b"]
        with pytest.raises(JSError, match="Array.prototype.fill: 4294967295 elements"):
            iso.eval("new Array(2 ** 32 - 1).fill(0)")
