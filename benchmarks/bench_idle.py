"""What a server spends while idle, after a burst of load: its CPU per 10 s window.

A server that has just served requests should cost nothing while no request comes. pyruntime
on h1 (and, with `--baseline`, another build's) and Node's `http`, each with bench_http's two
handlers, are loaded by `wrk -t2 -c32` on /work and /hello for `--load-s` seconds each (the
pool grows, V8 marks the heaps on its worker threads), then left idle for `--idle-s` seconds;
the server's process-tree CPU (from /proc) in each 10 s window, as a share of one core.
Loopback only; bounded in time.

    .venv/bin/python benchmarks/bench_idle.py [--baseline <PYTHONPATH>] [--load-s 5] [--idle-s 60]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_http import (
    NODE_JS,
    WORKER_JS,
    end_session,
    environment,
    h1_and_node,
    start_on_free_port,
    tree_cpu_seconds,
)
from report import load_average, table, write_markdown

WINDOW_S = 10


def idle_shares(command: list[str], env: dict[str, str], folder: Path, load_s: float, idle_s: float) -> list[float]:
    process, url = start_on_free_port(folder, command, env, "/hello")
    try:
        for path in ("/work", "/hello"):
            subprocess.run(["wrk", "-t2", "-c32", f"-d{load_s:.0f}s", url + path], check=True,
                           stdout=subprocess.DEVNULL, timeout=load_s + 60)
        time.sleep(1)  # the last responses' own work
        shares = []
        for _ in range(int(idle_s // WINDOW_S)):
            before = tree_cpu_seconds(process.pid)
            time.sleep(WINDOW_S)
            shares.append((tree_cpu_seconds(process.pid) - before) / WINDOW_S * 100)
        return shares
    finally:
        end_session(process, 30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="PYTHONPATH of another pyruntime build")
    parser.add_argument("--load-s", type=float, default=5)
    parser.add_argument("--idle-s", type=float, default=60)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_idle needs wrk (the Debian package `wrk`)")
    folder = Path(tempfile.mkdtemp(prefix="idle-"))
    (folder / "app.js").write_text(WORKER_JS)
    (folder / "node_server.mjs").write_text(NODE_JS)
    rows = []
    for label, command, pythonpath in h1_and_node("app.js", "node_server.mjs", args.baseline):
        shares = idle_shares(command, environment(pythonpath), folder, args.load_s, args.idle_s)
        print(f"{label}: " + ", ".join(f"{share:.1f}%" for share in shares), flush=True)
        rows.append([label] + [f"{share:.1f}%" for share in shares])
    windows = [f"{(i + 1) * WINDOW_S} s" for i in range(int(args.idle_s // WINDOW_S))]
    lines = [f"# A server's CPU while idle, after load ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"`benchmarks/bench_idle.py --load-s {args.load_s:g} --idle-s {args.idle_s:g}`"
             + (f" `--baseline {args.baseline}`" if args.baseline else "")
             + f": the process tree's CPU in each {WINDOW_S} s window after the load, as a share of one core; "
             f"load average {load_average()} at the end.", ""]
    lines += table(["server"] + [f"to {window}" for window in windows], rows)
    print("\n".join(lines))
    write_markdown("idle", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
