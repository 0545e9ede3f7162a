"""Core benchmarks: pyruntime beside PyPI's mini-racer, measured in the same process.

Run with `make bench` (installs mini-racer into the venv for this script only).
Reports medians and p99s; ratios compare the two runtimes measured in this one run, so
a noisy machine moves both sides together. Results: benchmarks/results/core.md and core.png.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from report import bar_charts, load_average, machine_header, table, write_markdown

from pyruntime import Isolate, TimeLimitExceeded

try:
    from py_mini_racer import MiniRacer
except ImportError:  # the suite still reports pyruntime's own numbers
    MiniRacer = None


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def measure(fn: Callable[[], object], repeat: int) -> list[float]:
    """Microseconds per call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def measure_batched(fn: Callable[[], object], repeat: int, batch: int = 100) -> list[float]:
    """Microseconds per call, timing batches so that timer overhead does not dominate."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) * 1e6 / batch)
    return samples


def overshoot_ms(run_with_limit: Callable[[], float], repeat: int) -> list[float]:
    return [run_with_limit() for _ in range(repeat)]


# (name, unit, pyruntime p50, p99, mini-racer p50, p99): the rows of the results table.
ROWS: list[tuple[str, str, float, float, float, float]] = []


def report(name: str, ours: list[float], theirs: list[float] | None, unit: str = "µs") -> None:
    nan = float("nan")
    ROWS.append((name, unit, statistics.median(ours), percentile(ours, 99),
                 statistics.median(theirs) if theirs else nan, percentile(theirs, 99) if theirs else nan))
    line = f"{name:<44} pyruntime p50 {statistics.median(ours):9.2f} {unit}  p99 {percentile(ours, 99):9.2f} {unit}"
    if theirs:
        ratio = statistics.median(theirs) / statistics.median(ours)
        line += (f" | mini-racer p50 {statistics.median(theirs):9.2f} {unit}  p99 {percentile(theirs, 99):9.2f} {unit}"
                 f" | mini-racer/pyruntime {ratio:6.1f}x")
    print(line, flush=True)


def v8_version() -> str:
    """The V8 that pyruntime was built against (third_party/v8, from Debian's libnode)."""
    header = Path(__file__).resolve().parent.parent / "third_party" / "v8" / "include" / "node" / "v8-version.h"
    try:
        parts = dict(re.findall(r"#define V8_(MAJOR_VERSION|MINOR_VERSION|BUILD_NUMBER|PATCH_LEVEL) (\d+)",
                                header.read_text()))
    except OSError:
        return "?"
    return ".".join(parts.get(k, "?") for k in ("MAJOR_VERSION", "MINOR_VERSION", "BUILD_NUMBER", "PATCH_LEVEL"))


def versions() -> dict[str, str]:
    found = {"Python": sys.version.split()[0],
             "pyruntime": f"{importlib.metadata.version('pyruntime')} (V8 {v8_version()})"}
    if MiniRacer:
        found["mini-racer"] = f"{importlib.metadata.version('mini-racer')} (V8 {MiniRacer().v8_version})"
    return found


# Built by `make bench` (CMake, from benchmarks/cpp/isolate_creation.cc).
CREATION_PROBE = Path(__file__).resolve().parent.parent / "build" / "cmake" / "isolate_creation"
CREATION_ROUNDS = 200


def creation_without_python() -> list[str]:
    """Isolate creation measured in C++: pyruntime's Runtime beside a bare V8 isolate and context
    (libnode's own snapshot), made in turn in one process. The bare one is the least any
    embedder of this V8 pays, which tells how much of a creation is the global scope."""
    if not CREATION_PROBE.exists():
        return [f"Isolate creation without Python: not measured ({CREATION_PROBE.name} is not built; "
                "`make bench` builds it)."]
    found = json.loads(subprocess.run([str(CREATION_PROBE), str(CREATION_ROUNDS)], capture_output=True, text=True,
                                      check=True).stdout)
    ours, bare = found["pyruntime_p50"], found["bare_p50"]
    return ["## Isolate creation without Python", "",
            f"`build/cmake/isolate_creation` (benchmarks/cpp/isolate_creation.cc): {found['rounds']} of each, made in "
            "turn in one process. The bare isolate is V8's own floor on this libnode: `Isolate::New` and "
            "`Context::New` from libnode's snapshot, no globals of ours.", "",
            *table(["isolate", "p50", "p99", "parts (p50)"], [
                ["pyruntime Runtime (full global scope, compiled code kept)", f"{ours:.0f} µs",
                 f"{found['pyruntime_p99']:.0f} µs", f"disposal {found['pyruntime_dispose_p50']:.0f} µs"],
                ["bare V8 isolate and context", f"{bare:.0f} µs", f"{found['bare_p99']:.0f} µs",
                 f"Isolate::New {found['bare_isolate_p50']:.0f} µs, Context::New {found['bare_context_p50']:.0f} µs, "
                 f"disposal {found['bare_dispose_p50']:.0f} µs"],
            ]), f"pyruntime / bare: {ours / bare:.2f}x."]


def write_results(load_at_start: str, extra: list[str]) -> None:
    def cell(value: float, unit: str) -> str:
        return "-" if value != value else f"{value:.2f} {unit}"

    lines = machine_header("Core benchmarks (in process)", versions(),
                           ["p50 and p99 over repeated runs; ratio = mini-racer p50 / pyruntime p50 "
                            "(above 1: pyruntime is faster)"], load_at_start)
    lines += table(["benchmark", "pyruntime p50", "pyruntime p99", "mini-racer p50", "mini-racer p99", "ratio"],
                   [[name, cell(ours, unit), cell(ours99, unit), cell(theirs, unit), cell(theirs99, unit),
                     "-" if theirs != theirs else f"{theirs / ours:.2f}x"]
                    for name, unit, ours, ours99, theirs, theirs99 in ROWS])
    lines += ["", *extra]
    print(f"\nwrote {write_markdown('core', lines)}")
    chart = bar_charts("core", "pyruntime and mini-racer in one process (p50, log scale)", [
        ("p50 (µs, or ms for the overshoot)", [name for name, *_ in ROWS],
         {"pyruntime": [row[2] for row in ROWS], "mini-racer": [row[4] for row in ROWS]}, True)])
    if chart:
        print(f"wrote {chart}")
    print("\n" + "\n".join(lines))


def main() -> None:
    load_at_start = load_average()
    print(f"pyruntime core benchmarks; load average {load_at_start}"
          + ("" if MiniRacer else " (mini-racer not installed)"), flush=True)

    report("isolate creation (full global scope)",
           measure(lambda: Isolate().close(), 200),
           measure(lambda: MiniRacer(), 50) if MiniRacer else None)

    iso = Isolate(timeout_ms=None, cpu_limit_ms=None)
    mr = MiniRacer() if MiniRacer else None
    report("eval('1+1') round trip",
           measure_batched(lambda: iso.eval("1+1"), 50),
           measure_batched(lambda: mr.eval("1+1"), 20, 50) if mr else None)

    iso.eval("function add(a, b, c) { return a + b + c.length }")
    if mr:
        mr.eval("function add(a, b, c) { return a + b + c.length }")
    report("call('add', 1, 2.5, 'str') round trip",
           measure_batched(lambda: iso.call("add", 1, 2.5, "str"), 50),
           measure_batched(lambda: mr.call("add", 1, 2.5, "str"), 20, 50) if mr else None)

    iso.eval("function echo(v) { return v }")
    if mr:
        mr.eval("function echo(v) { return v }")
    payload = {"user": {"id": 7, "tags": ["a", "b", "c"], "score": 0.5}, "items": list(range(20))}
    report("call('echo', nested dict) round trip",
           measure_batched(lambda: iso.call("echo", payload), 50),
           measure_batched(lambda: mr.call("echo", payload), 20, 50) if mr else None)

    iso.eval("function size(v) { return v.length }")
    if mr:
        mr.eval("function size(v) { return v.length }")
    megabyte_text = "x" * (1 << 20)
    report("1 MB string, Python to JS ('size')",
           measure(lambda: iso.call("size", megabyte_text), 50),
           measure(lambda: mr.call("size", megabyte_text), 50) if mr else None)
    report("1 MB string, JS to Python", measure(lambda: iso.eval("'x'.repeat(1 << 20)"), 50),
           measure(lambda: mr.eval("'x'.repeat(1 << 20)"), 50) if mr else None)
    # About 1 MB as JSON: 10,000 small records.
    records = [{"id": i, "name": f"user{i}", "tags": ["a", "b"], "score": i / 3} for i in range(10_000)]
    report("1 MB of records, Python to JS ('size')",
           measure(lambda: iso.call("size", records), 20),
           measure(lambda: mr.call("size", records), 20) if mr else None)
    make_records = ("Array.from({length: 10000}, (_, i) => ({id: i, name: 'user' + i, tags: ['a', 'b'], "
                    "score: i / 3}))")
    # mini-racer hands objects back as proxies: it converts through JSON to return the same Python values.
    report("1 MB of records, JS to Python", measure(lambda: iso.eval(make_records), 20),
           measure(lambda: json.loads(mr.eval(f"JSON.stringify({make_records})")), 20) if mr else None)

    limit_ms = 50
    limited = Isolate(timeout_ms=limit_ms, cpu_limit_ms=None)

    def ours_overshoot() -> float:
        start = time.perf_counter()
        try:
            limited.eval("while (true) {}")
        except TimeLimitExceeded:
            pass
        return (time.perf_counter() - start) * 1e3 - limit_ms

    def theirs_overshoot() -> float:
        start = time.perf_counter()
        try:
            mr.eval("while (true) {}", timeout=limit_ms)
        except Exception:  # mini-racer's JSTimeoutException
            pass
        return (time.perf_counter() - start) * 1e3 - limit_ms

    report(f"time-limit overshoot ({limit_ms} ms limit)",
           overshoot_ms(ours_overshoot, 100),
           overshoot_ms(theirs_overshoot, 50) if mr else None, unit="ms")
    print("isolate creation without Python (C++)...", flush=True)
    write_results(load_at_start, creation_without_python())


if __name__ == "__main__":
    main()
