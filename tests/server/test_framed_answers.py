"""h1's answers framed in the core during the JS pass (ext/framed_answer.h, Begun.framed):
the bytes on the wire are those of h1's other way for a JS answer in hand (Begun.whole_result,
then `_core.http1_answer`), for every kind of whole answer, and a header the core leaves to
that way (past ASCII) still comes out as the app gave it."""

from __future__ import annotations

import asyncio
import io
import json
import re
import textwrap
from pathlib import Path

from test_h1_server import raw_answers

from pyruntime.server.asgi import create_app
from pyruntime.server.config import load_config
from pyruntime.server.h1_server import H1Server
from pyruntime.server.logs import JsonLogger
from pyruntime.server.observer import LogObserver

APP = textwrap.dedent("""\
    export default {
      async fetch(request) {
        switch (new URL(request.url).pathname) {
          case "/plain": return new Response("plain");
          case "/headers": return new Response("h", { headers: [
            ["X-Mixed-Case", "Value"], ["Set-Cookie", "a=1"], ["set-cookie", "b=2"], ["Content-Length", "999"],
            ["X-Request-ID", "from-app"], ["Connection", "upgrade"], ["Transfer-Encoding", "chunked"]] });
          case "/dated": return new Response("d", { headers: { date: "Tue, 01 Dec 2026 00:00:00 GMT" } });
          case "/empty": return new Response(null, { status: 204 });
          case "/unmodified": return new Response(null, { status: 304, headers: { "content-length": "12" } });
          case "/bytes": return new Response(new Uint8Array([0, 1, 2, 255]), { status: 201 });
          case "/teapot": return new Response("tea", { status: 418 });
          case "/unnamed": return new Response("odd", { status: 599 });
          case "/latin1": return new Response("l", { headers: { "x-name": "caf\\u00e9" } });
          case "/json": return Response.json({ a: [1, "two"] });
          case "/sized": return new Response("", { headers: { "content-length": "7" } });
        }
        return new Response("not here", { status: 404 });
      },
    };
    """)

CONFIG = textwrap.dedent("""\
    [[apps]]
    name = "framed"
    script = "worker.js"
    routes = ["/*"]
    pool_size = 1
    """)

PATHS = ["/plain", "/headers", "/dated", "/empty", "/unmodified", "/bytes", "/teapot", "/unnamed", "/latin1",
         "/json", "/sized", "/nothing"]

# Each request on a connection of its own, read to the connection's end; the client's
# X-Request-ID makes the ids the same in both runs.
REQUESTS = [f"GET {path} HTTP/1.1\r\nHost: a.test\r\nX-Request-ID: get{index}\r\nConnection: close\r\n\r\n"
            for index, path in enumerate(PATHS)] + [
    f"HEAD {path} HTTP/1.1\r\nHost: a.test\r\nX-Request-ID: head{index}\r\nConnection: close\r\n\r\n"
    for index, path in enumerate(("/plain", "/headers", "/sized", "/empty"))] + [
    "GET /plain HTTP/1.0\r\nHost: a.test\r\nX-Request-ID: old1\r\n\r\n",
    # HTTP/1.0 keep-alive, said out loud, then the same connection's last request
    "GET /headers HTTP/1.0\r\nHost: a.test\r\nX-Request-ID: old2\r\nConnection: keep-alive\r\n\r\n"
    "GET /plain HTTP/1.1\r\nHost: a.test\r\nX-Request-ID: old3\r\nConnection: close\r\n\r\n"]

SERVER_DATE = re.compile(rb"date: (?!Tue, 01 Dec 2026)[^\r]* GMT\r\n")


