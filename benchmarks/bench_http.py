"""HTTP benchmark: pyruntime's servers beside Node.js, Deno, Bun and workerd, loaded by wrk.

Run with `make bench-http`. Every server listens on 127.0.0.1 and serves the same two
handlers, written once in JavaScript:
- `/hello` returns a fixed text;
- `/work` parses the URL, builds and `JSON.stringify`s a 50-field object, awaits
  `crypto.subtle.digest("SHA-256", ...)` of the path and returns JSON.
pyruntime and workerd run them as a module worker, Deno under `Deno.serve`, Bun under
`Bun.serve`, Node.js under `http.createServer`, and on Hypercorn and on Granian the same answers
from Python with no JS, as a bare ASGI app and as a Starlette app, for what those servers cost by
themselves (issue 8 states its Hypercorn goal against Hypercorn+Starlette). Deno, Bun and workerd come from the npm
registry into build/bench/peers; a peer that cannot be installed or does not run is skipped
with a note. pyruntime runs on each server it offers (`serve --server`), with `--workers` 1
and 2.

Per server: cold start (spawn to the first 200; the median of COLD_STARTS starts, as one start
varies by a third here). Then, with every server running, `--rounds` rounds over them all
(every other round in reverse order, so that a host slowed for a while by other tenants
weighs on every server alike), per handler a warm-up, a `wrk` run of fixed length, and the
server's CPU time over that run, read from /proc and summed over its whole process tree
(its session), per 1,000 requests: on a machine shared with other work that is steadier
than req/s. Each row is the round with the median CPU per request. Then per server: the
same-load latency runs, RSS summed over the tree, and one client keeping a `while (true) {}`
request in flight while four others ask for `/hello`: does the server keep answering? req/s
counts 2xx answers only; errors (non-2xx, socket errors) are reported beside them.

Results: benchmarks/results/http.md and http.png (with the machine, versions and date).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from report import bar_charts, load_average, machine_header, table, write_markdown

ROOT = Path(__file__).resolve().parent.parent
PYRUNTIME = ROOT / ".venv" / "bin" / "pyruntime"
PEERS_DIR = ROOT / "build" / "bench" / "peers"
NPM_PEERS = ("deno", "bun", "workerd")

# The two handlers, shared by every runtime: `handle(url)` answers a path with a body and a
# content type. /spin never returns, for the while(true) probe.
HANDLERS_JS = textwrap.dedent("""\
    const encoder = new TextEncoder();
    async function handle(href) {
      const url = new URL(href);
      if (url.pathname === "/spin") while (true) {}
      if (url.pathname !== "/work") return ["hello", "text/plain;charset=UTF-8"];
      const fields = {};
      for (let i = 0; i < 50; i++) fields["field" + i] = i % 2 ? "value " + i : i * 1.5;
      const digest = await crypto.subtle.digest("SHA-256", encoder.encode(url.pathname));
      let hex = "";
      for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, "0");
      const body = JSON.stringify({ path: url.pathname, query: url.search, sha256: hex, fields });
      return [body, "application/json"];
    }
    async function respond(request) {
      const [body, type] = await handle(request.url);
      return new Response(body, { headers: { "content-type": type } });
    }
""")

WORKER_JS = HANDLERS_JS + "export default { fetch: respond };\n"

DENO_JS = HANDLERS_JS + textwrap.dedent("""\
    Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} }, respond);
""")

BUN_JS = HANDLERS_JS + textwrap.dedent("""\
    Bun.serve({ hostname: "127.0.0.1", port: Number(process.argv[2]), fetch: respond });
