"""What a request that sets off WebAssembly tier-up costs the server, beside what it is charged.

App "wasm" answers each request by making a module of 2 or 6 large functions (new bytes each
time, so nothing is shared) and calling them, under the default limits (50 ms of CPU); V8 then
compiles the hot functions again with TurboFan on its worker threads. App "hello" answers
plain requests meanwhile, one at a time. For this build and, with `--baseline`, another one
(in turn, in one run): the server's whole CPU (its process tree, from /proc) from the first
wasm request until it settles, per wasm request (hello's requests meanwhile included); the CPU
the request lines say; hello's latency alone and during the attack. Loopback only; bounded.

    .venv/bin/python benchmarks/bench_background_cpu.py [--baseline <PYTHONPATH>] [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from bench_http import end_session, environment, free_port, percentile, tree_cpu_seconds, wait_answering
from report import load_average, write_markdown

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from wasm_tier_up import TIER_UP_JS  # noqa: E402

# The module's bytes are made once per isolate; each request changes one constant in them
# (a module V8 has not compiled), compiles them and calls each function: within 50 ms of CPU.
APP_WASM = TIER_UP_JS + """
const bases = new Map();
let made = 0;
export default {
  fetch(request) {
    const functions = Number(new URL(request.url).searchParams.get("functions"));
    if (!bases.has(functions)) bases.set(functions, bigModule(functions, 60000));
    const bytes = bases.get(functions).slice();
    const constant = bytes.indexOf(0x41, bytes.length - 60000 * 10);  // an i32.const of the last function
    bytes[constant + 1] = 4 + (made++ % 60);  // a new multiplier (one byte of LEB128)
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    let sum = 0;
    for (let i = 0; i < functions; i++) sum += instance.exports["f" + i](30);
    return new Response(String(sum));
  },
};
"""
APP_HELLO = 'export default { fetch() { return new Response("hello"); } };\n'
CONFIG = """\
[[apps]]
name = "wasm"
script = "wasm.js"
routes = ["/wasm/*"]
pool_size = 1
[[apps]]
name = "hello"
script = "hello.js"
routes = ["/hello/*"]
pool_size = 1
"""


def hello_latencies(client: httpx.Client, url: str, stop: threading.Event, count: int | None = None) -> list[float]:
    found: list[float] = []
    while not stop.is_set() and (count is None or len(found) < count):
        started = time.perf_counter()
        client.get(url + "/hello/")
        found.append((time.perf_counter() - started) * 1000)
        time.sleep(0.005)
    return found


def run(label: str, pythonpath: str | None, requests: int, functions: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bgcpu-"))
    (folder / "wasm.js").write_text(APP_WASM)
    (folder / "hello.js").write_text(APP_HELLO)
    (folder / "pyruntime.toml").write_text(CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "pyruntime", "serve", "--config", "pyruntime.toml",
                                   "--server", "h1", "--workers", "1", "--port", str(port)],
                                  cwd=folder, env=environment(pythonpath), stdout=out, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
    try:
        wait_answering(url + "/healthz", server)
        with httpx.Client(timeout=60) as client:
            wasm = f"{url}/wasm/?functions={functions}"
            client.get(wasm)  # the isolates are made and warm
            hello_latencies(client, url, threading.Event(), 50)
            time.sleep(3)
            alone = hello_latencies(client, url, threading.Event(), 300)
            cpu_before = tree_cpu_seconds(server.pid)
            statuses: list[int] = []
            stop = threading.Event()
            attacked: list[float] = []

            def measure() -> None:
                with httpx.Client(timeout=60) as hello:
                    attacked.extend(hello_latencies(hello, url, stop))

            thread = threading.Thread(target=measure)
            thread.start()
            for _ in range(requests):
                statuses.append(client.get(wasm).status_code)
                time.sleep(0.5)
            stop.set()
            thread.join(60)
            # Until the server's CPU stops growing: the compiles the requests left behind.
            last, since = tree_cpu_seconds(server.pid), time.monotonic()
            settle_by = since + 120
            while time.monotonic() - since < 2.0 and time.monotonic() < settle_by:
                time.sleep(0.25)
                now = tree_cpu_seconds(server.pid)
                if now - last > 0.02:
                    last, since = now, time.monotonic()
            cpu = tree_cpu_seconds(server.pid) - cpu_before
    finally:
        end_session(server, 60)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    charged = [line.get("cpu_ms") or 0.0 for line in lines if line.get("event") == "request"
               and line.get("app") == "wasm"][1:]  # the warm-up request is not in the run
    limits = sum(1 for line in lines if line.get("event") == "limit_exceeded" and line.get("app") == "wasm")
    replaced = sum(1 for line in lines if line.get("event") == "isolate_disposed" and line.get("app") == "wasm")
    return {
        "label": label, "functions": functions, "requests": requests, "ok": statuses.count(200),
        "server_cpu_ms_per_request": cpu * 1000 / requests,
        "charged_cpu_ms_per_request": sum(charged) / max(len(charged), 1),
        "limit_lines": limits, "isolates_replaced": replaced,
        "hello_p50_alone": statistics.median(alone), "hello_p99_alone": percentile(alone, 99),
        "hello_p50_attacked": statistics.median(attacked), "hello_p99_attacked": percentile(attacked, 99),
        "hello_requests_attacked": len(attacked),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="PYTHONPATH of another pyruntime build")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    builds = [("this build", None)] + ([(f"baseline ({args.baseline})", args.baseline)] if args.baseline else [])
    rows = []
    for functions in (2, 6):  # functions of 600 KB per module: about 0.3 s and 1 s of TurboFan
        for label, path in builds:
            print(f"{label}: {args.requests} wasm requests of {functions} functions ...", flush=True)
            rows.append(run(label, path, args.requests, functions))
    table = ["| build | functions | wasm requests (200) | server CPU per wasm request, ms | "
             "CPU its request lines say, ms | `limit_exceeded` lines | isolates replaced | "
             "hello p50 / p99 alone, ms | hello p50 / p99 during, ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        table.append(f"| {row['label']} | {row['functions']} | {row['requests']} ({row['ok']}) | "
                     f"{row['server_cpu_ms_per_request']:.0f} | {row['charged_cpu_ms_per_request']:.1f} | "
                     f"{row['limit_lines']} | {row['isolates_replaced']} | "
                     f"{row['hello_p50_alone']:.2f} / {row['hello_p99_alone']:.2f} | "
                     f"{row['hello_p50_attacked']:.2f} / {row['hello_p99_attacked']:.2f} |")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# WebAssembly tier-up: what a request costs the server ({when})", "",
             f"`benchmarks/bench_background_cpu.py`, load average {load_average()} at the end.", "", *table]
    print("\n".join(lines))
    write_markdown("background_cpu", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
