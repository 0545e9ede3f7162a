"""CPU per request: this build beside another, started in turn under the same load.

`bench_http.py` loads each server once, 5 s per path. On this shared machine one run of a
build differs from the next by a fifth, so two runs of the suite cannot show a change of a
tenth. Here each pyruntime configuration (server and worker count) of this build and of the
`--baseline` build is started in turn, `--rounds` times with the order alternating, and
loaded as bench_http.py loads it (`wrk -t2 -c32`, a 1 s warm-up, then `--duration` s per
path, then as long at its equal load for the p99 the issue compares); the medians of each
build's rounds are compared. Both builds see the same minutes.

The baseline is another pyruntime installed into a folder, imported through PYTHONPATH (see
bench_cold_start.py for how to make one):

    make bench-http-ab BASELINE=/tmp/base_pkg

Result: benchmarks/results/http_ab.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_http import (
    DRAIN_SECONDS,
    FIXED_RATE_LUA,
    PATHS,
    SAME_LOAD_CONNECTIONS,
    SAME_LOAD_RPS,
    WORKER_JS,
    Result,
    Server,
    environment,
    free_port,
    pyruntime_servers,
    run_wrk,
)
from report import load_average, machine_header, table, write_markdown

BUILDS = ("this build", "baseline")


def one_round(folder: Path, server: str, workers: int, pythonpath: str | None,
              duration: float) -> dict[str, Result]:
    """Starts one build's server, loads each path after a warm-up, then at bench_http.py's
    equal load (SAME_LOAD_RPS), and stops it: {path: result, "same " + path: result}."""
    port = free_port()
    command = [sys.executable, "-m", "pyruntime", "serve", "app.js", "--port", str(port), "--server", server,
               "--workers", str(workers)]
    running = Server(f"{server} --workers {workers}", "pyruntime", command, port, folder, environment(pythonpath))
    if not running.start(starts=1):
        raise RuntimeError(f"{running.name} did not start (PYTHONPATH={pythonpath})")
    try:
        results = {}
        for path in PATHS:
            run_wrk(running, path, 1, 32, 2)  # warm-up: JIT, pools
            time.sleep(DRAIN_SECONDS)
            results[path] = run_wrk(running, path, duration, 32, 2)
            time.sleep(DRAIN_SECONDS)
        for path in PATHS:
            results["same " + path] = run_wrk(running, path, duration, SAME_LOAD_CONNECTIONS, 1,
                                              (folder / "fixed_rate.lua", SAME_LOAD_CONNECTIONS / SAME_LOAD_RPS * 1000))
            time.sleep(DRAIN_SECONDS)
        return results
    finally:
        running.stop()


def median_of(rounds: list[dict[str, Result]], path: str, field: str) -> float:
    return statistics.median(getattr(r[path], field) for r in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="PYTHONPATH of another pyruntime build")
    parser.add_argument("--rounds", type=int, default=4, help="starts of each build per configuration (default 4)")
    parser.add_argument("--duration", type=float, default=5, help="seconds of load per path (default 5)")
    parser.add_argument("--servers", help="comma-separated (default: every server `serve --server` offers)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--out", default="http_ab", help="results file name in benchmarks/results")
    args = parser.parse_args()
    paths = {"this build": None, "baseline": args.baseline}
    load_at_start = load_average()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_http_ab_") as tmp:
        folder = Path(tmp)
        (folder / "app.js").write_text(WORKER_JS)
        (folder / "fixed_rate.lua").write_text(FIXED_RATE_LUA)
        for server in (args.servers.split(",") if args.servers else pyruntime_servers()):
            for workers in (int(count) for count in args.workers.split(",")):
                rounds: dict[str, list[dict[str, Result]]] = {build: [] for build in BUILDS}
                for index in range(args.rounds):
                    for build in BUILDS if index % 2 == 0 else BUILDS[::-1]:
                        rounds[build].append(one_round(folder, server, workers, paths[build], args.duration))
                    print(f"  {server} --workers {workers}: round {index + 1}/{args.rounds}", flush=True)
                for path in PATHS:
                    ours, base = (median_of(rounds[b], path, "cpu_ms_per_1k") for b in BUILDS)
                    row = [f"{server} --workers {workers}", path, f"{ours:.0f}", f"{base:.0f}", f"{ours / base:.2f}x",
                           *(f"{median_of(rounds[b], path, 'rps'):,.0f}" for b in BUILDS),
                           *(f"{median_of(rounds[b], path, 'p99_ms'):.2f}" for b in BUILDS),
                           *(f"{median_of(rounds[b], 'same ' + path, 'p99_ms'):.2f}" for b in BUILDS)]
                    rows.append(row)
                    print("  " + " | ".join(row), flush=True)
    header = ["server", "path", "CPU ms per 1k req, this build", "baseline", "this / baseline",
              "req/s, this build", "baseline", "p99 ms, this build", "baseline",
              f"p99 ms at {SAME_LOAD_RPS} req/s, this build", "baseline"]
    notes = [f"{args.rounds} starts of each build per configuration, in turn (order alternating); per start "
             f"`wrk -t2 -c32`, a 1 s warm-up, then {args.duration:.0f} s per path; then {args.duration:.0f} s per "
             f"path at bench_http.py's equal load ({SAME_LOAD_RPS} req/s over {SAME_LOAD_CONNECTIONS} connections); "
             "medians of the starts",
             f"baseline: PYTHONPATH={args.baseline}"]
    lines = machine_header("HTTP, this build beside a baseline", {"python": sys.version.split()[0]}, notes,
                           load_at_start)
    print(f"wrote {write_markdown(args.out, lines + table(header, rows, right_from=2))}")


if __name__ == "__main__":
    main()
