"""Density: many small apps in one server. How long until all are loaded, and how much memory.

Run with `make bench-http` (after the HTTP benchmark) or alone:
`.venv/bin/python benchmarks/bench_density.py --apps 1000`. Each app is its own small module
worker with its own route and `pool_size = 1`; one server process (`--workers 1`) loads them
all, with `isolation = "shared"`: every app in the worker process. (By default several apps
each get an engine process of their own, which contains crashes but costs a Python process
per app: a density setting is a choice of shared isolation.) The server is h1, which spends
the least CPU per request on the many requests sent here. Reported: spawn to /healthz 200
(every app loaded), the RSS summed over the server's processes once loaded, and again once
every app has answered `--requests` requests (an app in use holds more than one just
loaded: what its requests leave in its isolate's heap, and the young generation its garbage
fills), again once they have been idle long enough for the pools to collect their isolates
(pool.IDLE_COLLECT_S: what a dense server holds between bursts of traffic), and how many
apps answered right.

`--baseline PYTHONPATH` starts another pyruntime build (installed into a folder, as for
bench_cold_start.py) in turn with this one, each `--rounds` times.
Results: benchmarks/results/density.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench_http import end_session, environment, free_port
from report import load_average, machine_header, table, write_markdown

from pyruntime.server.pool import IDLE_COLLECT_S

# Once idle: the RSS is read every SETTLE_POLL_S after IDLE_COLLECT_S until it falls by less
# than SETTLE_MB between two reads (the last apps' collections are done), for SETTLE_MAX_S at most.
SETTLE_POLL_S = 2.0
SETTLE_MB = 1.0
SETTLE_MAX_S = 60.0

APP_JS = 'export default { fetch(request, env) { return new Response("app " + env.N) } };\n'


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class SessionFootprint(NamedTuple):
    rss_mb: float
    threads: int
    # Lines of /proc/PID/maps: V8 reads the whole map whenever it makes an isolate, so each
    # mapping an app adds (a thread's stack, a heap page) slows every later isolate.
    map_lines: int


def session_footprint(sid: int) -> SessionFootprint:
    """RSS, threads and memory mappings summed over the processes of session `sid`."""
    total_kb = threads = map_lines = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[3]) != sid:
                continue
            status = Path(f"/proc/{entry}/status").read_text()
            maps = Path(f"/proc/{entry}/maps").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        total_kb += int(fields.get("VmRSS", "0 kB").split()[0])
        threads += int(fields.get("Threads", "0"))
        map_lines += maps.count("\n")
    return SessionFootprint(total_kb / 1024, threads, map_lines)


def write_config(folder: Path, apps: int) -> Path:
    lines = ["[server]", 'isolation = "shared"', ""]
    for n in range(apps):
        app_dir = folder / f"app{n}"
        app_dir.mkdir()
        (app_dir / "worker.js").write_text(APP_JS)
        lines += ["[[apps]]", f'name = "app{n}"', f'script = "app{n}/worker.js"', f'routes = ["/app{n}/*"]',
                  f'env = {{ N = "{n}" }}', "pool_size = 1", ""]
    config = folder / "pyruntime.toml"
    config.write_text("\n".join(lines))
    return config


def settled_footprint(sid: int) -> SessionFootprint:
    """The footprint once the apps have been idle for IDLE_COLLECT_S and the RSS stopped falling."""
    time.sleep(IDLE_COLLECT_S)
    last = session_footprint(sid)
    deadline = time.monotonic() + SETTLE_MAX_S
    while time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_S)
        now = session_footprint(sid)
        if last.rss_mb - now.rss_mb < SETTLE_MB:
            return now
        last = now
    return last


class Run(NamedTuple):
    loaded_s: float
    loaded: SessionFootprint
    in_use: SessionFootprint
    idle: SessionFootprint
    answered: int


def answer_all(port: int, apps: int, requests: int) -> int:
    """Sends `requests` requests to every app on one connection; the number of apps whose
    every answer was their own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    right = 0
    try:
        for n in range(apps):
            ok = True
            for _ in range(requests):
                conn.request("GET", f"/app{n}/")
                response = conn.getresponse()
                ok = ok and response.status == 200 and response.read() == f"app {n}".encode()
            right += ok
    finally:
        conn.close()
    return right


