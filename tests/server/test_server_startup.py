"""Start-up under the supervisor: each worker loads the apps once and reports; the port is bound
only after apps loaded, and a worker that cannot load them (an error, or a crash) stops the
server with the reason instead of a restart loop."""

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from pyruntime.server.asgi import LOAD_THREADS_PER_CPU


class _Hits(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        type(self).count += 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_top_level_code_runs_once_per_isolate_and_never_in_the_supervisor(start_server, tmp_path: Path):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        (tmp_path / "worker.js").write_text(f"""
const answer = await (await fetch("http://127.0.0.1:{upstream.server_port}/")).text();
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
        for _ in range(4):
            assert httpx.get(server.url + "/", timeout=20).text == "top level said ok"
        # One isolate in each of the two workers; the supervisor loads nothing itself.
        assert _Hits.count == 2
    finally:
        upstream.shutdown()
        upstream.server_close()


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
    lines = ["[server]", 'isolation = "shared"', ""]
    for n in range(apps):
        (tmp_path / f"w{n}.js").write_text(
            f'export default {{ fetch() {{ return new Response("app {n}") }} }};\n')
        lines += ["[[apps]]", f'name = "app{n}"', f'script = "w{n}.js"', f'routes = ["/app{n}/*"]',
                  "pool_size = 1", ""]
    (tmp_path / "pyruntime.toml").write_text("\n".join(lines))
    server = start_server("--config", str(tmp_path / "pyruntime.toml"), "--workers", "1")
    assert [httpx.get(f"{server.url}/app{n}/", timeout=20).text for n in (0, apps - 1)] == \
        ["app 0", f"app {apps - 1}"]
    pid = server.process.pid
    (worker,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    threads = len(list(Path(f"/proc/{worker}/task").iterdir()))
    assert threads < apps / 2, f"{threads} threads for {apps} apps"


class _Barrier(http.server.BaseHTTPRequestHandler):
    """Answers once `parties` requests have arrived: clients that come one after another wait forever."""
    barrier: threading.Barrier

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.barrier.wait()
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_apps_awaiting_at_top_level_load_all_at_once(start_server, tmp_path: Path):
    """More apps than load threads, each awaiting a fetch at top level that is answered only
    when every app has asked: an app waiting on a host operation holds no load thread."""
    apps = 2 * LOAD_THREADS_PER_CPU * (os.cpu_count() or 1) + 2
    _Barrier.barrier = threading.Barrier(apps, timeout=60)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Barrier)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        lines = ["[server]", 'isolation = "shared"', ""]
        for n in range(apps):
            (tmp_path / f"w{n}.js").write_text(f"""
const said = await (await fetch("http://127.0.0.1:{upstream.server_port}/")).text();
export default {{ fetch() {{ return new Response("app {n}: " + said) }} }};
""")
            lines += ["[[apps]]", f'name = "app{n}"', f'script = "w{n}.js"', f'routes = ["/app{n}/*"]',
                      "pool_size = 1", "[apps.egress]", 'allow = ["127.0.0.1"]', ""]
        (tmp_path / "pyruntime.toml").write_text("\n".join(lines))
        server = start_server("--config", str(tmp_path / "pyruntime.toml"), "--workers", "1")
        assert httpx.get(f"{server.url}/app{apps - 1}/", timeout=20).text == f"app {apps - 1}: ok"
    finally:
        _Barrier.barrier.abort()
        upstream.shutdown()
        upstream.server_close()
