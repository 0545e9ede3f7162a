"""Density: many small apps in one server. How long until all are loaded, and how much memory.

Run with `make bench-http` (after the HTTP benchmark) or alone:
`.venv/bin/python benchmarks/bench_density.py --apps 1000`. Each app is its own small module
worker with its own route and `pool_size = 1`; one server process (`--workers 1`) loads them
all, with `isolation = "shared"`: every app in the worker process. (By default several apps
each get an engine process of their own, which contains crashes but costs a Python process
per app: a density setting is a choice of shared isolation.) Reported: spawn to /healthz 200
(every app loaded), the RSS summed over the server's processes, and whether every app answers.
Results: benchmarks/results/density.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench_http import end_session, free_port
from report import load_average, machine_header, table, write_markdown

ROOT = Path(__file__).resolve().parent.parent
PYRUNTIME = ROOT / ".venv" / "bin" / "pyruntime"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000, help="number of apps (default 1000)")
    parser.add_argument("--timeout", type=float, default=300, help="give up loading after this many seconds")
    args = parser.parse_args()
    load_at_start = load_average()
    with tempfile.TemporaryDirectory(prefix="bench_density_") as tmp:
        config = write_config(Path(tmp), args.apps)
        port = free_port()
        print(f"{args.apps} apps, one worker: starting on port {port}", flush=True)
        started = time.perf_counter()
        proc = subprocess.Popen([str(PYRUNTIME), "serve", "--config", str(config), "--port", str(port),
                                 "--log-format", "json"], cwd=tmp, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        loaded_s = float("nan")
        footprint = SessionFootprint(float("nan"), 0, 0)
        answered = 0
        try:
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if get(port, "/healthz", timeout=5)[0] == 200:
                        loaded_s = time.perf_counter() - started
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            print(f"  loaded in {loaded_s:.1f} s", flush=True)
            if loaded_s == loaded_s:
                footprint = session_footprint(proc.pid)
                print(f"  RSS {footprint.rss_mb:.0f} MB, {footprint.threads} threads, "
                      f"{footprint.map_lines} memory mappings", flush=True)
                sample = sorted({0, args.apps // 2, args.apps - 1})
                answered = sum(get(port, f"/app{n}/")[1] == f"app {n}".encode() for n in sample)
                print(f"  {answered}/{len(sample)} sampled apps answered", flush=True)
        finally:
            end_session(proc, 30)
    lines = machine_header("Density: many small apps in one server", {},
                           [f"{args.apps} module workers, pool_size 1 each, one server process (`--workers 1`), "
                            'isolation = "shared"'],
                           load_at_start)
    lines += table(["apps", "spawn to all loaded (s)", "RSS MB (summed over the server's processes)",
                    "MB per app", "threads", "memory mappings", "sampled apps answering"],
                   [[str(args.apps), f"{loaded_s:.1f}", f"{footprint.rss_mb:.0f}",
                     f"{footprint.rss_mb / args.apps:.2f}", str(footprint.threads), str(footprint.map_lines),
                     str(answered)]])
    print(f"\nwrote {write_markdown('density', lines)}\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
