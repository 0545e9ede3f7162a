"""Headers conformance: every case of shared/conformance/headers.json run inside an isolate."""

import json

import pytest
from conftest import SHARED

import pyruntime

DATA = SHARED / "conformance" / "headers.json"

# Runs all cases in JS; returns [passed, failures] where failures are descriptions.
RUNNER = r"""
(cases) => {
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  let passed = 0;
  const failures = [];
  for (const c of cases) {
    try {
      const make = () => (c.init === null ? new Headers() : new Headers(c.init));
      if (c.init_throws) {
        let name = "none";
        try { make(); } catch (e) { name = e.name; }
        if (name !== c.init_throws) throw new Error(`constructor threw ${name}, expected ${c.init_throws}`);
        passed++;
        continue;
      }
      const h = make();
      for (const s of c.steps) {
        const run = () => (s.call === "entries" ? [...h] : h[s.call](...(s.args || [])));
        if (s.throws) {
          let name = "none";
          try { run(); } catch (e) { name = e.name; }
          if (name !== s.throws) throw new Error(`${s.call} threw ${name}, expected ${s.throws}`);
          continue;
        }
        const result = run();
        if ("expected" in s && !same(result === undefined ? null : result, s.expected)) {
          const call = `${s.call}(${JSON.stringify(s.args || [])})`;
          throw new Error(`${call} gave ${JSON.stringify(result)}, expected ${JSON.stringify(s.expected)}`);
        }
      }
      passed++;
    } catch (e) {
      failures.push(`${c.description}: ${e.message}`);
    }
  }
  return [passed, failures];
}
"""


@pytest.fixture(scope="module")
def cases():
    if not DATA.exists():
        pytest.skip(f"conformance data not found at {DATA}")
    return json.loads(DATA.read_text(encoding="utf-8"))["cases"]


def test_headers_conformance(cases):
    iso = pyruntime.Isolate(timeout_ms=2000, cpu_limit_ms=2000)
    try:
        passed, failures = iso.eval(f"({RUNNER})({json.dumps(cases)})")
    finally:
        iso.close()
    steps = sum(len(c["steps"]) for c in cases)
    print(f"headers.json: {passed}/{len(cases)} cases passed ({steps} steps)")
    assert failures == []
    assert passed == len(cases) == 73
