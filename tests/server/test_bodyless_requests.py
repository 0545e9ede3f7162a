"""A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112, 6.3).

The server's own apps trust their HTTP server's parser for that and do not wait for the
message that says so; a WorkerApp mounted by a host reads whatever its ASGI caller sends.
"""

import asyncio
import io
from pathlib import Path

from pyruntime.server.app import WorkerApp
from pyruntime.server.config import AppConfig
from pyruntime.server.logs import JsonLogger
from pyruntime.server.observer import LogObserver

ECHO = """
export default {
  async fetch(request) {
    return new Response(`${request.method} [${await request.text()}]`);
  },
};
"""


def _scope(method: str) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"app.test")], "server": ("127.0.0.1", 80)}


async def _call(app: WorkerApp, method: str, messages: list[dict]) -> bytes:
    """The app's answer; `receive` hands out `messages`, then waits as if the client stayed."""
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(_scope(method), receive, send), 60)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _app(tmp_path: Path, framed_by_server: bool) -> WorkerApp:
    (tmp_path / "echo.js").write_text(ECHO)
    config = AppConfig(name="echo", script=tmp_path / "echo.js", pool_size=1)
    return WorkerApp.from_config(config, LogObserver(JsonLogger(io.StringIO())), framed_by_server=framed_by_server)


def test_a_mounted_app_reads_a_body_its_caller_sends_without_framing_headers(tmp_path: Path):
    app = _app(tmp_path, framed_by_server=False)
    body = asyncio.run(_call(app, "POST", [{"type": "http.request", "body": b"sent anyway", "more_body": False}]))
    assert body == b"POST [sent anyway]"


def test_the_servers_apps_answer_a_bodyless_request_without_waiting_for_its_message(tmp_path: Path):
    # The receive never gives the request's message: answering shows the app did not wait for it.
    app = _app(tmp_path, framed_by_server=True)
    assert asyncio.run(_call(app, "GET", [])) == b"GET []"
