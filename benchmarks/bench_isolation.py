"""What process isolation costs: the same requests against `isolation = "shared"` and "process".

Run with `make bench-isolation` (or `.venv/bin/python benchmarks/bench_isolation.py [--requests N]`).
One server worker, two apps; one client sends N requests one after another on a keep-alive
connection (so the latency is the server's, not a queue's), then N more from 8 concurrent
clients. Reported per mode: median and p99 latency of the sequential loop, the server's
CPU time per request (all its processes: supervisor, worker, engines; from /proc), and the
concurrent rate. Loopback only; bounded by N.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

APP_JS = 'export default { fetch() { return new Response("hello"); } };\n'
CONFIG = textwrap.dedent("""\
    [server]
    isolation = "{mode}"

    [[apps]]
    name = "a"
    script = "app.js"
    routes = ["/a/*"]
    pool_size = 2

    [[apps]]
    name = "b"
    script = "app.js"
    routes = ["/b/*"]
    pool_size = 2
    """)
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_cpu_s(root: int) -> float:
    """User + system CPU of a process and its live descendants, in seconds."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(child for child, fields in stats.items() if int(fields[1]) == pid)
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / TICKS
    return total


def measure(mode: str, requests: int, folder: Path) -> dict[str, float]:
    (folder / "app.js").write_text(APP_JS)
    (folder / "pyruntime.toml").write_text(CONFIG.format(mode=mode))
    port = free_port()
    url = f"http://127.0.0.1:{port}/a/hello"
    server = subprocess.Popen([sys.executable, "-m", "pyruntime", "serve", "--config", "pyruntime.toml",
                               "--port", str(port)], cwd=folder, stdout=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get(url).status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.2)
            for _ in range(200):  # warm-up: compiled code, warm pools
                client.get(url)
            latencies = []
            cpu_before = tree_cpu_s(server.pid)
            for _ in range(requests):
                started = time.perf_counter()
                assert client.get(url).status_code == 200
                latencies.append(time.perf_counter() - started)
            cpu = tree_cpu_s(server.pid) - cpu_before
        latencies.sort()

        async def concurrent() -> float:
            async with httpx.AsyncClient(timeout=30) as client:
                async def one(count: int) -> None:
                    for _ in range(count):
                        assert (await client.get(url)).status_code == 200
                started = time.perf_counter()
                await asyncio.gather(*(one(requests // 8) for _ in range(8)))
                return (requests // 8 * 8) / (time.perf_counter() - started)

        rate = asyncio.run(concurrent())
        return {"p50_ms": latencies[len(latencies) // 2] * 1000, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
                "cpu_ms_per_request": cpu / requests * 1000, "concurrent_rps": rate}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    results = {}
    for mode in ("shared", "process"):
        with tempfile.TemporaryDirectory(prefix="pyruntime-bench-") as tmp:
            results[mode] = measure(mode, args.requests, Path(tmp))
        print(mode, {k: round(v, 3) for k, v in results[mode].items()}, flush=True)
    shared, process = results["shared"], results["process"]
    print(f"process isolation costs {process['p50_ms'] - shared['p50_ms']:+.3f} ms median latency, "
          f"{process['cpu_ms_per_request'] - shared['cpu_ms_per_request']:+.3f} ms CPU per request, "
          f"{process['concurrent_rps'] / shared['concurrent_rps'] - 1:+.1%} concurrent rate")


if __name__ == "__main__":
    main()