def ready(port: int) -> bool:
    """Whether /healthz answers 200: every app loaded."""
    try:
        return get(port, "/healthz", timeout=5)[0] == 200
    except OSError:
        return False


def run(config: Path, apps: int, requests: int, pythonpath: str | None, timeout: float) -> Run | None:
    """One server of `apps` apps, from spawn until every app has answered; None if it did not load."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pyruntime", "serve", "--config", str(config), "--port", str(port),
                             "--log-format", "json", "--server", "h1"], cwd=config.parent, env=environment(pythonpath),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                return None
            time.sleep(0.05)
        loaded_s = time.perf_counter() - started
        loaded = session_footprint(proc.pid)
        answered = answer_all(port, apps, requests)  # a failure here is the run's, not retried
        in_use = session_footprint(proc.pid)
        return Run(loaded_s, loaded, in_use, settled_footprint(proc.pid), answered)
    finally:
        end_session(proc, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000, help="number of apps (default 1000)")
    parser.add_argument("--requests", type=int, default=300, help="requests to each app once loaded (default 300)")
    parser.add_argument("--rounds", type=int, default=1, help="servers started per build (default 1)")
    parser.add_argument("--baseline", help="PYTHONPATH of another pyruntime build to run in turn with this one")
    parser.add_argument("--timeout", type=float, default=300, help="give up loading after this many seconds")
    args = parser.parse_args()
    load_at_start = load_average()
    builds = {"this build": None} | ({"baseline": args.baseline} if args.baseline else {})
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_density_") as tmp:
        config = write_config(Path(tmp), args.apps)
        for round_index in range(args.rounds):
            for name, pythonpath in builds.items():
                print(f"{name}, round {round_index + 1}/{args.rounds}: {args.apps} apps, one worker", flush=True)
                result = run(config, args.apps, args.requests, pythonpath, args.timeout)
                if result is None:
                    print("  did not load", flush=True)
                    rows.append([name, "did not load", *["-"] * 8])
                    continue
                print(f"  loaded in {result.loaded_s:.1f} s, RSS {result.loaded.rss_mb:.0f} MB; after "
                      f"{args.requests} requests to each app {result.in_use.rss_mb:.0f} MB, once idle "
                      f"{result.idle.rss_mb:.0f} MB; "
                      f"{result.answered}/{args.apps} apps answered", flush=True)
                rows.append([name, f"{result.loaded_s:.1f}", f"{result.loaded.rss_mb:.0f}",
                             f"{result.loaded.rss_mb / args.apps:.2f}", f"{result.in_use.rss_mb:.0f}",
                             f"{result.in_use.rss_mb / args.apps:.2f}", f"{result.idle.rss_mb:.0f}",
                             f"{result.idle.rss_mb / args.apps:.2f}", str(result.in_use.threads),
                             str(result.in_use.map_lines), str(result.answered)])
    notes = [f"{args.apps} module workers, pool_size 1 each, one server process (`--workers 1`), "
             'isolation = "shared"',
             f"in use: after every app answered {args.requests} requests, one app after another",
             f"once idle: {IDLE_COLLECT_S:.0f} s later, when the RSS stopped falling (idle isolates are collected)"]
    if args.baseline:
        notes.append(f"baseline: PYTHONPATH={args.baseline}, started in turn with this build")
    lines = machine_header("Density: many small apps in one server", {}, notes, load_at_start)
    lines += table(["build", "spawn to all loaded (s)", "RSS MB loaded", "MB per app loaded", "RSS MB in use",
                    "MB per app in use", "RSS MB once idle", "MB per app once idle", "threads",
                    "memory mappings", "apps answering right"], rows)
    print(f"\nwrote {write_markdown('density', lines)}\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