""")

NODE_JS = HANDLERS_JS + textwrap.dedent("""\
    import http from "node:http";
    http.createServer(async (req, res) => {
      const [body, type] = await handle("http://" + req.headers.host + req.url);
      res.writeHead(200, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    }).listen(Number(process.argv[2]), "127.0.0.1");
""")

# The HTTP servers' own cost: the same two answers from a plain Python ASGI app, no JS. Served
# by Hypercorn and Granian as pyruntime is, it tells how much pyruntime adds to each server.
BASELINE_ASGI = textwrap.dedent("""\
    import hashlib
    import json


    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if path == "/work":
            fields = {f"field{i}": f"value {i}" if i % 2 else i * 1.5 for i in range(50)}
            query = scope["query_string"].decode()
            body = json.dumps({"path": path, "query": "?" + query if query else "",
                               "sha256": hashlib.sha256(path.encode()).hexdigest(), "fields": fields},
                              separators=(",", ":")).encode()
            kind = b"application/json"
        else:
            body, kind = b"hello", b"text/plain;charset=UTF-8"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
""")

# The same two answers from Starlette, the framework a plain Python web app would use.
BASELINE_STARLETTE = textwrap.dedent("""\
    import hashlib
    import json

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route


    async def hello(request):
        return Response("hello", media_type="text/plain;charset=UTF-8")


    async def work(request):
        path = request.url.path
        fields = {f"field{i}": f"value {i}" if i % 2 else i * 1.5 for i in range(50)}
        query = request.url.query
        body = json.dumps({"path": path, "query": "?" + query if query else "",
                           "sha256": hashlib.sha256(path.encode()).hexdigest(), "fields": fields},
                          separators=(",", ":"))
        return Response(body, media_type="application/json")


    app = Starlette(routes=[Route("/work", work), Route("/{rest:path}", hello)])
""")

# The plain Python apps beside pyruntime on each server: (file, description).
BASELINES = (("baseline", "plain ASGI app"), ("baseline_starlette", "plain Starlette app"))

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

PATHS = ("/hello", "/work")
# A pause after each run: requests that a run's clients leave behind may still be queued in
# the server, and must not count against the next run.
DRAIN_SECONDS = 1
# The same load for every server, for the latency the issue compares at equal load (at its
# own maximum each server is measured at a different load): every connection waits
# SAME_LOAD_CONNECTIONS / SAME_LOAD_RPS s between its requests (wrk's `delay` hook), a rate
# the slowest server keeps up with.
SAME_LOAD_RPS = 1000
SAME_LOAD_CONNECTIONS = 8
FIXED_RATE_LUA = "function init(args) interval = tonumber(args[1]) end\nfunction delay() return interval end\n"
# Starts per server for its cold start (the median is reported).
COLD_STARTS = 5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(pythonpath: str | None) -> dict[str, str]:
    """This process's environment, importing pyruntime from `pythonpath` (None: the installed
    one): how a benchmark starts another build beside this one."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    else:
        env.pop("PYTHONPATH", None)
    return env


def h1_and_node(script: str, node_script: str, baseline: str | None) -> list[tuple[str, list[str], str | None]]:
    """pyruntime on h1 serving `script` (this build, and `baseline`'s if given) and Node serving
    `node_script`, each as (label, command that takes the port last, PYTHONPATH): the servers
    a benchmark starts in turn."""
    pyruntime = [sys.executable, "-m", "pyruntime", "serve", script, "--server", "h1", "--port"]
    servers: list[tuple[str, list[str], str | None]] = [("pyruntime h1, this build", pyruntime, None)]
    if baseline:
        servers.append((f"pyruntime h1, {baseline}", pyruntime, baseline))
    if shutil.which("node"):
        servers.append(("node http", ["node", node_script], None))
    return servers


