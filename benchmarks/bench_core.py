"""Core benchmarks: pyruntime beside PyPI's mini-racer, measured in the same process.

Run with `make bench` (installs mini-racer into the venv for this script only).
Reports medians and p99s; ratios compare the two runtimes measured in this one run, so
a noisy machine moves both sides together.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

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


def report(name: str, ours: list[float], theirs: list[float] | None, unit: str = "µs") -> None:
    line = f"{name:<44} pyruntime p50 {statistics.median(ours):9.2f} {unit}  p99 {percentile(ours, 99):9.2f} {unit}"
    if theirs:
        ratio = statistics.median(theirs) / statistics.median(ours)
        line += (f" | mini-racer p50 {statistics.median(theirs):9.2f} {unit}  p99 {percentile(theirs, 99):9.2f} {unit}"
                 f" | mini-racer/pyruntime {ratio:6.1f}x")
    print(line, flush=True)


def main() -> None:
    print("pyruntime core benchmarks" + ("" if MiniRacer else " (mini-racer not installed)"))

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


if __name__ == "__main__":
    main()
