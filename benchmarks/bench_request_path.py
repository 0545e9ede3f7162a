"""What our layer costs per request, without an HTTP server: `WorkerApp` beside a plain ASGI app.

Run with `make bench` (or `.venv/bin/python benchmarks/bench_request_path.py [--requests N]`).
Both apps get the same ASGI calls from 16 concurrent clients in one event loop (the
`receive` and `send` of a server that has the request at hand and takes the response at
once), so the difference is the request path: head parsing, the isolate pool, the JS call
and its result, the log line and the metrics. The hello handler's own JS is a small part.
Reported: process CPU per request (all threads), as the median of several rounds.

`--instructions` also counts the instructions of one request under valgrind's callgrind
(Debian's valgrind): the same count whatever else the machine is doing, so a change of a
few percent shows where CPU time on a shared machine varies by more. Each app runs twice,
counting only after the same warm-up: once with `INSTRUCTION_REQUESTS` requests, one at a
time, once with none (what turning the count on and off costs); the difference, divided,
is one request. The warm-up is long enough for V8 to have optimised the request path, and
the counted runs have V8 on one thread (`--single-threaded`) and a fixed Python hash seed:
with a short warm-up and V8's compiler threads, a one-time compile fell in the count or not,
and one build counted 283,000 or 301,000 from run to run, which hid any change smaller than
that; now the count repeats within about 1,000 (0.4%).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("PYRUNTIME_CACHE_DIR", "off")

from pyruntime.engine.inline_gate import MAX_INLINE_STALL_MS  # noqa: E402
from pyruntime.server.app import WorkerApp  # noqa: E402
from pyruntime.server.config import AppLimits, single_app_config  # noqa: E402
from pyruntime.server.logs import JsonLogger  # noqa: E402
from pyruntime.server.observer import LogObserver  # noqa: E402

HELLO_JS = ('export default { fetch() { return new Response("hello", '
            '{ headers: { "content-type": "text/plain" } }); } };\n')
SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
         "path": "/hello", "raw_path": b"/hello", "query_string": b"", "root_path": "",
         "headers": [(b"host", b"127.0.0.1:8787"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
         "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8787)}
# The same request as a browser sends it: wrk sends few headers, a browser some fifteen, and
# every header crosses to JS.
BROWSER_SCOPE = {**SCOPE, "headers": [
    (b"host", b"127.0.0.1:8787"), (b"connection", b"keep-alive"), (b"cache-control", b"max-age=0"),
    (b"sec-ch-ua", b'"Chromium";v="131", "Not_A Brand";v="24"'), (b"sec-ch-ua-mobile", b"?0"),
    (b"sec-ch-ua-platform", b'"Linux"'), (b"upgrade-insecure-requests", b"1"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
                    b"Safari/537.36"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    (b"sec-fetch-site", b"none"), (b"sec-fetch-mode", b"navigate"), (b"sec-fetch-user", b"?1"),
    (b"sec-fetch-dest", b"document"), (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"accept-language", b"en-US,en;q=0.9"), (b"cookie", b"session=4f1c2a9e8b7d6c5e; theme=dark")]}
CLIENTS = 16
# Requests counted by --instructions (each under valgrind costs some 50 times its CPU time).
INSTRUCTION_REQUESTS = 4000
# Requests before counting: V8 optimises the request path's functions over the first few
# thousand (500 left one compile of 10 to 100M instructions in the count, 3,000 still one).
WARM_UP = 6000

App = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


async def plain_app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                    send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


async def one_request(app: App, sink: list[int], scope: dict[str, Any] = SCOPE) -> None:
    asked = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sink.append(message["status"])

    await app(dict(scope), receive, send)


async def cpu_per_request(app: App, requests: int, scope: dict[str, Any] = SCOPE) -> float:
    """Process CPU µs per request, `requests` spread over CLIENTS concurrent clients."""
    statuses: list[int] = []

    async def client(count: int) -> None:
        for _ in range(count):
            await one_request(app, statuses, scope)

    for _ in range(200):  # warm-up
        await one_request(app, statuses, scope)
    statuses.clear()
    started = time.process_time()
    await asyncio.gather(*(client(requests // CLIENTS) for _ in range(CLIENTS)))
    used = time.process_time() - started
    if set(statuses) != {200} or len(statuses) != requests // CLIENTS * CLIENTS:
        raise RuntimeError(f"unexpected answers: {sorted(set(statuses))}, {len(statuses)} of {requests}")
    return used / len(statuses) * 1e6


async def measure(requests: int, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """CPU µs per request, a list of one per round for each: WorkerApp, WorkerApp with a
    browser's headers, the plain app."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "hello.js"
        script.write_text(HELLO_JS)
        with open(os.devnull, "w") as devnull:
            worker = WorkerApp.from_config(single_app_config(script, "bench"), LogObserver(JsonLogger(devnull)))
            await worker.startup()
            ours, browser, plain = [], [], []
            for index in range(rounds):
                ours.append(await cpu_per_request(worker, requests))
                browser.append(await cpu_per_request(worker, requests, BROWSER_SCOPE))
                plain.append(await cpu_per_request(plain_app, requests))
                print(f"  round {index + 1}/{rounds}: WorkerApp {ours[-1]:.0f} µs, with a browser's headers "
                      f"{browser[-1]:.0f} µs, plain ASGI app {plain[-1]:.1f} µs", flush=True)
            await worker.shutdown()
            await asyncio.sleep(0)  # the log's held lines go out before the file closes
    return ours, browser, plain


