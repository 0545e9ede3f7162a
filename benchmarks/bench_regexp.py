"""Regular expression operations in pyruntime beside Node's V8 (the same V8 on Debian 12).

What the RegExp guards cost (ext/js/06_regexp_compile.js, 07_builtin_guards.js): each
operation is run in a loop of JS, in pyruntime (this build, and with `--baseline` another
build's, each in a child process) and in Node, in turn, `--rounds` times; the nanoseconds per
operation, medians of the rounds.

    .venv/bin/python benchmarks/bench_regexp.py [--baseline <PYTHONPATH>] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time

from bench_http import environment
from report import load_average, table, write_markdown

OPERATIONS_JS = r"""
const text = "alpha,beta,gamma,delta";
const operations = {
  "split(/,/)": () => text.split(/,/),
  "replace(/a/g, 'A')": () => text.replace(/a/g, "A"),
  "/gam+a/.test": () => /gam+a/.test(text),
  "/gam+a/iu.test": () => /gam+a/iu.test(text),
  "match(/(b)(e)/)": () => text.match(/(b)(e)/),
  "/(d)elta/.exec": () => /(d)elta/.exec(text),
  "new RegExp('a' + i, 'g')": (i) => new RegExp("a" + (i & 7), "g"),
};
"""

# Each operation of `operations` (a JS object of functions, as OPERATIONS_JS defines it) run in
# a loop after a warm-up, in batches of 1,000 calls until MIN_MS have passed: an operation of
# 40 ns and one of 75 µs are each timed over as long, well past the clock's resolution (a fixed
# count of 20,000 timed a 40 ns operation over under a millisecond). `now()` is ms from a
# monotonic clock in both runtimes.
LOOP_JS = r"""
const results = {};
for (const [name, run] of Object.entries(operations)) {
  for (let i = 0; i < 20000; i++) run(i);  // warm-up: compiled patterns, optimized loop
  let count = 0;
  let elapsed = 0;
  const started = now();
  while (elapsed < MIN_MS) {
    for (let i = 0; i < 1000; i++) run(count + i);
    count += 1000;
    elapsed = now() - started;
  }
  results[name] = (elapsed * 1e6) / count;
}
"""
PYRUNTIME_PY = """
import json, sys
from pyruntime import Isolate, Limits
with Isolate(limits=Limits(cpu_limit_ms=None, timeout_ms=None)) as isolate:
    isolate.eval("const now = () => performance.now();\\n" + sys.stdin.read() + "\\nglobalThis.results = results;")
    print(json.dumps(isolate.eval("results")))
"""


def run(label: str, pythonpath: str | None, source: str) -> dict[str, float]:
    if label == "node":
        out = subprocess.run(["node", "-e", "const now = () => performance.now();\n" + source +
                              "console.log(JSON.stringify(results));\n"],
                             capture_output=True, text=True, check=True, timeout=300)
    else:
        out = subprocess.run([sys.executable, "-c", PYRUNTIME_PY], input=source, capture_output=True,
                             text=True, check=True, timeout=300, env=environment(pythonpath), cwd="/tmp")
    return json.loads(out.stdout)


def compare(operations_js: str, min_ms: int, title: str, command: str, out: str) -> int:
    """Runs `operations_js` in this build, `--baseline`'s and Node, in turn, `--rounds` times,
    each operation for at least `min_ms`, and writes the medians to benchmarks/results/`out`.md."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--baseline", help="PYTHONPATH of another pyruntime build")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    source = operations_js + LOOP_JS.replace("MIN_MS", str(min_ms))
    runners: list[tuple[str, str | None]] = [("pyruntime, this build", None)]
    if args.baseline:
        runners.append((f"pyruntime, {args.baseline}", args.baseline))
    if shutil.which("node"):
        runners.append(("node", None))
    found: dict[str, list[dict[str, float]]] = {label: [] for label, _ in runners}
    for round_ in range(args.rounds):
        for label, pythonpath in runners:
            found[label].append(run(label, pythonpath, source))
            print(f"round {round_ + 1}: {label}: " + ", ".join(f"{k} {v:.0f} ns" for k, v in found[label][-1].items()),
                  flush=True)
    names = list(found[runners[0][0]][0])
    medians = {label: {name: statistics.median(r[name] for r in rounds) for name in names}
               for label, rounds in found.items()}
    header = ["operation"] + [f"{label}, ns" for label, _ in runners]
    if "node" in medians:
        header += [f"{label} / node" for label, _ in runners if label != "node"]
    rows = []
    for name in names:
        row = [f"`{name}`"] + [f"{medians[label][name]:.0f}" for label, _ in runners]
        if "node" in medians:
            row += [f"{medians[label][name] / medians['node'][name]:.2f}x" for label, _ in runners if label != "node"]
        rows.append(row)
    lines = [f"# {title} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
             "", f"`{command} --rounds {args.rounds}`"
             + (f" `--baseline {args.baseline}`" if args.baseline else "")
             + f"; medians of the rounds; load average {load_average()} at the end.", ""] + table(header, rows)
    print("\n".join(lines))
    write_markdown(out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(compare(OPERATIONS_JS, 200, "Regular expression operations beside Node",
                     "benchmarks/bench_regexp.py", "regexp"))