async def _served(tmp_path: Path, framed: bool) -> tuple[list[bytes], list[bool], list[dict]]:
    """Each of REQUESTS' answers from an h1 server whose passes frame answers in the core (or
    not), whether each answer was framed there, and the request log lines."""
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    log = io.StringIO()
    app = create_app(load_config(tmp_path / "pyruntime.toml"), observer=LogObserver(JsonLogger(log)))
    await app.start()
    framed_in_pass: list[bool] = []

    def begin_pass(requests, frames, date_line):
        states = app.begin_pass(requests, frames if framed else None, date_line)
        framed_in_pass.extend(getattr(state, "framed", None) is not None for state in states)
        return states

    server = H1Server(app, asyncio.get_running_loop(), JsonLogger(io.StringIO()), begin_pass=begin_pass)
    try:
        answers = [SERVER_DATE.sub(b"date: (the server's)\r\n", answer)
                   for answer in await raw_answers(server, REQUESTS)]
    finally:
        await app.shutdown()
    lines = [record for record in map(json.loads, log.getvalue().splitlines()) if record["event"] == "request"]
    return answers, framed_in_pass, lines


def test_answers_framed_in_the_pass_are_the_bytes_of_the_other_way(tmp_path: Path):
    framed, framed_flags, framed_log = asyncio.run(_served(tmp_path, framed=True))
    plain, plain_flags, plain_log = asyncio.run(_served(tmp_path, framed=False))
    assert framed == plain
    # Both ways were taken: every whole answer framed in the pass but the one past ASCII.
    assert plain_flags == [False] * len(plain_flags)
    assert framed_flags.count(False) == 1 and len(framed_flags) == len(REQUESTS) + 1
    assert framed[PATHS.index("/latin1")].count(b"x-name: caf\xe9\r\n") == 1
    assert [(line["path"], line["status"]) for line in framed_log] == \
        [(line["path"], line["status"]) for line in plain_log]
    assert all(line["cpu_ms"] > 0 for line in framed_log)


def test_framed_answers_keep_their_framing_rules(tmp_path: Path):
    answers, _, _ = asyncio.run(_served(tmp_path, framed=True))
    by_path = dict(zip(PATHS, answers[:len(PATHS)], strict=True))
    assert by_path["/plain"] == (b"HTTP/1.1 200 OK\r\ndate: (the server's)\r\ncontent-type: text/plain;charset=UTF-8"
                                 b"\r\nx-request-id: get0\r\ncontent-length: 5\r\nconnection: close\r\n\r\nplain")
    headers = by_path["/headers"]
    assert b"x-mixed-case: Value\r\n" in headers and b"set-cookie: a=1\r\nset-cookie: b=2\r\n" in headers
    assert b"from-app" not in headers and b"999" not in headers and b"chunked" not in headers
    assert b"upgrade" not in headers and headers.endswith(b"content-length: 1\r\nconnection: close\r\n\r\nh")
    assert b"date: Tue, 01 Dec 2026 00:00:00 GMT\r\n" in by_path["/dated"]
    assert b"(the server's)" not in by_path["/dated"]
    assert by_path["/empty"].startswith(b"HTTP/1.1 204 No Content\r\n") and b"content-length" not in by_path["/empty"]
    assert by_path["/unmodified"].startswith(b"HTTP/1.1 304 Not Modified\r\n")
    assert by_path["/unmodified"].endswith(b"content-length: 12\r\nconnection: close\r\n\r\n")
    assert by_path["/bytes"].startswith(b"HTTP/1.1 201 Created\r\n") and by_path["/bytes"].endswith(b"\x00\x01\x02\xff")
    assert by_path["/teapot"].startswith(b"HTTP/1.1 418 I'm a Teapot\r\n")
    assert by_path["/unnamed"].startswith(b"HTTP/1.1 599 \r\n")
    heads = answers[len(PATHS):len(PATHS) + 4]
    assert heads[0].endswith(b"content-length: 5\r\nconnection: close\r\n\r\n")  # HEAD: GET's length, no body
    assert heads[2].endswith(b"content-length: 7\r\nconnection: close\r\n\r\n")  # the app's, for no body
    old_close, old_kept = answers[-2], answers[-1]
    assert old_close.endswith(b"connection: close\r\n\r\nplain")
    assert old_kept.count(b"HTTP/1.1 200 OK\r\n") == 2 and b"connection: keep-alive\r\n\r\nh" in old_kept