async def serial_requests(which: str, count: int) -> None:
    """WARM_UP requests, then `count` more, one at a time: what --instructions counts."""
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as devnull:
        app: App = plain_app
        scope = BROWSER_SCOPE if which == "browser" else SCOPE
        if which in ("worker", "browser"):
            script = Path(folder) / "hello.js"
            script.write_text(HELLO_JS)
            # Valgrind runs V8 some 50 times slower: the wall-clock limits grow so, and still run.
            # The CPU limit stays at the most that lets slices run on the loop's thread
            # (inline_gate.MAX_INLINE_STALL_MS), as they do at the default 50 ms.
            limits = AppLimits(cpu_limit_ms=MAX_INLINE_STALL_MS, timeout_ms=60_000, total_timeout_ms=600_000)
            config = dataclasses.replace(single_app_config(script, "bench"), limits=limits)
            worker = WorkerApp.from_config(config, LogObserver(JsonLogger(devnull)))
            await worker.startup()
            # Valgrind's slowdown would make every slice look heavy to the inline gate (inline_gate.py),
            # sending slices to threads as no unhindered run does.
            (await worker.pool())._inline.max_slice_ms = float("inf")
            app = worker
        # A warm-up request may meet the CPU limit: with V8 on one thread, an optimising compile
        # runs inside a slice, which under valgrind's slowdown can pass 100 ms. Both runs warm up
        # alike, so their difference leaves it out; the counted requests must all succeed.
        warm_up: list[int] = []
        for _ in range(WARM_UP):
            await one_request(app, warm_up, scope)
        statuses: list[int] = []
        _instrument("on")
        for _ in range(count):
            await one_request(app, statuses, scope)
        _instrument("off")
        await asyncio.sleep(0)  # the log's held lines go out before the file closes
        if set(statuses) - {200} or set(warm_up) - {200, 503}:
            raise RuntimeError(f"unexpected answers: {sorted(set(warm_up))} warming up, "
                               f"{sorted(set(statuses))} counted")


def _instrument(state: str) -> None:
    """Turns callgrind's counting of this process on or off (it starts off: `--instr-atstart=no`),
    so that the count leaves out the start, whose cost varies from run to run by more than
    thousands of requests cost."""
    subprocess.run(["callgrind_control", "--instr", state, str(os.getpid())], check=True, capture_output=True)


def instructions_per_request(which: str) -> float | None:
    """Instructions of one request of `which` app, counted by callgrind; None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    counts = []
    flags = " ".join(filter(None, (os.environ.get("PYRUNTIME_V8_FLAGS"), "--single-threaded")))
    env = {**os.environ, "PYRUNTIME_V8_FLAGS": flags, "PYTHONHASHSEED": "0"}
    for count in (0, INSTRUCTION_REQUESTS):
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
                               sys.executable, __file__, "--serial", which, str(count)], capture_output=True, text=True,
                              env=env)
        collected = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or collected is None:
            raise RuntimeError(f"the counted run of {which} failed:\n{proc.stderr[-2000:]}")
        counts.append(int(collected.group(1)))
    return (counts[1] - counts[0]) / INSTRUCTION_REQUESTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000, help="requests per round (default 8000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions per request under callgrind (a few minutes)")
    parser.add_argument("--serial", nargs=2, metavar=("APP", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serial:  # one run counted by instructions_per_request
        asyncio.run(serial_requests(args.serial[0], int(args.serial[1])))
        return
    print(f"request path: {args.rounds} rounds of {args.requests} requests, {CLIENTS} concurrent clients", flush=True)
    ours, browser, plain = asyncio.run(measure(args.requests, args.rounds))
    ours_us, browser_us, plain_us = statistics.median(ours), statistics.median(browser), statistics.median(plain)
    table = ["| app | CPU per request (median) | vs plain ASGI app |", "|---|---:|---:|",
             f"| WorkerApp, hello handler | {ours_us:.0f} µs | {ours_us / plain_us:.1f}x |",
             f"| WorkerApp, hello handler, a browser's {len(BROWSER_SCOPE['headers'])} headers | {browser_us:.0f} µs | "
             f"{browser_us / plain_us:.1f}x |",
             f"| plain ASGI app (no JS) | {plain_us:.1f} µs | 1.0x |"]
    if args.instructions:
        print(f"counting instructions under callgrind ({INSTRUCTION_REQUESTS} requests per app)...", flush=True)
        worker_count, plain_count = instructions_per_request("worker"), instructions_per_request("plain")
        browser_count = instructions_per_request("browser")
        if worker_count is None or plain_count is None or browser_count is None:
            table.append("\nInstructions not counted: valgrind is not installed.")
        else:
            table += ["", "| app | instructions per request (callgrind) | vs plain ASGI app |", "|---|---:|---:|",
                      f"| WorkerApp, hello handler | {worker_count:,.0f} | {worker_count / plain_count:.1f}x |",
                      f"| WorkerApp, hello handler, a browser's 16 headers | {browser_count:,.0f} | "
                      f"{browser_count / plain_count:.1f}x |",
                      f"| plain ASGI app (no JS) | {plain_count:,.0f} | 1.0x |"]
    out = Path(__file__).parent / "results" / "request_path.md"
    out.write_text("# Request path in-process (no HTTP server)\n\n"
                   f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
                   f"- load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
                   f"- Python {sys.version.split()[0]}; {CLIENTS} concurrent clients; {args.rounds} rounds of "
                   f"{args.requests} requests\n\n" + "\n".join(table) + "\n")
    print("\n".join(table))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
