"""Reaction time of the process guard (ext/process_guard.h), measured from outside.

For each case a child process enables the guard (256 MB allowance, 500 ms grace), prints the
time just before it starts the hostile work, and is ended by the guard. Reported: how long the
condition had held when the guard acted (from its JSON line: time since termination was
requested, or time over the memory bound), from the start of the work to the guard's JSON
line, and to the child's exit as the parent sees it.

    .venv/bin/python benchmarks/guard_reaction.py [runs]
"""

import json
import re
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import datetime

CHILD = textwrap.dedent("""
    import json, sys, time
    import pyruntime
    from pyruntime import _core
    _core.enable_process_guard(256 << 20, 500)
    iso = pyruntime.Isolate(memory_limit_mb=512, timeout_ms=None, cpu_limit_ms=50)
    iso.eval("1")
    print(json.dumps({"event": "start", "t": time.time()}), flush=True)
    if sys.argv[1] == "cpu":
        iso.eval("'ab'.repeat(4e6).replace(/a/g, 'cc')")  # one builtin call, ~12 s unguarded
    else:
        hog = b"x" * (1 << 30)  # resident, far past start-up + 512 MB + 256 MB
        time.sleep(30)
""")


def run(case: str) -> tuple[float, float, float]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, case], stdout=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(json.loads(line))
    proc.wait()
    exited = time.time()
    start = lines[0]["t"]
    abort = lines[-1]
    assert abort["event"] == "worker_abort", lines
    logged = datetime.fromisoformat(abort["timestamp"].replace("Z", "+00:00")).timestamp()
    held_ms = float(re.search(r"(?:did not stop|for) (\d+) ms", abort["reason"]).group(1))
    return held_ms / 1000, logged - start, exited - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for case, what in [("cpu", "stuck builtin (50 ms CPU limit + 500 ms grace)"),
                       ("rss", "resident memory over the bound (200 ms window; includes writing 1 GB)")]:
        results = [run(case) for _ in range(runs)]
        held = [r[0] * 1000 for r in results]
        to_line = [r[1] * 1000 for r in results]
        to_exit = [r[2] * 1000 for r in results]
        print(f"{what}: condition held {statistics.median(held):.0f} ms (max {max(held):.0f}); "
              f"from start, to JSON line median {statistics.median(to_line):.0f} ms (max {max(to_line):.0f}), "
              f"to exit median {statistics.median(to_exit):.0f} ms (max {max(to_exit):.0f}), {runs} runs")


if __name__ == "__main__":
    main()
