"""What app A's hostile requests cost app B: B's latency alone, then while A runs the catalogue.

Two apps in one server (`--workers 1`, each app in its engine process: the default for two
apps). B answers a plain request; A is sent, round robin from two client threads, a spin
loop, a memory hog, a throw, a builtin the guards refuse, and a V8-fatal path the guards
cannot see (its engine process dies and is replaced). B is measured with sequential
requests, first alone, then during the attack. Loopback only; bounded in count.

    .venv/bin/python benchmarks/bench_blast_radius.py [--requests 300]

Exits 1 if any request of B failed, or if B's p99 under attack passed 3x its p99 alone.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

APP_A = """
export default {
  async fetch(request) {
    const kind = new URL(request.url).pathname.slice(1);
    if (kind === "spin") for (;;) {}
    if (kind === "hog") { const a = []; for (;;) a.push(new Array(1e5).fill(1.5)); }
    if (kind === "throw") throw new Error("hostile");
    if (kind === "guarded") "x".repeat(2 ** 27 + 16).match(/x/g);
    if (kind === "fatal") Array.prototype.fill.call({ get length() { return 2 ** 32 - 1; } }, 0);
    return new Response("a");
  },
};
"""
APP_B = 'export default { fetch() { return new Response("b"); } };\n'
HOSTILE = ("spin", "hog", "throw", "guarded", "fatal")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_b(client: httpx.Client, url: str, count: int) -> tuple[list[float], int]:
    latencies, failures = [], 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            ok = client.get(url + "/b/hello").status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append((time.perf_counter() - started) * 1000)
        failures += not ok
    return latencies, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="blast-"))
    (folder / "a.js").write_text(APP_A)
    (folder / "b.js").write_text(APP_B)
    (folder / "pyruntime.toml").write_text(
        '[[apps]]\nname = "a"\nscript = "a.js"\nroutes = ["/a/*"]\npool_size = 1\n'
        '[[apps]]\nname = "b"\nscript = "b.js"\nroutes = ["/b/*"]\npool_size = 1\n')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "pyruntime", "serve", "--config", str(folder / "pyruntime.toml"),
                               "--port", str(port)], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("the server did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        with httpx.Client(timeout=30) as client:
            measure_b(client, url, 50)  # warm-up
            alone, failed_alone = measure_b(client, url, args.requests)
            stop = threading.Event()
            sent = {kind: 0 for kind in HOSTILE}

            def attack(offset: int) -> None:
                with httpx.Client(timeout=30) as hostile:
                    index = offset
                    while not stop.is_set():
                        kind = HOSTILE[index % len(HOSTILE)]
                        index += 1
                        try:
                            hostile.get(f"{url}/a/{kind}")
                        except httpx.HTTPError:
                            pass
                        sent[kind] += 1

            attackers = [threading.Thread(target=attack, args=(i,)) for i in range(2)]
            for thread in attackers:
                thread.start()
            time.sleep(1.0)
            attacked, failed_attacked = measure_b(client, url, args.requests)
            stop.set()
            for thread in attackers:
                thread.join(60)
    finally:
        server.terminate()
        server.wait(60)
    ratio = percentile(attacked, 0.99) / percentile(alone, 0.99)
    print("| B | requests | failed | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for label, values, failed in (("alone", alone, failed_alone), ("while A is attacked", attacked, failed_attacked)):
        print(f"| {label} | {len(values)} | {failed} | {statistics.median(values):.2f} | "
              f"{percentile(values, 0.99):.2f} |")
    print(f"hostile requests sent to A: {sent}")
    print(f"B's p99 under attack / alone: {ratio:.2f}x (bound 3x)")
    return 0 if failed_alone == failed_attacked == 0 and ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
