"""Start-up under the supervisor: each worker loads the apps once and reports; the port is bound
only after apps loaded, and a worker that cannot load them (an error, or a crash) stops the
server with the reason instead of a restart loop."""

import contextlib
import http.server
import io
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from fetch_upstream import LoopbackHTTPServer

from pyruntime.server.asgi import LOAD_THREADS_PER_CPU
from pyruntime.server.logs import JsonLogger
from pyruntime.server.metrics import process_metrics
from pyruntime.server.observer import MAX_EARLY_UPDATES, LogObserver


@contextlib.contextmanager
def ok_upstream(on_request: Callable[[], object]) -> Iterator[int]:
    """A local HTTP server that answers `ok` to each GET once `on_request()` returns; yields its port."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            on_request()
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    upstream = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        yield upstream.server_port
    finally:
        upstream.shutdown()
        upstream.server_close()


def shared_apps_config(tmp_path: Path, sources: list[str], *app_lines: str) -> Path:
    """A config of one app per source (`appN` at /appN/*, one isolate each), all in the worker
    process; `app_lines` are added to every app's table."""
    lines = ["[server]", 'isolation = "shared"', ""]
    for n, source in enumerate(sources):
        (tmp_path / f"w{n}.js").write_text(source)
        lines += ["[[apps]]", f'name = "app{n}"', f'script = "w{n}.js"', f'routes = ["/app{n}/*"]',
                  "pool_size = 1", *app_lines, ""]
    config = tmp_path / "pyruntime.toml"
    config.write_text("\n".join(lines))
    return config


def test_top_level_code_runs_once_per_isolate_and_never_in_the_supervisor(start_server, tmp_path: Path):
    hits: list[None] = []
    with ok_upstream(lambda: hits.append(None)) as port:
        (tmp_path / "worker.js").write_text(f"""
const answer = await (await fetch("http://127.0.0.1:{port}/")).text();
export default {{ fetch() {{ return new Response("top level said " + answer); }} }};
""")
        (tmp_path / "pyruntime.toml").write_text("""
[[apps]]
name = "once"
script = "worker.js"
routes = ["/*"]
pool_size = 1
[apps.egress]
allow = ["127.0.0.1"]
""")
        server = start_server("--config", str(tmp_path / "pyruntime.toml"), "--workers", "2")
        # The server answers once one worker has loaded; the other may still be loading (a busy
        # machine has taken seconds), and its isolate's top-level fetch comes then.
        deadline = time.monotonic() + 60
        while len(hits) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(4):
            assert httpx.get(server.url + "/", timeout=20).text == "top level said ok"
        # One isolate in each of the two workers; the supervisor loads nothing itself, and
        # requests run no top-level code again.
        assert len(hits) == 2


def test_the_supervisor_loads_neither_the_engine_nor_asyncio(start_server, tmp_path: Path):
    """Its start is part of every cold start: it relays the workers' logs, through the same
    logging module whose request lines wait in the engine's core and use the event loop."""
    (tmp_path / "worker.js").write_text('export default { fetch() { return new Response("ok"); } };')
    server = start_server(str(tmp_path / "worker.js"), "--server", "granian")
    for _ in range(20):
        assert httpx.get(server.url + "/", timeout=20).text == "ok"
    server.wait_for_event("request", count=20)
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    loaded = {name for name in ("libnode", "_core.", "_asyncio", "_ssl") if name in maps}
    assert loaded == set()


def test_a_worker_that_dies_while_loading_stops_the_server_with_the_reason(tmp_path: Path):
    # A length getter that answers 1 to the builtin guard and 2**32-1 to V8: a fill that no
    # termination reaches, so the process guard ends the worker during the app's load.
    (tmp_path / "w.js").write_text("""
let n = 0;
Array.prototype.fill.call({ get length() { return n++ ? 2 ** 32 - 1 : 1 } }, 0);
export default { fetch() { return new Response("never"); } };
""")
    result = subprocess.run([sys.executable, "-m", "pyruntime", "serve", "w.js", "--port", "1",
                             "--log-format", "json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "a worker ended while loading the apps (exit code" in result.stderr
    assert "Traceback" not in result.stderr
    # Port 1 would have failed to bind: the supervisor stopped before binding.
    assert "cannot listen" not in result.stderr


def test_many_apps_load_without_a_thread_each(start_server, tmp_path: Path):
    """A thousand small apps in one process must not mean a thousand threads: loads share a
    few, and isolates share one watch thread."""
    apps = 40
    config = shared_apps_config(
        tmp_path, [f'export default {{ fetch() {{ return new Response("app {n}") }} }};\n' for n in range(apps)])
    server = start_server("--config", str(config), "--workers", "1")
    assert [httpx.get(f"{server.url}/app{n}/", timeout=20).text for n in (0, apps - 1)] == \
        ["app 0", f"app {apps - 1}"]
    pid = server.process.pid
    (worker,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    threads = len(list(Path(f"/proc/{worker}/task").iterdir()))
    assert threads < apps / 2, f"{threads} threads for {apps} apps"


def test_apps_awaiting_at_top_level_load_all_at_once(start_server, tmp_path: Path):
    """More apps than load threads, each awaiting a fetch at top level that is answered only
    when every app has asked (clients that come one after another would wait forever): an app
    waiting on a host operation holds no load thread."""
    apps = 2 * LOAD_THREADS_PER_CPU * (os.cpu_count() or 1) + 2
    barrier = threading.Barrier(apps, timeout=60)
    with ok_upstream(barrier.wait) as port:
        try:
            config = shared_apps_config(tmp_path, [f"""
const said = await (await fetch("http://127.0.0.1:{port}/")).text();
export default {{ fetch() {{ return new Response("app {n}: " + said) }} }};
""" for n in range(apps)], "[apps.egress]", 'allow = ["127.0.0.1"]')
            server = start_server("--config", str(config), "--workers", "1")
            assert httpx.get(f"{server.url}/app{apps - 1}/", timeout=20).text == f"app {apps - 1}: ok"
        finally:
            barrier.abort()


# What both scripts below send the server's ASGI app: GET /hello, its messages kept in `sent`.
ASGI_CALLS = """
sent = []

async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}

async def send(message):
    sent.append(message)

scope = {"type": "http", "method": "GET", "path": "/hello", "raw_path": b"/hello", "query_string": b"",
         "headers": [(b"host", b"localhost")], "http_version": "1.1", "scheme": "http"}
"""

METRICS_AFTER_FIRST_ANSWER = ASGI_CALLS + """
import asyncio, sys
from pyruntime.server.asgi import create_app
from pyruntime.server.config import load_config
from pyruntime.server.observer import LogObserver

async def main():
    app = create_app(load_config(sys.argv[1]), observer=LogObserver(defer_metrics=True))  # as the server makes it
    await app.start()
    loaded = "prometheus_client" in sys.modules
    await app(scope, receive, send)
    answered = sent[0]["status"]
    await app(dict(scope, path="/metrics", raw_path=b"/metrics"), receive, send)
    print(loaded, answered, "prometheus_client" in sys.modules, file=sys.stderr)  # stdout has the log
    print(sent[-1]["body"].decode(), file=sys.stderr)

asyncio.run(main())
"""


def run_with_one_app(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`script` run in a process of its own with the config of one app, `a0` (two isolates,
    answering 'hi'), and no multiprocess metrics folder; it must succeed."""
    (tmp_path / "w.js").write_text("export default { fetch: () => new Response('hi') };")
    config = tmp_path / "pyruntime.toml"
    config.write_text('[[apps]]\nname = "a0"\nscript = "w.js"\nroutes = ["/*"]\npool_size = 2\n')
    result = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"})
    assert result.returncode == 0, result.stderr
    return result


def test_metrics_are_made_after_the_first_answer_and_miss_nothing_before(tmp_path: Path):
    """prometheus_client is a tenth of a worker's cold start: it is imported after the first
    answer, and what happened before (isolates made, that first request) is counted then."""
    result = run_with_one_app(tmp_path, METRICS_AFTER_FIRST_ANSWER)
    verdict, metrics = result.stderr.split("\n", 1)
    assert verdict == "False 200 True"
    assert 'pyruntime_isolates{app="a0"} 2.0' in metrics
    assert 'pyruntime_requests_total{app="a0",status="200"} 1.0' in metrics


COUNTS_AT_STOP = ASGI_CALLS + """
import sys
from pyruntime.server import asgi
from pyruntime.server.config import load_config
from pyruntime.server.metrics import process_metrics

asgi.METRICS_PUBLISH_S = 3600  # held past the server's end: only the publish when it stops puts them in

async def serve_on(app, fd, stop, log):  # a server answering two requests, then stopping
    await app.start()
    for _ in range(2):
        await app(scope, receive, send)
    await app.shutdown()

asgi.run_server(load_config(sys.argv[1]), serve_on, fast=False, reload=False, listen_channel=None,
                logger=None, run_crons=False)
print(process_metrics().render()[0].decode(), file=sys.stderr)  # stdout has the log
"""


def test_requests_counted_but_not_yet_published_reach_the_metrics_when_the_server_stops(tmp_path: Path):
    """The server publishes request counts once in METRICS_PUBLISH_S: those of its last
    requests go in when it stops, not lost with the process (its multiprocess files outlive it)."""
    result = run_with_one_app(tmp_path, COUNTS_AT_STOP)
    assert 'pyruntime_requests_total{app="a0",status="200"} 2.0' in result.stderr


def test_metric_updates_waiting_for_the_server_are_bounded():
    """Updates kept until the server says it serves stop at MAX_EARLY_UPDATES: past it the
    metrics are made at once, with every update so far, and none is kept any more."""
    observer = LogObserver(JsonLogger(io.StringIO()), defer_metrics=True)
    for _ in range(MAX_EARLY_UPDATES):
        observer.heap_changed("early-bound", 1)
    assert 'app="early-bound"' not in process_metrics().render()[0].decode()
    observer.heap_changed("early-bound", 1)
    observer.heap_changed("early-bound", 1)
    text = process_metrics().render()[0].decode()
    assert f'pyruntime_isolate_heap_used_bytes{{app="early-bound"}} {MAX_EARLY_UPDATES + 2:.1f}' in text


def test_metrics_skip_a_file_another_process_is_creating(tmp_path: Path):
    """prometheus_client creates a process's multiprocess file empty, then sizes it: /metrics
    in another worker at that instant answers with every other process's numbers instead of
    failing on the empty file (metrics._WrittenFiles)."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import pathlib, sys
        from pyruntime.server.metrics import process_metrics
        metrics = process_metrics()
        metrics.requests.labels("shop", "200").inc(3)
        (pathlib.Path(sys.argv[1]) / "counter_999999.db").touch()  # a worker creating its file
        print(metrics.render()[0].decode())
    """), str(folder)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)})
    assert done.returncode == 0, done.stderr
    assert 'pyruntime_requests_total{app="shop",status="200"} 3.0' in done.stdout


def test_server_metrics_keep_each_forked_process_in_its_own_file(tmp_path: Path):
    """With `use_kept_pid` (the server's workers), the multiprocess values take the process id
    pid.py keeps and renews at fork, not os.getpid on every update: a child forked after the
    parent made its metrics writes to files of its own pid, and the sum counts both."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os, sys
        from pyruntime.server import metrics
        metrics.use_kept_pid()
        metrics.process_metrics().requests.labels("shop", "200").inc(2)
        child = os.fork()
        if child == 0:
            metrics.Metrics().requests.labels("shop", "200").inc(5)
            os._exit(0)
        os.waitpid(child, 0)
        print(child, sorted(os.listdir(sys.argv[1])))
        print(metrics.process_metrics().render()[0].decode())
    """), str(folder)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)})
    assert done.returncode == 0, done.stderr
    child, files = done.stdout.split("\n", 1)[0].split(" ", 1)
    assert f"counter_{child}.db" in files
    assert 'pyruntime_requests_total{app="shop",status="200"} 7.0' in done.stdout
