"""Conformance vectors (../shared/conformance/, see its README.md) run inside an isolate.

Each test hands one group of cases to a small JS runner that returns how many passed and
what failed; the pass counts are printed (pytest -s) and every case must pass.
"""

import json

import pytest
from conftest import SHARED

import pyruntime

CONFORMANCE = SHARED / "conformance"

pytestmark = pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=f"no conformance data at {CONFORMANCE}")


def load(name):
    with open(CONFORMANCE / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def iso():
    isolate = pyruntime.Isolate(timeout_ms=None, cpu_limit_ms=None, memory_limit_mb=256)
    yield isolate
    close = getattr(isolate, "close", None)
    if close is not None:
        close()


# Shared JS helpers: `check(ok, info)` records one case; the runner returns the tally.
PRELUDE = """
const tally = { total: 0, passed: 0, failures: [] };
const check = (ok, info) => {
  tally.total++;
  if (ok) tally.passed++;
  else if (tally.failures.length < 25) tally.failures.push(JSON.stringify(info));
};
const attempt = (fn) => {
  try { return { value: fn(), error: null }; } catch (e) { return { value: null, error: e }; }
};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const hexBytes = (hex) => new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
const toHex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
"""


def run(iso, name, cases, body):
    """Runs `body` (JS using `cases`, `check`, ...) and asserts every case passed."""
    source = f"(async () => {{ {PRELUDE}\nconst cases = {json.dumps(cases)};\n{body}\nreturn tally; }})()"
    result = iso.eval(source)
    print(f"{name}: {result['passed']}/{result['total']} passed")
    assert result["total"] > 0
    assert result["failures"] == [], f"{name}: {result['total'] - result['passed']} failed"
    assert result["passed"] == result["total"]
    return result


URL_ATTRIBUTES = ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname",
                  "search", "hash", "origin"]

URL_RUNNER = """
for (const c of cases) {
  const r = attempt(() => (c.base === null ? new URL(c.input) : new URL(c.input, c.base)));
  if (c.failure) {
    check(r.error instanceof TypeError, { input: c.input, base: c.base, expected: "TypeError" });
    continue;
  }
  if (r.error) { check(false, { input: c.input, base: c.base, error: String(r.error) }); continue; }
  const u = r.value;
  const wrong = ATTRS.filter((k) => k in c && u[k] !== c[k]).map((k) => [k, u[k], c[k]]);
  if ("searchParams" in c && u.searchParams.toString() !== c.searchParams) {
    wrong.push(["searchParams", u.searchParams.toString(), c.searchParams]);
  }
  check(wrong.length === 0, { input: c.input, base: c.base, wrong });
}
"""


@pytest.mark.parametrize("name", ["urltestdata.json", "urltestdata-javascript-only.json"])
def test_url_parsing(iso, name):
    cases = [c for c in load(name) if isinstance(c, dict)]
    run(iso, name, cases, f"const ATTRS = {json.dumps(URL_ATTRIBUTES)};\n{URL_RUNNER}")


def test_url_parsing_count(iso):
    cases = [c for c in load("urltestdata.json") if isinstance(c, dict)]
    assert len(cases) == 891


def test_url_setters(iso):
    data = load("setters_tests.json")
    cases = [dict(c, attribute=attr) for attr, items in data.items() if attr != "comment" for c in items]
    run(iso, "setters_tests.json", cases, """
for (const c of cases) {
  const u = new URL(c.href);
  u[c.attribute] = c.new_value;
  const wrong = Object.entries(c.expected).filter(([k, v]) => u[k] !== v).map(([k, v]) => [k, u[k], v]);
  check(wrong.length === 0, { attribute: c.attribute, href: c.href, new_value: c.new_value, wrong });
}
""")


def test_urlencoded_parser(iso):
    run(iso, "urlencoded-parser-data.json", load("urlencoded-parser-data.json"), """
for (const c of cases) {
  const got = [...new URLSearchParams(c.input)];
  check(same(got, c.output), { input: c.input, got, expected: c.output });
  const viaUrl = [...new URL("http://example.com/?" + c.input).searchParams];
  check(same(viaUrl, c.output), { input: c.input, viaUrl, expected: c.output });
}
""")


def test_urlsearchparams_derived(iso):
    data = load("urlsearchparams-derived.json")
    cases = {key: data[key] for key in ["serialize", "parse_then_serialize", "sort", "url_integration"]}
    run(iso, "urlsearchparams-derived.json", cases, """
for (const c of cases.serialize) {
  const p = new URLSearchParams();
  for (const [name, value] of c.entries) p.append(name, value);
  check(String(p) === c.expected, { entries: c.entries, got: String(p), expected: c.expected });
}
for (const c of cases.parse_then_serialize) {
  const got = String(new URLSearchParams(c.input));
  check(got === c.expected, { input: c.input, got, expected: c.expected });
}
for (const c of cases.sort) {
  const p = new URLSearchParams(c.input);
  p.sort();
  check(same([...p], c.expected_entries), { input: c.input, got: [...p], expected: c.expected_entries });
}
for (const c of cases.url_integration) {
  const u = new URL(c.url);
  if (c.expected_initial_href !== undefined) check(u.href === c.expected_initial_href, { initial: u.href });
  if (c.expected_initial_params !== undefined) {
    check(String(u.searchParams) === c.expected_initial_params, { initialParams: String(u.searchParams) });
  }
  if (c.append) u.searchParams.append(...c.append);
  if (c.sort) u.searchParams.sort();
  const ok = u.href === c.expected_href &&
    (c.expected_search === undefined || u.search === c.expected_search) &&
    (c.expected_params === undefined || String(u.searchParams) === c.expected_params);
  check(ok, { url: c.url, href: u.href, search: u.search, params: String(u.searchParams) });
}
""")


