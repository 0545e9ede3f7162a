"""The command line: `serve` for one script, `run` flag wiring, the REPL, and WorkerApp as
a library inside a user's Starlette app."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port, write_app
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import pyruntime
from pyruntime import WorkerApp
from pyruntime.cli.repl import needs_more, wrap
from pyruntime.server.config import AppLimits
from pyruntime.server.metrics import process_metrics


def test_serve_one_script_named_after_its_folder(start_server, tmp_path: Path):
    script = write_app(tmp_path / "site")
    server = start_server(str(script))
    assert httpx.get(server.url + "/anything/hello", timeout=10).status_code == 200
    assert server.wait_for_event("app_loaded")[0]["app"] == "site"  # worker.js says nothing; its folder does
    assert "127.0.0.1" in server.url


def test_serve_with_a_name(start_server, tmp_path: Path):
    script = write_app(tmp_path / "site")
    server = start_server(str(script), "--name", "shop")
    response = httpx.get(server.url + "/hello", timeout=10)
    request_id = response.headers["x-request-id"]
    server.wait_for_event("request", request_id=request_id)
    assert server.events("request", request_id=request_id)[0]["app"] == "shop"


@pytest.mark.parametrize("args", [[], ["a.js", "--config", "b.toml"], ["missing.js"]])
def test_serve_usage_errors(tmp_path: Path, args: list[str]):
    result = subprocess.run([sys.executable, "-m", "pyruntime", "serve", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("pyruntime: error: ")


def _processes_naming(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _output(out: bytes, err: bytes) -> str:
    """A stopped server's log (its JSON lines say which worker ended how) and stderr, for a failure."""
    return f"log:\n{out.decode(errors='replace')[-8000:]}\nstderr:\n{err.decode(errors='replace')[-4000:]}"


@pytest.mark.parametrize(("args", "code"), [(["--port", "eighty"], 2), (["--server", "nginx"], 2), (["--help"], 0)])
def test_a_serve_command_line_argparse_ends_leaves_no_worker(tmp_path: Path, args: list[str], code: int):
    """serve starts its first worker before it parses its command line (cli/serve.py,
    start_first_worker): when argparse then ends the command, that worker ends with it."""
    script = write_app(tmp_path / "argparse-ends-here")
    result = subprocess.run([sys.executable, "-m", "pyruntime", "serve", str(script), *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    assert ("usage:" in result.stderr) if code else ("--workers" in result.stdout)
    assert _processes_naming(str(script)) == []


def test_serve_takes_a_relative_script_after_a_double_dash(tmp_path: Path):
    """Workers get the supervisor's command line with their own options before "--" (after it,
    everything is positional), and find relative paths from the supervisor's folder."""
    write_app(tmp_path / "site")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "pyruntime", "serve", "--port", str(port), "--workers", "2",
                               "--", "site/worker.js"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"not serving: {server.communicate(timeout=10)[1].decode(errors='replace')}")
        assert response.status_code == 200
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, _output(out, err)


def test_workers_do_not_import_from_the_folder_serve_runs_in(tmp_path: Path):
    """`python -m pyruntime` puts its folder first on sys.path; the supervisor's workers (the
    forked first one as the spawned ones with -P) import their server modules from the
    installation, not from a file of the same name in that folder."""
    write_app(tmp_path / "site")
    (tmp_path / "uvloop.py").write_text("raise ImportError('the folder serve runs in was imported from')\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "pyruntime", "serve", "site/worker.js", "--port", str(port),
                               "--server", "granian", "--workers", "2"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5).status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"not serving: {server.communicate(timeout=10)[1].decode(errors='replace')}")
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, _output(out, err)
    assert b"imported from" not in out


def test_run_applies_the_limit_flags(tmp_path: Path):
    script = tmp_path / "spin.js"
    script.write_text("for (;;) {}\n")

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pyruntime", "run", str(script), *flags], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    stopped = run("--cpu-limit-ms", "30", "--timeout-ms", "off")
    assert stopped.returncode == 1
    assert "CPU" in stopped.stderr and "--cpu-limit-ms off" in stopped.stderr  # says how to raise it
    for flag, value in (("--cpu-limit-ms", "inf"), ("--timeout-ms", "-5"), ("--memory-limit-mb", "off")):
        refused = run(flag, value)
        assert refused.returncode == 2 and flag.removeprefix("--").replace("-", "_") in refused.stderr


