"""Intl operations in pyruntime beside Node's V8 (the same V8 on Debian 12).

What the Intl guards cost (ext/js/08_intl_guards.js: a locale list read into a copy, options
behind a proxy, the constructors proxies of V8's own): each operation is run in a loop of JS,
in pyruntime (this build, and with `--baseline` another build's, each in a child process) and
in Node, in turn, `--rounds` times; the nanoseconds per operation, medians of the rounds.

    .venv/bin/python benchmarks/bench_intl.py [--baseline <PYTHONPATH>] [--rounds 5]
"""

from __future__ import annotations

import sys

from bench_regexp import compare

OPERATIONS_JS = r"""
const formatter = new Intl.NumberFormat("en"), date = new Date(0);
const operations = {
  "(1.5).toLocaleString()": () => (1.5).toLocaleString(),
  "(1.5).toLocaleString('de', options)": () => (1.5).toLocaleString("de", { maximumFractionDigits: 1 }),
  "new Intl.NumberFormat('en')": () => new Intl.NumberFormat("en"),
  "new Intl.DateTimeFormat(['fr', 'en'], options)": () => new Intl.DateTimeFormat(["fr", "en"], { timeZone: "UTC" }),
  "formatter.format(1234.5)": () => formatter.format(1234.5),
  "'a'.localeCompare('b', 'de')": () => "a".localeCompare("b", "de"),
  "date.toLocaleDateString('en-US', options)": () => date.toLocaleDateString("en-US", { timeZone: "UTC" }),
};
"""

if __name__ == "__main__":
    sys.exit(compare(OPERATIONS_JS, 200, "Intl operations beside Node", "benchmarks/bench_intl.py", "intl"))
