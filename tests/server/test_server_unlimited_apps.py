"""An app with its CPU and wall-clock limits off, served beside another app in one process.

Its request timeout is then all that ends a spinning request. Such an app's slices never
run on the event loop's thread (inline_gate.InlineGate.for_limits), so a spin holds neither
the loop nor, past the request timeout, its isolate.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from conftest import HTTP_SERVERS

APP = textwrap.dedent("""\
    export default {
      async fetch(request) {
        if (new URL(request.url).pathname.endsWith("/spin")) while (true) {}
        return new Response("hello");
      },
    };
    """)
REQUEST_TIMEOUT_S = 5


@pytest.fixture(params=HTTP_SERVERS)
def server(start_server, tmp_path: Path, request: pytest.FixtureRequest):
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(textwrap.dedent(f"""\
        [[apps]]
        name = "unlimited"
        script = "worker.js"
        routes = ["/free/*"]
        isolation = "shared"
        pool_size = 2
        limits = {{ cpu_limit_ms = "off", timeout_ms = "off", request_timeout_s = {REQUEST_TIMEOUT_S} }}

        [[apps]]
        name = "other"
        script = "worker.js"
        routes = ["/other/*"]
        isolation = "shared"
        """))
    return start_server("--config", str(tmp_path / "pyruntime.toml"), "--server", request.param,
                        "--workers", "1")


def test_a_spin_with_limits_off_holds_neither_the_loop_nor_its_isolate(server):
    async def scenario() -> tuple[httpx.Response, float, list[httpx.Response], bool]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            started = time.monotonic()
            spin = asyncio.create_task(client.get("/free/spin"))
            await asyncio.sleep(0.5)  # the spin has its isolate
            answers = [await client.get(path) for path in ("/other/hello", "/healthz", "/free/hello")]
            answered_while_spinning = not spin.done()
            spun = await spin
            return spun, time.monotonic() - started, answers, answered_while_spinning

    spin, seconds, answers, answered_while_spinning = asyncio.run(scenario())
    # The other app, the health check and the same app's second isolate answered meanwhile.
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answered_while_spinning
    # The request timeout ended the spin, and its isolate serves again.
    assert spin.status_code == 503 and "(timeout)" in spin.text
    assert REQUEST_TIMEOUT_S <= seconds < 40
    for _ in range(4):
        assert httpx.get(server.url + "/free/hello", timeout=30).text == "hello"
    limit_lines = server.events("limit_exceeded", app="unlimited")
    assert len(limit_lines) == 1 and "total time limit" in limit_lines[0]["message"]
