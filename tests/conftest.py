"""Fixtures for server tests: real `python -m pyruntime serve` processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fetch_upstream import Upstream

# Compiled code kept between processes (pyruntime/engine/compile_cache.py) goes to a folder of
# this run, not the user's cache: every process of the suite shares it, and nothing outlives it.
if "PYRUNTIME_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["PYRUNTIME_CACHE_DIR"] = tempfile.mkdtemp(prefix="pyruntime-test-cache-")
    atexit.register(shutil.rmtree, os.environ["PYRUNTIME_CACHE_DIR"], True)

# The repository, and the shared folder beside it (web-platform-tests vectors).
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# Routes on the last path segment, so one script serves every app of the test config.
WORKER_JS = textwrap.dedent("""\
    import { label } from "./lib/label.js";

    export default {
      async fetch(request, env, ctx) {
        const url = new URL(request.url);
        const op = url.pathname.split("/").pop();
        switch (op) {
          case "hello":
            return new Response(label(env.APP) + " " + env.GREETING);
          case "secret":
            return new Response(env.TEST_SECRET);
          case "spin":
            while (true) {}
          case "mem": {
            const hoard = [];
            while (true) hoard.push(new Array(100000).fill(1.5));
          }
          case "throw":
            throw new Error("boom with private detail");
          case "bad":
            return "not a response";
          case "sleep": {
            const ms = Number(url.searchParams.get("ms") ?? "200");
            await new Promise(resolve => setTimeout(resolve, ms));
            return new Response("slept " + ms);
          }
          case "echo": {
            const body = await request.arrayBuffer();
            return new Response(String(body.byteLength));
          }
          case "log":
            console.log("a log line");
            console.warn("a warning");
            console.error("an error");
            return new Response("logged");
          case "url":
            return new Response(request.url);
          default:
            return new Response("not here", { status: 404 });
        }
      },
    };
    """)
LABEL_JS = 'export function label(app) { return "app:" + app; }\n'


# Every HTTP server `serve --server` offers: server tests run on each.
HTTP_SERVERS = ("hypercorn", "granian", "h1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_app(folder: Path) -> Path:
    (folder / "lib").mkdir(parents=True, exist_ok=True)
    (folder / "lib" / "label.js").write_text(LABEL_JS)
    script = folder / "worker.js"
    script.write_text(WORKER_JS)
    return script


class Server:
    """A server process; stdout (the JSON log) goes to a file that tests parse."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"server-{self.port}.log"
        self.err_path = cwd / f"server-{self.port}.err"
        with open(self.log_path, "wb") as out, open(self.err_path, "wb") as err:
            # cwd is a temp folder so that `-m pyruntime` imports the installed package.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pyruntime", "serve", *args, "--port", str(self.port)],
                cwd=cwd, stdout=out, stderr=err, env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.stderr()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout} s: {self.stderr()}")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def log_lines(self) -> list[dict]:
        """Every stdout line, each parsed as JSON (a line that is not JSON fails the test)."""
        text = self.log_path.read_text()
        if self.process.poll() is None:  # a line still being written counts once its newline is in
            text = text[:text.rfind("\n") + 1]
        return [json.loads(line) for line in text.splitlines() if line]

    def events(self, event: str, **fields: object) -> list[dict]:
        return [line for line in self.log_lines()
                if line["event"] == event and all(line.get(k) == v for k, v in fields.items())]

    def wait_for_event(self, event: str, timeout: float = 15, count: int = 1, **fields: object) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(event, **fields)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no {count} {event} {fields} log lines in {timeout} s")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def worker_rss_kb(server: Server) -> int:
    """VmRSS of the server's worker process (the supervisor's only child)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A real HTTP/1.1 upstream on loopback (fetch_upstream.py) for outbound fetch tests."""
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Starts servers in tmp_path, waits until /healthz answers, stops them after the test."""
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> Server:
        server = Server(list(args), tmp_path, env)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


MEMORY_PROBE = textwrap.dedent("""
    import json, re, sys
    import pyruntime
    data = sys.stdin.buffer.read()
    iso = pyruntime.Isolate(memory_limit_mb=64, timeout_ms=None, cpu_limit_ms=None, total_timeout_ms=None)
    try:
        if data:
            iso.eval("globalThis.probe = " + sys.argv[1] + "; undefined")
            iso.call("probe", data)
        else:
            iso.eval(sys.argv[1])
        outcome = "completed"
    except pyruntime.MemoryLimitExceeded:
        outcome = "MemoryLimitExceeded"
    except pyruntime.JSError as e:
        outcome = "JSError:" + e.name
    except TypeError:  # it completed with a value Python cannot hold
        outcome = "completed"
    after = pyruntime.Isolate(memory_limit_mb=64).eval("'alive'")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest).
    with open("/proc/self/status") as status:
        peak_mb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) // 1024
    print(json.dumps({"outcome": outcome, "after": after, "peak_mb": peak_mb, "alive": iso.alive}))
""")


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Polls `condition` on the running loop until it holds. `timeout_s` bounds a stuck
    component; it measures no speed, so a busy machine cannot fail a test here."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"not {what} within {timeout_s:.0f} s"
        await asyncio.sleep(0.01)


def memory_probe(source: str, data: bytes = b"") -> dict:
    """Runs JS under a 64 MB limit in a child process, so that an abort fails only the child.

    `source` is a script, or with `data` a function called with those bytes. Reports the
    outcome, whether a new isolate works afterwards ("after"), and the child's peak RSS.
    """
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, source], input=data, capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


# Folders whose tests start real server processes or child processes per test: each takes
# seconds. `pytest -m "not slow"` runs the engine and web layers alone in well under a minute.
SLOW_FOLDERS = {"server", "cli", "hostile", "compat"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in SLOW_FOLDERS or "start_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
