"""HTTP benchmark: pyruntime's server beside workerd and a plain Node.js `http` server.

Run with `make bench-http`. Every server listens on 127.0.0.1 on a free port and serves the
same two handlers: `/hello` (a fixed text) and `/json` (a little computation, answered as
JSON). pyruntime and workerd run the same module worker; the Node.js baseline runs the same
handler code on `http.createServer` directly, without Request/Response objects.

Load comes from `wrk` when it is installed, otherwise from a bounded asyncio client (keep-
alive connections, same duration and concurrency; it is slower than wrk, so its numbers are
lower for every server alike). req/s counts 2xx answers only: errors (non-2xx answers, such
as a 503 for a full queue, and socket errors) are reported beside them; the latency
percentiles are over all answers. Ratios compare each server with pyruntime `--workers 1`
measured in this same run. Then, per server, one client keeps a `while (true) {}` request
in flight while others ask for `/hello` for a few seconds: does the server keep answering?

A peer that cannot be installed or started is skipped with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYRUNTIME = ROOT / ".venv" / "bin" / "pyruntime"
WORKERD_DIR = ROOT / "build" / "bench" / "workerd"

# The handlers' shared code: the `/json` computation.
COMPUTE_JS = textwrap.dedent("""\
    function compute(n) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += (i * i) % 7;
      const items = [];
      for (let i = 0; i < 20; i++) items.push({ id: i, name: "item" + i, even: i % 2 === 0 });
      return { n, sum, items };
    }
""")

WORKER_JS = COMPUTE_JS + textwrap.dedent("""\
    export default {
      async fetch(request) {
        const path = new URL(request.url).pathname;
        if (path === "/json") return Response.json(compute(1000));
        if (path === "/spin") while (true) {}
        return new Response("hello");
      },
    };
""")

NODE_JS = COMPUTE_JS + textwrap.dedent("""\
    import http from "node:http";
    const port = Number(process.argv[2]);
    http.createServer((req, res) => {
      const path = new URL(req.url, "http://localhost").pathname;
      if (path === "/spin") while (true) {}
      const json = path === "/json";
      const body = json ? JSON.stringify(compute(1000)) : "hello";
      res.writeHead(200, {
        "content-type": json ? "application/json" : "text/plain;charset=UTF-8",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    }).listen(port, "127.0.0.1");
""")

WORKERD_CAPNP = """\
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "app.js", esModule = embed "app.js")],
  compatibilityDate = "2024-09-23",
);
"""

PATHS = ["/hello", "/json"]
# A pause after each run: requests of the clients a run leaves behind may still be queued
# in the server, and must not count against the next run.
DRAIN_SECONDS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    cwd: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, timeout: float = 60) -> bool:
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-500:] if self.proc.stderr else ""
                print(f"  {self.name}: exited with {self.proc.returncode} while starting: {err.strip()}")
                return False
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/hello", timeout=2) as r:
                    if r.status == 200:
                        return True
            except OSError:
                time.sleep(0.2)
        print(f"  {self.name}: not answering after {timeout:.0f} s; skipped")
        self.stop()
        return False

    def stop(self) -> None:
        """Ends the server's whole process group (it started it, in a session of its own)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --- load -------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, duration: float, connections: int, threads: int) -> Result:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:.0f}s", "--latency", url],
                         capture_output=True, text=True, timeout=duration + 30).stdout
    latency = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None or len(latency) != 2:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    non_2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = non_2xx + sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    # Requests/sec counts every answer; only 2xx answers count here (a 503 is not served).
    ok_rps = float(rps.group(1)) * (total - non_2xx) / total if total else 0.0
    return Result(ok_rps, to_ms(latency["50"]), to_ms(latency["99"]), errors)