def test_encoding_utf8(iso):
    data = load("encoding-utf8.json")
    cases = {key: data[key] for key in ["decode", "encode", "stream"]}
    run(iso, "encoding-utf8.json", cases, """
for (const c of cases.decode) {
  const r = attempt(() => new TextDecoder(c.encoding, { fatal: c.fatal, ignoreBOM: c.ignoreBOM })
    .decode(new Uint8Array(c.bytes)));
  const ok = c.error
    ? r.error !== null && r.error.name === c.error
    : r.error === null && r.value === c.expected;
  check(ok, { description: c.description, got: r.value, error: r.error && r.error.name });
}
for (const c of cases.encode) {
  const bytes = Array.from(new TextEncoder().encode(c.input));
  const encodedInto = new Uint8Array(bytes.length);
  const into = new TextEncoder().encodeInto(c.input, encodedInto);
  const ok = same(bytes, c.expected_bytes) && same(Array.from(encodedInto), c.expected_bytes) &&
    into.read === c.input.length && into.written === bytes.length &&
    new TextDecoder().decode(new Uint8Array(c.expected_bytes)) === c.roundtrip_decoded;
  check(ok, { description: c.description, bytes, into });
}
for (const c of cases.stream) {
  const d = new TextDecoder(c.encoding, { fatal: c.fatal, ignoreBOM: c.ignoreBOM });
  const trace = [];
  let ok = true;
  for (const step of c.steps) {
    const r = attempt(() => (step.bytes === null
      ? d.decode()
      : d.decode(new Uint8Array(step.bytes), { stream: step.stream })));
    trace.push([r.value, r.error && r.error.name]);
    const stepOk = step.error
      ? r.error !== null && r.error.name === step.error
      : r.error === null && r.value === step.expected;
    if (!stepOk) ok = false;
  }
  check(ok, { description: c.description, trace });
}
""")


def test_base64_json(iso):
    run(iso, "base64.json", load("base64.json"), """
for (const [input, bytes] of cases) {
  const r = attempt(() => atob(input));
  const ok = bytes === null
    ? r.error instanceof DOMException && r.error.name === "InvalidCharacterError" && r.error.code === 5
    : r.error === null && same(Array.from(r.value, (ch) => ch.charCodeAt(0)), bytes);
  check(ok, { input, got: r.value, error: r.error && String(r.error) });
}
""")


def test_base64_atob_btoa(iso):
    data = load("base64-atob-btoa.json")
    cases = {key: data[key] for key in ["atob", "atob_idl", "btoa", "btoa_idl"]}
    run(iso, "base64-atob-btoa.json", cases, """
const invalid = (r) => r.error instanceof DOMException && r.error.name === "InvalidCharacterError";
for (const c of cases.atob) {
  const r = attempt(() => atob(c.input));
  check(c.expected === null ? invalid(r) : r.value === c.expected, { input: c.input, got: r.value });
}
for (const c of cases.atob_idl) {
  const r = attempt(() => atob((0, eval)("(" + c.js_value + ")")));
  check(c.expected === null ? invalid(r) : r.value === c.expected, { js_value: c.js_value, got: r.value });
}
for (const c of cases.btoa) {
  const r = attempt(() => btoa(c.input));
  check(c.expected === null ? invalid(r) : r.value === c.expected, { input: c.input, got: r.value });
}
for (const c of cases.btoa_idl) {
  const r = attempt(() => btoa((0, eval)("(" + c.js_value + ")")));
  check(c.expected === null ? invalid(r) : r.value === c.expected, { js_value: c.js_value, got: r.value });
}
""")


def test_webcrypto_digest(iso):
    data = load("webcrypto-digest.json")
    cases = {"algorithms": data["algorithms"], "cases": data["cases"]}
    run(iso, "webcrypto-digest.json", cases, """
for (const c of cases.cases) {
  const bytes = c.input_repeat
    ? new Uint8Array(c.input_repeat.count).fill(parseInt(c.input_repeat.byte_hex, 16))
    : hexBytes(c.input_hex);
  if (bytes.length !== c.input_length) {
    check(false, { description: c.description, length: bytes.length });
    continue;
  }
  for (const algorithm of cases.algorithms) {
    const got = toHex(await crypto.subtle.digest(algorithm, bytes));
    check(got === c.digests[algorithm], { description: c.description, algorithm, got });
  }
}
""")