def start_on_free_port(folder: Path, command: list[str], env: dict[str, str],
                       probe: str) -> tuple[subprocess.Popen[bytes], str]:
    """`command` with a free port appended, in a session of its own (end it with
    `end_session`), once `probe` (a path) answers; the process and its base URL."""
    port = free_port()
    process = subprocess.Popen([*command, str(port)], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_answering(url + probe, process)
    return process, url


def wait_answering(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Waits until `url` answers (any status), or raises if `proc` exits or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode} while starting")
        host, _, rest = url.removeprefix("http://").partition("/")
        name, _, port = host.partition(":")
        conn = http.client.HTTPConnection(name, int(port), timeout=1)
        try:
            conn.request("GET", "/" + rest)
            conn.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: no answer within {timeout_s:g} s") from None
        finally:
            conn.close()
        time.sleep(0.1)


def end_session(proc: subprocess.Popen, grace_s: float) -> None:
    """Ends a server started in a session of its own: SIGTERM to its process group, then
    SIGKILL if it has not exited after `grace_s`."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- the server's process tree ----------------------------------------------------------


def session_stats(sid: int) -> list[list[str]]:
    """/proc/<pid>/stat fields (from the state on) of every process in session `sid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[3]) == sid:
            found.append([entry, *fields])
    return found


def tree_cpu_seconds(sid: int) -> float:
    """User + system CPU of the session's processes, with their reaped children's."""
    # After the pid: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    return sum(sum(int(f) for f in fields[12:16]) for fields in session_stats(sid)) / CLOCK_TICKS


def tree_rss_mb(sid: int) -> float:
    total_kb = 0
    for fields in session_stats(sid):
        try:
            status = Path(f"/proc/{fields[0]}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total_kb += int(match.group(1)) if match else 0
    return total_kb / 1024


@dataclass
class Server:
    name: str
    kind: str  # pyruntime, or the peer's name
    command: list[str]
    port: int
    cwd: Path
    env: dict[str, str] | None = None  # None: this process's environment
    proc: subprocess.Popen | None = field(default=None, repr=False)
    cold_start_ms: float = float("nan")

    def start(self, timeout: float = 60, starts: int = COLD_STARTS) -> bool:
        """Starts the server `starts` times, each time until its first 200 on /hello, and
        keeps the last one running; `cold_start_ms` is the median of the starts."""
        times = []
        for attempt in range(starts):
            if attempt:
                self.stop()
            started = time.perf_counter()
            if not self._start_once(timeout):
                return False
            times.append((time.perf_counter() - started) * 1000)
        self.cold_start_ms = statistics.median(times)
        return True

    def _start_once(self, timeout: float) -> bool:
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-500:] if self.proc.stderr else ""
                print(f"  {self.name}: exited with {self.proc.returncode} while starting: {err.strip()}")
                return False
            if self._answers():
                return True
            time.sleep(0.005)
        print(f"  {self.name}: not answering after {timeout:.0f} s; skipped")
        self.stop()
        return False

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/hello")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        """Ends the server's whole process group (it started it, in a session of its own)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        end_session(self.proc, 5)


# --- load -------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_1k: float
    cpu_s: float = 0.0  # the server's CPU over the run
    read_mb: float = 0.0  # response bytes wrk read, in MiB


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(server: Server, path: str, duration: float, connections: int, threads: int,
            fixed_rate: tuple[Path, float] | None = None) -> Result:
    """One wrk run; `fixed_rate`: (FIXED_RATE_LUA's file, ms) makes each connection wait that
    long between its requests (a fixed load, see SAME_LOAD_RPS) instead of asking again at once."""
    url = f"http://127.0.0.1:{server.port}{path}"
    fixed = [] if fixed_rate is None else ["-s", str(fixed_rate[0]), url, "--", f"{fixed_rate[1]:g}"]
    cpu_before = tree_cpu_seconds(server.proc.pid)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:.0f}s", "--latency",
                          *(fixed or [url])], capture_output=True, text=True, timeout=duration + 30).stdout
    cpu = tree_cpu_seconds(server.proc.pid) - cpu_before
    latency = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None or len(latency) != 2:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    non_2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = non_2xx + sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    # Requests/sec counts every answer; only 2xx answers count here (a 503 is not served).
    ok_rps = float(rps.group(1)) * (total - non_2xx) / total if total else 0.0
    cpu_per_1k = cpu * 1e6 / total if total else float("nan")
    read = re.search(r"requests in [\d.]+\w+, ([\d.]+)(\w+) read", out)
    read_mb = float(read.group(1)) * {"B": 2**-20, "KB": 2**-10, "MB": 1, "GB": 2**10}[read.group(2)] if read else 0.0
    return Result(ok_rps, to_ms(latency["50"]), to_ms(latency["99"]), errors, cpu_per_1k, cpu, read_mb)


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


# --- servers ----------------------------------------------------------------------------


def version_of(command: list[str]) -> str | None:
    """The first line a binary prints for its version, or None when it does not run."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr).strip() else "?"


def install_peers() -> dict[str, Path]:
    """Deno, Bun and workerd from the npm registry, into build/bench/peers: {name: binary}."""
    missing = [name for name in NPM_PEERS if not (PEERS_DIR / "node_modules" / ".bin" / name).exists()]
    if missing and shutil.which("npm") is None:
        print(f"{', '.join(missing)}: skipped (npm is not installed)")
    elif missing:
        print(f"npm install --prefix {PEERS_DIR} {' '.join(missing)}", flush=True)
        PEERS_DIR.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["npm", "install", "--prefix", str(PEERS_DIR), "--no-audit", "--no-fund", *missing],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            print(f"npm install failed: {proc.stderr.strip()[-300:]}")
    return {name: PEERS_DIR / "node_modules" / ".bin" / name for name in NPM_PEERS}


def baseline_name(server: str, workers: int, description: str) -> str:
    """The row of a plain Python app (BASELINES) on `server` with `workers` processes."""
    return f"{server} --workers {workers}, {description} (no JS)"


def pyruntime_servers() -> list[str]:
    """The servers `pyruntime serve --server` offers (only the default before that option existed)."""
    help_text = subprocess.run([str(PYRUNTIME), "serve", "--help"], capture_output=True, text=True).stdout
    match = re.search(r"--server \{([\w,]+)\}", help_text)
    return match.group(1).split(",") if match else ["hypercorn"]


def servers(work: Path, versions: dict[str, str], notes: list[str]) -> list[Server]:
    for name, text in {"app.js": WORKER_JS, "node_server.mjs": NODE_JS, "deno_server.js": DENO_JS,
                       "bun_server.js": BUN_JS, "baseline.py": BASELINE_ASGI,
                       "baseline_starlette.py": BASELINE_STARLETTE}.items():
        (work / name).write_text(text)
    found = []
    bin_dir = PYRUNTIME.parent
    for server_name in ("hypercorn", "granian"):
        if not (bin_dir / server_name).exists():
            continue
        for workers in (1, 2):  # as many processes as the pyruntime rows they are compared with
            for module, description in BASELINES:
                port = free_port()
                command = [str(bin_dir / "hypercorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                           f"{module}:app"] if server_name == "hypercorn" else \
                    [str(bin_dir / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                     "--loop", "uvloop", "--workers", str(workers), f"{module}:app"]
                found.append(Server(baseline_name(server_name, workers, description), "baseline", command, port,
                                    work))
    if PYRUNTIME.exists():
        for server_name in pyruntime_servers():
            for workers in (1, 2):
                port = free_port()
                found.append(Server(f"pyruntime {server_name} --workers {workers}", "pyruntime",
                                    [str(PYRUNTIME), "serve", "app.js", "--port", str(port), "--workers", str(workers)]
                                    + (["--server", server_name] if server_name != "hypercorn" else []), port, work))
        versions["pyruntime"] = subprocess.run(
            [str(PYRUNTIME.parent / "python"), "-c",
             "import sys, importlib.metadata as m; print('Python', sys.version.split()[0], "
             "*(f'| {p} {m.version(p)}' for p in ('hypercorn', 'granian', 'uvloop')))"],
            capture_output=True, text=True).stdout.strip()
    else:
        notes.append(f"pyruntime skipped: {PYRUNTIME} is missing (run `make install`)")
    if (node := version_of(["node", "--version"])) is not None:
        versions["node"] = node
        port = free_port()
        found.append(Server("node http", "node", ["node", "node_server.mjs", str(port)], port, work))
    else:
        notes.append("node skipped: not installed")
    binaries = install_peers()
    for name, binary in binaries.items():
        version = version_of([str(binary), "--version"]) if binary.exists() else None
        if version is None:
            why = "its npm binary does not run here" if binary.exists() else "not installed"
            notes.append(f"{name} skipped: {why}")
            continue
        versions[name] = version
        port = free_port()
        if name == "deno":
            command = [str(binary), "run", "--allow-net", "deno_server.js", str(port)]
        elif name == "bun":
            command = [str(binary), "bun_server.js", str(port)]
        else:
            (work / "workerd.capnp").write_text(WORKERD_CAPNP.format(port=port))
            command = [str(binary), "serve", "workerd.capnp"]
        found.append(Server({"deno": "deno Deno.serve", "bun": "bun Bun.serve"}.get(name, name), name,
                            command, port, work))
    return found


# --- results ----------------------------------------------------------------------------


def ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.2f}x" if reference and value == value else "-"


def measured(started: list[Server], results: dict[tuple[str, str], Result]) -> Iterator[tuple[Server, Result, Result]]:
    """Each server measured on both paths, with its /hello and /work results."""
    for s in started:
        hello, work = results.get((s.name, "/hello")), results.get((s.name, "/work"))
        if hello is not None and work is not None:
            yield s, hello, work


def latencies(result: Result) -> str:
    return f"{result.p50_ms:.2f} / {result.p99_ms:.2f}"


def latency_at_same_load(started: list[Server], same_load: dict[tuple[str, str], Result],
                         duration: float) -> list[str]:
    """The table of latencies at SAME_LOAD_RPS, each p99 beside Node's."""
    node = {path: same_load.get(("node http", path)) for path in PATHS}
    rows = [[s.name, f"{hello.rps:,.0f} / {work.rps:,.0f}", latencies(hello), latencies(work),
             f"{ratio(hello.p99_ms, node['/hello'] and node['/hello'].p99_ms)} / "
             f"{ratio(work.p99_ms, node['/work'] and node['/work'].p99_ms)}",
             f"{hello.errors} / {work.errors}"] for s, hello, work in measured(started, same_load)]
    return [f"## Latency at the same load: about {SAME_LOAD_RPS:,} req/s for every server", "",
            f"`wrk -t1 -c{SAME_LOAD_CONNECTIONS}`, each connection waiting "
            f"{SAME_LOAD_CONNECTIONS / SAME_LOAD_RPS * 1000:g} ms between its requests (wrk's `delay` hook), "
            f"{duration:.0f} s per handler. Latency counts from sending a request to its answer.", "",
            *table(["server", "req/s, hello / work", "hello p50 / p99 ms", "work p50 / p99 ms", "p99 vs node",
                    "errors"], rows)]


def write_results(args: argparse.Namespace, versions: dict[str, str], notes: list[str], started: list[Server],
                  results: dict[tuple[str, str], Result], same_load: dict[tuple[str, str], Result],
                  rss: dict[str, float],
                  spins: dict[str, SpinReport], load_at_start: str) -> None:
    load = (f"load: `wrk -t{args.threads} -c{args.connections}`, {args.duration:.0f} s per run after a 1 s warm-up, "
            f"on 127.0.0.1; the {os.cpu_count()} CPUs are shared by server and client; {args.rounds} rounds over "
            "all servers, every other one in reverse order, each row the round with the median CPU per request")
    lines = machine_header("HTTP benchmark", versions, [load, *notes], load_at_start)
    names = [s.name for s in started]
    node_hello, node_work = results.get(("node http", "/hello")), results.get(("node http", "/work"))

    def plain(name: str, description: str) -> str:
        """pyruntime's CPU per hello request over a plain Python app's on the same server, with
        as many worker processes."""
        match = re.fullmatch(r"pyruntime (hypercorn|granian) --workers (\d+)", name)
        base = results.get((baseline_name(match.group(1), int(match.group(2)), description), "/hello")) \
            if match else None
        ours = results.get((name, "/hello"))
        return ratio(ours.cpu_ms_per_1k, base.cpu_ms_per_1k) if base and ours else "-"

    rows = [[s.name, f"{hello.rps:,.0f}", f"{work.rps:,.0f}", latencies(hello), latencies(work),
             f"{hello.cpu_ms_per_1k:.0f} / {work.cpu_ms_per_1k:.0f}",
             f"{ratio(hello.cpu_ms_per_1k, node_hello and node_hello.cpu_ms_per_1k)} / "
             f"{ratio(work.cpu_ms_per_1k, node_work and node_work.cpu_ms_per_1k)}",
             *(plain(s.name, description) for _, description in BASELINES),
             f"{rss.get(s.name, float('nan')):.0f}", fmt_ms(s.cold_start_ms),
             f"{hello.errors} / {work.errors}"] for s, hello, work in measured(started, results)]
    lines += table(["server", "hello req/s", "work req/s", "hello p50 / p99 ms", "work p50 / p99 ms",
                    "CPU ms per 1k req, hello / work", "CPU vs node", "hello CPU vs plain ASGI",
                    "hello CPU vs plain Starlette", "RSS MB",
                    "cold start ms", "errors"], rows)
    lines += ["Server CPU is summed over the server's process tree (from /proc); RSS is summed over its "
              f"processes after the runs; cold start is spawn to the first 200, the median of {COLD_STARTS} "
              "starts. The plain ASGI and Starlette apps are the same two answers in Python on that server with no "
              "JS: what the HTTP server itself costs, bare and with the framework a Python app would use. Each "
              "pyruntime row is compared with the plain apps run with as many worker processes.", ""]
    if same_load:
        lines += latency_at_same_load(started, same_load, args.duration)
    if spins:
        lines += [f"## One request runs `while (true) {{}}`: /hello from 4 clients for {args.spin_seconds:.0f} s", ""]
        lines += table(["server", "/hello answered", "failed", "max latency ms", "spinning request"],
                       [[n, str(s.answered), str(s.failed), fmt_ms(s.max_ms), summarize_spins(s.spin_answers)]
                        for n, s in spins.items()])
    print(f"\nwrote {write_markdown(args.out, lines)}")
    both = [s.name for s, _, _ in measured(started, results)]
    chart = bar_charts(args.out, f"HTTP benchmark, {os.cpu_count()} CPUs, wrk -c{args.connections}", [
        ("req/s (2xx)", both, {p.strip("/"): [results[(n, p)].rps for n in both] for p in PATHS}, False),
        ("server CPU ms per 1,000 requests (log)", both,
         {p.strip("/"): [results[(n, p)].cpu_ms_per_1k for n in both] for p in PATHS}, True),
        ("cold start ms, spawn to first 200 (log)", names,
         {"cold start": [s.cold_start_ms for s in started]}, True),
    ])
    if chart:
        print(f"wrote {chart}")
    print("\n" + "\n".join(lines))


def full_load_rounds(started: list[Server], args: argparse.Namespace,
                     notes: list[str]) -> dict[tuple[str, str], Result]:
    """Each server under full load on each path, `args.rounds` times, the servers taken in turn
    and in the reverse order every other round, so that a host that slows down for a while
    (other tenants) weighs on every server alike. Per server and path: the round with the
    median CPU per request, the lower one for an even count (its req/s and latencies are that
    run's)."""
    runs: dict[tuple[str, str], list[Result]] = {}
    failed: set[str] = set()
    for index in range(args.rounds):
        print(f"\nround {index + 1}/{args.rounds}", flush=True)
        for server in started if index % 2 == 0 else started[::-1]:
            if server.name in failed:
                continue
            try:
                for path in PATHS:
                    run_wrk(server, path, 1, args.connections, args.threads)  # warm-up: JIT, pools
                    time.sleep(DRAIN_SECONDS)
                    result = run_wrk(server, path, args.duration, args.connections, args.threads)
                    runs.setdefault((server.name, path), []).append(result)
                    time.sleep(DRAIN_SECONDS)
                    print(f"  {server.name:42} {path:6} {result.rps:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                          f"p99 {result.p99_ms:7.2f} ms  CPU {result.cpu_ms_per_1k:6.0f} ms/1k  "
                          f"errors {result.errors}", flush=True)
            except RuntimeError as exc:
                failed.add(server.name)
                notes.append(f"{server.name}: {exc}")
                print(f"  {server.name}: {exc}")
    return {key: sorted(results, key=lambda r: r.cpu_ms_per_1k)[(len(results) - 1) // 2]
            for key, results in runs.items() if key[0] not in failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per load run (default 5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="full-load runs per server and path, in alternating order (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--spin-seconds", type=float, default=3, help="length of the while(true) probe; 0: none")
    parser.add_argument("--only", help="run only the servers whose name contains one of these comma-separated texts")
    parser.add_argument("--out", default="http", help="results file name in benchmarks/results (default http)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    if shutil.which("wrk") is None:
        sys.exit("bench-http needs wrk (the Debian package `wrk`; `make bench-http` installs it)")

    # `wrk -v` prints its version and exits with 1.
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.strip().splitlines()
    versions: dict[str, str] = {"wrk": wrk_version[0] if wrk_version else "?"}
    notes: list[str] = []
    same_load: dict[tuple[str, str], Result] = {}
    rss: dict[str, float] = {}
    spins: dict[str, SpinReport] = {}
    started: list[Server] = []
    load_at_start = load_average()
    print(f"load average {load_at_start}; wrk -t{args.threads} -c{args.connections}, "
          f"{args.duration:.0f} s per run, {args.rounds} rounds", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_http_") as tmp:
        rate_script = Path(tmp) / "fixed_rate.lua"
        rate_script.write_text(FIXED_RATE_LUA)
        wanted = args.only.split(",") if args.only else None
        candidates = [s for s in servers(Path(tmp), versions, notes) if not wanted or any(w in s.name for w in wanted)]
        try:
            for i, server in enumerate(candidates, 1):
                print(f"\n[{i}/{len(candidates)}] {server.name}: starting on port {server.port}", flush=True)
                if not server.start():
                    notes.append(f"{server.name} skipped: it did not start")
                    continue
                started.append(server)
                print(f"  cold start {server.cold_start_ms:.0f} ms (median of {COLD_STARTS})", flush=True)
            results = full_load_rounds(started, args, notes)
            loaded = {name for name, _ in results}
            for server in started:
                if server.name not in loaded:
                    continue
                print(f"\n{server.name}", flush=True)
                try:
                    for path in PATHS:
                        result = same_load[(server.name, path)] = run_wrk(
                            server, path, args.duration, SAME_LOAD_CONNECTIONS, 1,
                            (rate_script, SAME_LOAD_CONNECTIONS / SAME_LOAD_RPS * 1000))
                        time.sleep(DRAIN_SECONDS)
                        print(f"  {path:6} at {SAME_LOAD_RPS} req/s: {result.rps:6.0f} req/s  "
                              f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                              flush=True)
                    rss[server.name] = tree_rss_mb(server.proc.pid)
                    if args.spin_seconds > 0 and server.kind != "baseline":  # no JS there to spin
                        spins[server.name] = report = asyncio.run(spin_probe(server.port, args.spin_seconds))
                        print(f"  while(true): /hello answered {report.answered} ({report.failed} failed), "
                              f"max latency {fmt_ms(report.max_ms)} ms; spinning request: "
                              f"{summarize_spins(report.spin_answers)}", flush=True)
                except RuntimeError as exc:
                    notes.append(f"{server.name}: {exc}")
                    print(f"  {exc}")
        finally:
            for server in started:
                server.stop()
    write_results(args, versions, notes, started, results, same_load, rss, spins, load_at_start)


if __name__ == "__main__":
    main()
