"""JSON.parse in steps (ext/js/09_json_steps.js).

V8 parses JSON in C++ without looking at termination, and what a text costs depends on
what it builds: under the default limits (128 MB, 50 ms of CPU) a 9 MB body of `[{},{},...]`
took 8.2 s of CPU in `JSON.parse`, `[[],[],...]` 4.5 s, an object of 600K members 0.75 s. Each
shape now stops at the CPU limit, and the isolate goes on working. Texts past the step
(64K units) are read by the runtime's own reader: its values, key order, errors, reviver
calls and property definitions are checked here against the builtin's (which reads any text
up to the step: the same text, with or without 70,000 spaces in front, goes one way or the other).
"""

from __future__ import annotations

import json
import math
import random
import time

import pytest

from pyruntime import Isolate, TimeLimitExceeded

PAD = 70_000  # leading spaces that send a text past the step to the runtime's reader
LIMIT_MS = 50
MARGIN_MS = 450  # V8 reaching the termination, and a late watchdog on a loaded machine

ATTACKS = {
    "9 MB of empty objects": "[" + ",".join(["{}"] * 3_000_000) + "]",
    "9 MB of empty arrays": "[" + ",".join(["[]"] * 3_000_000) + "]",
    "an object of 600K members": "{" + ",".join(f'"k{i}":{i}' for i in range(600_000)) + "}",
    "600K members with one key": "{" + ",".join(['"a":1'] * 1_600_000) + "}",
    "2M integers": "[" + ",".join(["1"] * 4_000_000) + "]",
    "100K levels of nesting": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("name", ATTACKS)
def test_parsing_a_request_sized_text_stops_at_the_cpu_limit(name):
    with Isolate(cpu_limit_ms=LIMIT_MS, timeout_ms=None) as iso:
        iso.eval("globalThis.keep = (text) => { globalThis.text = text; }")
        iso.call("keep", ATTACKS[name])
        started = time.thread_time()
        with pytest.raises(TimeLimitExceeded):
            iso.eval("JSON.parse(text); 1")
        spent_ms = (time.thread_time() - started) * 1000
        assert spent_ms < LIMIT_MS + MARGIN_MS, spent_ms
        assert iso.eval('JSON.parse(\'{"still": [1, 2]}\').still[1]') == 2


@pytest.fixture(scope="module")
def iso():
    with Isolate(memory_limit_mb=512, timeout_ms=None, cpu_limit_ms=60_000, total_timeout_ms=None) as isolate:
        isolate.eval(f"""
            globalThis.PAD = " ".repeat({PAD});
            // [outcome, JSON of the value or the error's name and message]
            globalThis.outcome = (text, reviver) => {{
              try {{
                return ["ok", JSON.stringify(JSON.parse(text, reviver))];
              }} catch (error) {{
                return [error.name, error.message];
              }}
            }};
        """)
        yield isolate


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 6 else 5)
    if kind == 0:
        return rng.choice([True, False, None])
    if kind == 1:
        return rng.randint(-(2**53), 2**53)
    if kind == 2:
        return rng.choice([0.0, -0.5, 1e-7, 3.25e100, rng.uniform(-1e6, 1e6)])
    if kind in (3, 4):
        alphabet = 'ab"\\/\b\f\n\r\t\x01\x1f é€\U0001f600\ud800'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind in (5, 6):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    keys = ["a", "b", "__proto__", "", "é", "x y", "10", "2"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(6))}


def spaced(text: str, rng: random.Random) -> str:
    """The same JSON with whitespace between tokens (outside strings)."""
    out, in_string, escaped = [], False, False
    for char in text:
        out.append(char)
        if in_string:
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            in_string = True
        elif char in ",:[]{}" and rng.random() < 0.3:
            out.append(rng.choice([" ", "\n", "\t", "\r\n  "]))
    return "".join(out)