def test_run_help_shows_the_defaults():
    result = subprocess.run([sys.executable, "-m", "pyruntime", "run", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert "default: 50" in result.stdout and "default: 1000" in result.stdout and "default: 128" in result.stdout


def test_repl_input_scanning():
    assert needs_more("function f() {")
    assert needs_more("`template\nstill open")
    assert needs_more("/* comment")
    assert not needs_more("f({a: '{'})")
    assert not needs_more("1 + 1 // {")
    assert [is_expression for _, is_expression in wrap("function f() {}")] == [False]
    assert "globalThis.y =" in wrap("const y = await 1")[1][0]


def test_repl_session(tmp_path: Path):
    lines = [
        "1 + 1",
        "let x = 5",
        "x * 2",
        "function add(a, b) {",
        "  return a + b",
        "}",
        "add(2, 3)",
        "const y = await new Promise(r => setTimeout(() => r(42), 5))",
        "y + 1",
        "throw new TypeError('nope')",
        "x",  # the session goes on after an error
        "({ a: [1, 2], s: 'str' })",
        "new Map([[1, 2]])",
        "console.log('printed')",
        "nosuch",
        ".exit",
    ]
    result = subprocess.run([sys.executable, "-m", "pyruntime", "repl"], input="\n".join(lines) + "\n",
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("> 2\n", "> 10\n", "> 5\n", "> 43\n", "TypeError: nope", "{ a: [ 1, 2 ], s: 'str' }",
                     "Map(1) { 1 => 2 }", "printed", "ReferenceError: nosuch is not defined", "... "):
        assert expected in out, (expected, out)
    assert out.count("> 5\n") >= 2  # add(2, 3), then x after the error
    assert (tmp_path / ".pyruntime_history").exists()


def test_worker_app_mounted_in_a_starlette_app(tmp_path: Path):
    script = write_app(tmp_path / "app")

    async def home(_request):
        return PlainTextResponse("python home")

    worker = WorkerApp(script, name="mounted", env={"APP": "m", "GREETING": "hello"},
                       limits=AppLimits(timeout_ms=200, cpu_limit_ms=None, max_body_mb=0.001), pool_size=1)
    user_app = Starlette(routes=[Route("/", home), Mount("/js", app=worker)])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=user_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=20) as client:
            assert (await client.get("/")).text == "python home"
            response = await client.get("/js/hello", headers={"x-request-id": "req-1"})
            assert response.text == "app:m hello"
            assert response.headers["x-request-id"] == "req-1"
            assert (await client.get("/js/url")).text == "http://test/js/url"
            spin = await client.get("/js/spin")
            assert spin.status_code == 503 and "timeout" in spin.text
            assert (await client.get("/js/throw")).status_code == 500
            assert (await client.post("/js/echo", content=b"x" * 2000)).status_code == 413
            assert (await client.get("/js/hello")).status_code == 200
        await worker.shutdown()

    asyncio.run(scenario())
    # An embedding host never says it serves: its metrics are kept from the first request.
    text = process_metrics().render()[0].decode()
    assert 'pyruntime_requests_total{app="mounted",status="200"} 3.0' in text
    assert 'pyruntime_requests_total{app="mounted",status="503"} 1.0' in text


def test_worker_app_is_exported():
    assert pyruntime.WorkerApp is WorkerApp
    assert "WorkerApp" in pyruntime.__all__


def test_serve_on_a_taken_port_is_a_clear_error(tmp_path: Path):
    script = tmp_path / "w.js"
    script.write_text("export default { fetch() { return new Response('') } };")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "pyruntime", "serve", str(script), "--port", str(port)],
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("source", "message"), [
    ("const x = 1;\nthrow new Error('top-level failure');\nexport default {};", "top-level failure\n    at w.js:2:7"),
    ("while (true) {}\nexport default {};", "time limit"),
    ("addEventListener('fetch', () => {}); undefinedThing();", "ReferenceError: undefinedThing is not defined"),
])
def test_serve_refuses_an_app_whose_top_level_code_fails(tmp_path: Path, source: str, message: str):
    (tmp_path / "w.js").write_text(source)
    result = subprocess.run([sys.executable, "-m", "pyruntime", "serve", "w.js", "--port", "1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "app w failed to load" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_repl_quotes_strings_and_has_help(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "pyruntime", "repl"], input="'a string'\n.help\n.exit\n",
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert "> 'a string'\n" in result.stdout
    assert ".exit    leave" in result.stdout
