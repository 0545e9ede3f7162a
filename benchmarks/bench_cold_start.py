"""Cold start, spawn to the first 200: this build beside another, started in turn.

On a shared machine the time of the same start moves by a fifth from one minute to the
next, so five starts of one build (what `bench_http.py` reports) cannot show a change of a
tenth. Here each start of this build is followed by one of the `--baseline` build, the same
number of times, and the medians are compared: both builds see the same minutes.

The baseline is another pyruntime installed into a folder, imported through PYTHONPATH;
for example the build of an older commit:

    git worktree add /tmp/base <commit>
    .venv/bin/python -m pip install --no-deps --no-build-isolation --target /tmp/base_pkg /tmp/base
    .venv/bin/python benchmarks/bench_cold_start.py --baseline /tmp/base_pkg

Without `--baseline`, this build alone. Each start: `python -m pyruntime serve` of a hello
app in a fresh temporary folder, polled with GET /hello every 2 ms; the process group ends
after the first 200. Result: benchmarks/results/cold_start.md.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_http import end_session, environment, free_port
from report import load_average, machine_header, table, write_markdown

HELLO = 'export default { fetch() { return new Response("Hello, world!"); } };\n'
POLL_S = 0.002
START_TIMEOUT_S = 60.0


def start_ms(folder: Path, server: str, workers: int, pythonpath: str | None) -> float:
    """One start, spawn to the first 200 on /hello, in milliseconds."""
    env = environment(pythonpath)
    port = free_port()
    command = [sys.executable, "-m", "pyruntime", "serve", "app.js", "--port", str(port), "--server", server,
               "--workers", str(workers)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        while time.perf_counter() - started < START_TIMEOUT_S:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}: {process.stderr.read().decode()[-500:]}")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                connection.request("GET", "/hello")
                if connection.getresponse().status == 200:
                    return (time.perf_counter() - started) * 1000
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(POLL_S)
        raise RuntimeError(f"no answer in {START_TIMEOUT_S:.0f} s")
    finally:
        end_session(process, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="PYTHONPATH of another pyruntime build to start in turn with this one")
    parser.add_argument("--starts", type=int, default=12, help="starts of each build per server (default 12)")
    parser.add_argument("--servers", default="h1,granian,hypercorn",
                        help="comma-separated (default h1,granian,hypercorn)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--out", default="cold_start", help="results file name in benchmarks/results")
    args = parser.parse_args()
    builds = {"this build": None} | ({"baseline": args.baseline} if args.baseline else {})
    load_at_start = load_average()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "app.js").write_text(HELLO)
        for server in args.servers.split(","):
            for workers in (int(count) for count in args.workers.split(",")):
                times: dict[str, list[float]] = {name: [] for name in builds}
                for path in builds.values():  # a first start of each warms the disk caches
                    start_ms(Path(folder), server, workers, path)
                for _ in range(args.starts):
                    for name, path in builds.items():
                        times[name].append(start_ms(Path(folder), server, workers, path))
                row = [f"{server} --workers {workers}"]
                for name in builds:
                    row.append(f"{statistics.median(times[name]):.0f} ({min(times[name]):.0f})")
                if args.baseline:
                    row.append(f"{statistics.median(times['this build']) / statistics.median(times['baseline']):.2f}x")
                rows.append(row)
                print("  " + " | ".join(row), flush=True)
    header = ["server", *(f"{name}: median (min) ms" for name in builds)]
    if args.baseline:
        header.append("this / baseline")
    notes = [f"{args.starts} starts of each build per row, in turn; spawn to the first 200 on /hello, polled every "
             f"{POLL_S * 1000:.0f} ms"] + ([f"baseline: PYTHONPATH={args.baseline}"] if args.baseline else [])
    lines = machine_header("Cold start", {"python": sys.version.split()[0]}, notes, load_at_start)
    path = write_markdown(args.out, lines + table(header, rows))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