def test_values_are_the_builtins_for_random_documents(iso):
    rng = random.Random(7)
    for round_ in range(40):
        document = [random_value(rng) for _ in range(rng.randrange(1, 400))]
        # Some documents long enough that their elements go to the builtin in runs.
        if round_ % 4 == 0:
            document = document * (70_000 // max(1, len(json.dumps(document))) + 1)
        text = spaced(json.dumps(document), rng)
        short = iso.call("outcome", text) if len(text) <= 65536 else None
        stepped = iso.call("outcome", " " * PAD + text)
        assert stepped[0] == "ok", (stepped, text[:200])
        if short is not None:
            assert stepped == short
        assert json.loads(stepped[1]) == json.loads(text)


@pytest.mark.parametrize("text", [
    '{"a":1,}', "[1,]", "[01]", "[1.]", "[.5]", "[+1]", '{"a" 1}', "{a:1}", "[1 2]", "['a']", '"\x01"', '"\\x"',
    '"\\u12G4"', "[1", '{"a":', "", "tru", "nul", "[true false]", "\ufeff[]", "[1]x", '"abc', "[-]", "[1e]",
    "[1e+]", "[NaN]", "[Infinity]", "[-01]", '{"a":1 "b":2}', "[}", "{]", '[{"a":[1,{"b":}]}]',
])
def test_syntax_errors_are_the_builtins_with_the_position_in_the_whole_text(iso, text):
    short = iso.call("outcome", text)
    stepped = iso.call("outcome", " " * PAD + text)
    assert short[0] == stepped[0] == "SyntaxError"
    if " in JSON at position " in short[1]:  # V8 10's words (V8 11 quotes the text instead)
        head, _, position = short[1].rpartition(" ")
        assert stepped[1] == f"{head} {int(position) + PAD}"
    else:
        assert stepped[1].startswith("Unexpected ")


def test_syntax_errors_inside_runs_the_builtin_reads_name_their_position(iso):
    # A run of whole elements goes to the builtin; a mistake in it is found again here.
    items = ",".join(['{"id": 1, "tags": ["a"]}'] * 5000)
    text = "[" + items + ', {"id": 2, "tags": [1,]}]'
    assert iso.call("outcome", text) == ["SyntaxError", f"Unexpected token ] in JSON at position {len(text) - 3}"]


def test_no_setter_runs_and___proto___is_an_own_key(iso):
    assert iso.eval("""{
        Object.defineProperty(Object.prototype, "evil", { set(v) { globalThis.stolen = v; }, configurable: true });
        Object.defineProperty(Array.prototype, "0", { set(v) { globalThis.stolen = v; }, configurable: true });
        let parsed;
        try {
          parsed = JSON.parse(PAD + '{"evil": 1, "list": [5], "__proto__": {"polluted": true}, "b": 2, "1": 3}');
        } finally {
          delete Object.prototype.evil;
          delete Array.prototype[0];
        }
        [globalThis.stolen === undefined, Object.getOwnPropertyDescriptor(parsed, "evil").value,
         parsed.list[0], Object.getPrototypeOf(parsed) === Object.prototype, parsed.polluted === undefined,
         Object.getOwnPropertyDescriptor(parsed, "__proto__").value.polluted, Object.keys(parsed).join(),
         Array.isArray(parsed.list) && Object.getPrototypeOf(parsed.list) === Array.prototype,
         JSON.parse.name, JSON.parse.length, Object.getOwnPropertyDescriptor(JSON, "parse").enumerable];
    }""") == [True, 1, 5, True, True, True, "1,evil,list,__proto__,b", True, "parse", 2, False]


def test_the_reviver_is_called_as_by_the_builtin(iso):
    calls = iso.eval("""{
        const text = '{"a": [1, {"b": 2, "c": 3}], "d": {"e": null}, "f": "g"}';
        const record = (calls) => function (key, value) {
          calls.push([Object.keys(this).join(), key, JSON.stringify(value)]);
          if (key === "c") return undefined;
          if (key === "e") return "revived";
          if (key === "0" && typeof value === "number") { this[1] = "replaced"; return value * 10; }
          return value;
        };
        const short = [], stepped = [];
        const results = [JSON.parse(text, record(short)), JSON.parse(PAD + text, record(stepped))];
        [JSON.stringify(short) === JSON.stringify(stepped), JSON.stringify(results[0]) === JSON.stringify(results[1]),
         JSON.stringify(results[1]), short.length];
    }""")
    assert calls == [True, True, '{"a":[10,"replaced"],"d":{"e":"revived"},"f":"g"}', 7]


def test_texts_are_converted_once_and_symbols_throw(iso):
    assert iso.eval("""{
        let reads = 0;
        const text = { toString() { reads++; return PAD + "[1, 2]"; } };
        const value = JSON.parse(text);
        let thrown;
        try { JSON.parse(Symbol("s")); } catch (error) { thrown = error.name; }
        [value.length, reads, thrown];
    }""") == [2, 1, "TypeError"]


def test_deep_nesting_and_long_strings_parse(iso):
    assert iso.eval("""{
        const deep = JSON.parse("[".repeat(100000) + "7" + "]".repeat(100000));
        let depth = 0, at = deep;
        while (Array.isArray(at)) { at = at[0]; depth++; }
        const long = JSON.parse('"' + "\\\\u00e9".repeat(30000) + "x".repeat(40000) + '"');
        [depth, at, long.length, long[0], long[long.length - 1]];
    }""") == [100000, 7, 70000, "é", "x"]


def test_runs_of_members_keep_the_builtins_key_order_and_last_values(iso):
    # 30K members over a thousand keys: the runs the builtin reads in one call each split the
    # duplicates, and a key seen in an earlier run keeps its place and takes the later value.
    members = ",".join(f'"k{i % 1000}": {{"v": {i}, "list": [{i}, "s{i}"]}}' for i in range(30_000))
    text = "{" + members + ', "__proto__": 1, "7": 2, "3": 3}'
    assert len(text) > 65536
    expected = json.dumps(json.loads(text), separators=(",", ":"))
    expected = expected.replace('{"k0"', '{"3":3,"7":2,"k0"', 1).replace(',"7":2,"3":3}', "}")
    assert iso.call("outcome", text) == ["ok", expected]


def test_mutated_documents_are_accepted_or_refused_as_by_the_builtin(iso):
    # The builtin reads the document itself (under the step); the reader in steps reads it
    # after 70,000 spaces: each piece it hands to the builtin may be refused, and it must then
    # find the same error, or accept exactly what the builtin accepts.
    rng = random.Random(11)
    alphabet = '{}[]",:\\ 0123456789-+.eEtrufalsn\n\tx\u00e9'
    iso.eval("""globalThis.both = (text, pad) => [outcome(text), outcome(pad + text)];""")
    differing = []
    for _ in range(300):
        text = json.dumps([random_value(rng) for _ in range(rng.randrange(1, 30))])
        chars = list(text)
        for _ in range(rng.randrange(1, 4)):
            where = rng.randrange(len(chars) + 1)
            action = rng.randrange(3)
            if action == 0:
                chars.insert(where, rng.choice(alphabet))
            elif chars and action == 1:
                del chars[min(where, len(chars) - 1)]
            elif chars:
                chars[min(where, len(chars) - 1)] = rng.choice(alphabet)
        mutated = "".join(chars)
        short, stepped = iso.call("both", mutated, " " * PAD)
        agree = short[0] == stepped[0] and (short[0] != "ok" or short[1] == stepped[1])
        if agree and short[0] == "SyntaxError" and " in JSON at position " in short[1]:
            head, _, position = short[1].rpartition(" ")
            agree = stepped[1] == f"{head} {int(position) + PAD}"
        if not agree:
            differing.append((mutated, short, stepped))
    assert differing == []


def finite(value):
    """The value as JSON.stringify shows it: numbers as floats, infinities as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [finite(item) for item in value]
    return {key: finite(item) for key, item in value.items()}


def refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def test_mutated_long_documents_are_accepted_or_refused_as_by_python(iso):
    # Documents past the step (objects of hundreds of members, arrays of big arrays), so that
    # the reader reads tokens, hands runs and containers to the builtin and reads again what
    # it refuses; Python's json (NaN and Infinity refused) says what is JSON and what it means.
    rng = random.Random(5)
    alphabet = '{}[]",:\\ 0123456789-+.eEtrufalsn\n\tx\u00e9'
    differing = []
    for _ in range(20):
        inner = [random_value(rng) for _ in range(rng.randrange(50, 200))]
        if rng.random() < 0.5:
            document = {f"k{i}": inner if i % 7 == 0 else random_value(rng) for i in range(rng.randrange(200, 600))}
        else:
            document = [inner] * rng.randrange(5, 40)
        chars = list(" " * PAD + spaced(json.dumps(document), rng))
        for _ in range(rng.randrange(0, 3)):
            where = rng.randrange(PAD, len(chars))
            action = rng.randrange(3)
            if action == 0:
                chars.insert(where, rng.choice(alphabet))
            elif action == 1:
                del chars[where]
            else:
                chars[where] = rng.choice(alphabet)
        text = "".join(chars)
        try:
            expected = finite(json.loads(text, parse_constant=refuse_constant))
        except ValueError:
            expected = "refused"
        got = iso.call("outcome", text)
        seen = finite(json.loads(got[1])) if got[0] == "ok" else "refused" if got[0] == "SyntaxError" else got
        if seen != expected:
            differing.append((text[PAD:PAD + 200], got[:2]))
    assert differing == []