class Connection:
    """One keep-alive HTTP/1.1 connection: enough of the protocol for these servers."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        length = re.search(r"\r\ncontent-length:\s*(\d+)", head)
        if length:
            await self.reader.readexactly(int(length.group(1)))
        elif "transfer-encoding: chunked" in head:
            while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        if "connection: close" in head:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(port: int, path: str, duration: float, connections: int,
               latencies: list[float] | None = None, timeout: float = 10) -> tuple[int, int]:
    """Keeps `connections` clients busy for `duration` s: (answered 2xx, failed)."""
    counts = [0, 0]
    deadline = time.monotonic() + duration

    async def client() -> None:
        conn = Connection(port)
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.get(path), min(timeout, max(0.01, deadline - time.monotonic())))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                conn.close()
                if time.monotonic() < deadline:
                    counts[1] += 1
                continue
            counts[0 if 200 <= status < 300 else 1] += 1
            if latencies is not None:
                latencies.append((time.perf_counter() - start) * 1000)
        conn.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return counts[0], counts[1]


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run_asyncio(port: int, path: str, duration: float, connections: int) -> Result:
    latencies: list[float] = []
    ok, failed = asyncio.run(load(port, path, duration, connections, latencies))
    return Result(ok / duration, percentile(latencies, 50), percentile(latencies, 99), failed)


# --- `while (true) {}` ------------------------------------------------------------------


@dataclass
class SpinReport:
    answered: int
    failed: int
    max_ms: float
    spin_answers: list[str]


async def spin_probe(port: int, seconds: float) -> SpinReport:
    """One client keeps a spinning request in flight; four others ask for /hello."""
    spin_answers: list[str] = []
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def spinner() -> None:
        conn = Connection(port)
        while (left := deadline - time.monotonic()) > 0:
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.get("/spin"), left)
                spin_answers.append(f"{status} after {(time.perf_counter() - start) * 1000:.0f} ms")
            except TimeoutError:
                spin_answers.append(f"no answer in {seconds:.0f} s")
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                spin_answers.append(f"connection error ({type(e).__name__})")
            conn.close()
        conn.close()

    async def probes() -> tuple[int, int]:
        await asyncio.sleep(0.1)  # the spinning request goes first
        return await load(port, "/hello", deadline - time.monotonic(), 4, latencies, timeout=seconds)

    _, (ok, failed) = await asyncio.gather(spinner(), probes())
    return SpinReport(ok, failed, max(latencies, default=float("nan")), spin_answers)


def fmt_ms(ms: float) -> str:
    return "-" if ms != ms else f"{ms:.0f}"


def summarize_spins(answers: list[str]) -> str:
    if not answers:
        return "-"
    first = answers[0]
    return first if len(answers) == 1 else f"{len(answers)} spins answered, first: {first}"


# --- peers ------------------------------------------------------------------------------


def install_workerd() -> Path | None:
    binary = WORKERD_DIR / "node_modules" / "@cloudflare" / "workerd-linux-64" / "bin" / "workerd"
    if not binary.exists():
        if shutil.which("npm") is None:
            print("workerd: skipped (npm is not installed)")
            return None
        print(f"workerd: npm install --prefix {WORKERD_DIR} workerd")
        proc = subprocess.run(["npm", "install", "--prefix", str(WORKERD_DIR), "--no-audit", "--no-fund", "workerd"],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not binary.exists():
            print(f"workerd: skipped (npm install failed: {proc.stderr.strip()[-300:]})")
            return None
    if subprocess.run([str(binary), "--version"], capture_output=True).returncode != 0:
        print("workerd: skipped (the binary does not run on this machine)")
        return None
    return binary


def servers(work: Path) -> list[Server]:
    (work / "app.js").write_text(WORKER_JS)
    (work / "node_server.mjs").write_text(NODE_JS)
    found = []
    if PYRUNTIME.exists():
        for workers in (1, 2):
            port = free_port()
            found.append(Server(f"pyruntime --workers {workers}",
                                [str(PYRUNTIME), "serve", "app.js", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)], port, work))
    else:
        print(f"pyruntime: skipped ({PYRUNTIME} is missing: run `make install`)")
    binary = install_workerd()
    if binary is not None:
        port = free_port()
        (work / "workerd.capnp").write_text(WORKERD_CAPNP.format(port=port))
        found.append(Server("workerd", [str(binary), "serve", "workerd.capnp"], port, work))
    if shutil.which("node"):
        port = free_port()
        found.append(Server("node http (baseline)", ["node", "node_server.mjs", str(port)], port, work))
    else:
        print("node: skipped (node is not installed)")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per load run (default 10)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: 2 cores are shared)")
    parser.add_argument("--spin-seconds", type=float, default=3, help="length of the while(true) probe")
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio client even if wrk exists")
    args = parser.parse_args()

    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    tool = f"wrk -t{args.threads}" if use_wrk else "asyncio client"
    if not use_wrk and not args.no_wrk:
        print("wrk is not installed: using the asyncio client (install the Debian package `wrk` for more load)")
    print(f"load: {tool}, {args.connections} connections, {args.duration:.0f} s per run, 127.0.0.1; "
          f"{os.cpu_count()} CPUs shared by servers and client")

    results: dict[tuple[str, str], Result] = {}
    spins: dict[str, SpinReport] = {}
    with tempfile.TemporaryDirectory(prefix="bench_http_") as tmp:
        for server in servers(Path(tmp)):
            print(f"\n{server.name}: starting on port {server.port}")
            if not server.start():
                continue
            try:
                for path in PATHS:
                    url = f"http://127.0.0.1:{server.port}{path}"
                    if use_wrk:
                        run_wrk(url, 1, args.connections, args.threads)  # warm-up: JIT, pools
                        time.sleep(DRAIN_SECONDS)
                        result = run_wrk(url, args.duration, args.connections, args.threads)
                    else:
                        run_asyncio(server.port, path, 1, args.connections)
                        time.sleep(DRAIN_SECONDS)
                        result = run_asyncio(server.port, path, args.duration, args.connections)
                    results[(server.name, path)] = result
                    time.sleep(DRAIN_SECONDS)
                    print(f"  {path:6} {result.rps:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                          f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}")
                spins[server.name] = report = asyncio.run(spin_probe(server.port, args.spin_seconds))
                print(f"  while(true): /hello answered {report.answered} ({report.failed} failed) "
                      f"in {args.spin_seconds:.0f} s, max latency {fmt_ms(report.max_ms)} ms; "
                      f"spinning request: {summarize_spins(report.spin_answers)}")
            finally:
                server.stop()

    reference = "pyruntime --workers 1"
    print(f"\n## Throughput and latency ({tool}, {args.connections} connections, {args.duration:.0f} s per run)\n")
    print("| server | path | 2xx req/s | p50 ms | p99 ms | errors | req/s vs pyruntime w1 | p99 vs pyruntime w1 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (name, path), r in results.items():
        ref = results.get((reference, path))
        rps_ratio = f"{r.rps / ref.rps:.2f}x" if ref and ref.rps else "-"
        p99_ratio = f"{r.p99_ms / ref.p99_ms:.2f}x" if ref and ref.p99_ms else "-"
        print(f"| {name} | {path} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} "
              f"| {rps_ratio} | {p99_ratio} |")
    print(f"\n## One request runs `while (true) {{}}`: /hello from 4 clients for {args.spin_seconds:.0f} s\n")
    print("| server | /hello answered | failed | max latency ms | spinning request |")
    print("|---|---:|---:|---:|---|")
    for name, s in spins.items():
        print(f"| {name} | {s.answered} | {s.failed} | {fmt_ms(s.max_ms)} | {summarize_spins(s.spin_answers)} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
