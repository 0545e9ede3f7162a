"""The JS pass (h1_server.H1Server._js_pass on h1, js_pass.JsPass on Hypercorn and Granian;
app.Begun): the requests a server has in hand in one pass of the loop run their JS one after
another, then are answered, or go on as tasks when they need more. Every kind of answer must
come out as it does for a request served alone."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import textwrap
from pathlib import Path

import pytest
from conftest import HTTP_SERVERS
from test_h1_server import Reader, answers_to, connect

from pyruntime.server.asgi import create_app
from pyruntime.server.config import load_config
from pyruntime.server.h1_server import H1Connection, H1Server
from pyruntime.server.js_pass import JsPass
from pyruntime.server.logs import JsonLogger
from pyruntime.server.observer import LogObserver

APP = textwrap.dedent("""\
    export default {
      async fetch(request, env, ctx) {
        const [, kind, n] = new URL(request.url).pathname.split("/");
        switch (kind) {
          case "sync": return new Response(`sync ${n}`);
          case "echo": {
            const text = await request.text();
            return new Response(`${request.method} ${text.length} ${text.slice(0, 8)}`);
          }
          case "hold": {  // its second chunk waits 50 s: the request (and its body) lasts until its client leaves
            const text = await request.text();
            return new Response(new ReadableStream({
              start(controller) { controller.enqueue(new TextEncoder().encode(`held ${text.length}`)); },
              pull() { return new Promise((resolve) => setTimeout(resolve, 50000)); },
            }));
          }
          case "async":
            await new Promise((resolve) => setTimeout(resolve, 1));
            return new Response(`async ${n}`);
          case "throw": throw new Error(`boom ${n}`);
          case "stream": {
            const parts = ["s", "t", n];
            return new Response(new ReadableStream({
              pull(controller) {
                if (parts.length) controller.enqueue(new TextEncoder().encode(parts.shift()));
                else controller.close();
              },
            }));
          }
          case "big": return new Response(n.repeat(100000));
          case "wait":
            ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 5)));
            return new Response(`wait ${n}`);
          default: return new Response("not here", { status: 404 });
        }
      },
    };
    """)

CONFIG = textwrap.dedent("""\
    [[apps]]
    name = "pass"
    script = "worker.js"
    routes = ["/*"]
    pool_size = 1
    """)


def expected(kind: str, n: int, method: str) -> tuple[int, bytes]:
    body = {"sync": f"sync {n}", "async": f"async {n}", "throw": "Internal Server Error\n", "stream": f"st{n}",
            "big": str(n) * 100000, "wait": f"wait {n}", "badhost": "Bad Request: invalid Host header\n"}[kind]
    status = {"throw": 500, "badhost": 400}.get(kind, 200)
    return status, b"" if method == "HEAD" else body.encode()


@pytest.mark.parametrize("server_name", HTTP_SERVERS)
def test_requests_read_in_one_pass_are_each_answered_as_if_alone(start_server, tmp_path: Path, server_name: str):
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    server = start_server("--config", "pyruntime.toml", "--server", server_name)
    kinds = ("sync", "async", "throw", "stream", "big", "wait", "badhost")
    requests = [(kinds[i % len(kinds)], i, "HEAD" if i % 5 == 4 else "GET") for i in range(42)]
    for round_ in range(2):  # the second round on the same connections: each was kept alive
        if round_ == 0:
            socks = [connect(server) for _ in requests]
            readers = [Reader(sock) for sock in socks]
        for sock, (kind, n, method) in zip(socks, requests, strict=True):
            host = "bad/host" if kind == "badhost" else "a.test"
            sock.sendall(f"{method} /{kind}/{n} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        for reader, (kind, n, method) in zip(readers, requests, strict=True):
            status, headers, body = reader.response(head_only=method == "HEAD")
            assert (status, body) == expected(kind, n, method), (kind, n, method, round_)
            assert len(headers["x-request-id"]) == 32
            if method == "HEAD" and kind not in ("stream",):
                assert int(headers["content-length"]) == len(expected(kind, n, "GET")[1])
    for sock in socks:
        sock.close()
    lines = server.wait_for_event("request", count=2 * len(requests))
    by_path = {}
    for line in lines:
        by_path.setdefault((line["method"], line["path"]), []).append(line["status"])
    for kind, n, method in requests:
        assert by_path[(method, f"/{kind}/{n}")] == [expected(kind, n, method)[0]] * 2
    errors = [line for line in server.log_lines() if line["level"] == "error"]
    assert all(line["event"] == "error" and line["name"] == "Error" for line in errors), errors  # only the throws
    assert len(errors) == 2 * sum(kind == "throw" for kind, _, _ in requests)
    assert not [line for line in server.log_lines() if line["event"] in ("worker_exit", "worker_abort")]


SERIES_APP = textwrap.dedent("""\
    let fired = 0;
    export default {
      fetch(request) {
        const [, kind, n] = new URL(request.url).pathname.split("/");
        if (kind === "timer") {  // a timer left behind must never run in a later request
          setTimeout(() => { fired++; }, 0);
          return new Response(`timer ${n} ${fired}`);
        }
        if (kind === "log") console.log(`log ${n}`);
        if (kind === "spin") for (;;) {}
        if (kind === "oom") {  // past the app's memory limit: its isolate is disposed
          const held = [];
          for (;;) held.push(new Array(1 << 17).fill(0));
        }
        return new Response(`${kind} ${n}`);
      },
    };
    """)


@pytest.mark.parametrize("server_name", HTTP_SERVERS)
def test_requests_run_back_to_back_on_one_isolate_are_each_alone(start_server, tmp_path: Path, server_name: str):
    """A pass's requests run on the app's one isolate in a row (AppIsolate.fetch_series): a timer
    one leaves never runs in the next, each console line carries its own request's id, and one
    stopped by its CPU limit is its 503 alone."""
    (tmp_path / "worker.js").write_text(SERIES_APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    server = start_server("--config", "pyruntime.toml", "--server", server_name)
    kinds = ("timer", "log", "sync", "spin", "timer", "log")
    of_kind = {kind: [i for i in range(24) if kinds[i % len(kinds)] == kind] for kind in kinds}
    socks = [connect(server) for _ in range(24)]
    for index, sock in enumerate(socks):
        sock.sendall(f"GET /{kinds[index % len(kinds)]}/{index} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
    ids = {}
    for index, sock in enumerate(socks):
        kind = kinds[index % len(kinds)]
        status, headers, body = Reader(sock).response()
        assert (status, body) == ((503, b"Service Unavailable: the request exceeded its CPU time limit (cpu)\n")
                                  if kind == "spin" else (200, f"{kind} {index}{' 0' if kind == 'timer' else ''}"
                                                          .encode())), (index, status, body)
        ids[headers["x-request-id"]] = index
        sock.close()
    logged = server.wait_for_event("console", count=len(of_kind["log"]))
    assert sorted((ids[line["request_id"]], line["message"]) for line in logged) == [(i, f"log {i}")
                                                                                      for i in of_kind["log"]]
    limits = server.wait_for_event("limit_exceeded", count=len(of_kind["spin"]))
    assert sorted(ids[line["request_id"]] for line in limits) == of_kind["spin"]


@pytest.mark.parametrize("server_name", HTTP_SERVERS)
def test_a_request_past_its_memory_limit_in_a_pass_is_its_503_alone(start_server, tmp_path: Path, server_name: str):
    """The core disposes an isolate that passed its memory limit in the middle of a pass's run:
    that request is its 503, the ones before it keep their answers, the ones after it are
    served by the isolate that replaces it, another app's requests of the same pass are
    answered, and both apps serve on."""
    (tmp_path / "worker.js").write_text(SERIES_APP)
    (tmp_path / "other.js").write_text(
        "export default { fetch(request) { return new Response(`other ${request.url}`); } };\n")
    (tmp_path / "pyruntime.toml").write_text(CONFIG + "[apps.limits]\nmemory_limit_mb = 16\ncpu_limit_ms = 100\n\n"
                                             '[[apps]]\nname = "other"\nscript = "other.js"\nroutes = ["other.test"]\n')
    server = start_server("--config", "pyruntime.toml", "--server", server_name)
    kinds = ("sync", "other", "sync", "oom", "other", "sync", "log", "sync")
    socks = [connect(server) for _ in kinds]
    for index, sock in enumerate(socks):
        host = "other.test" if kinds[index] == "other" else "a.test"
        sock.sendall(f"GET /{kinds[index]}/{index} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    for index, sock in enumerate(socks):
        status, _, body = Reader(sock).response()
        if kinds[index] == "oom":
            assert status == 503 and b"memory" in body, (status, body)
        elif kinds[index] == "other":
            assert (status, body) == (200, f"other http://other.test/other/{index}".encode()), (index, status, body)
        else:
            assert (status, body) == (200, f"{kinds[index]} {index}".encode()), (index, status, body)
        sock.close()
    assert server.wait_for_event("isolate_disposed", app="pass", reason="memory_limit")
    for host, expected_body in (("a.test", b"sync after"), ("other.test", b"other http://other.test/sync/after")):
        with connect(server) as sock:
            sock.sendall(f"GET /sync/after HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            assert Reader(sock).response()[::2] == (200, expected_body)


BODY_CONFIG = CONFIG + textwrap.dedent("""\
    [apps.limits]
    max_body_mb = 0.05
    max_buffered_body_mb = 0.05
    """)


def test_bodies_read_whole_in_one_pass_keep_their_limits(start_server, tmp_path: Path):
    """Requests whose whole body came with their head begin in the JS pass with it; one past
    `max_body_mb` gets 413, and past the app's body budget (bodies held by requests still
    running) 503, as when each is read by the app's ASGI call; after the holder leaves, the
    app's one isolate and its budget serve every connection again."""
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(BODY_CONFIG)
    server = start_server("--config", "pyruntime.toml", "--server", "h1")

    def post(sock: socket.socket, path: str, body: bytes) -> None:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: a.test\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)

    socks = [connect(server) for _ in range(12)]
    for index, sock in enumerate(socks):
        post(sock, f"/echo/{index}", b"%08d" % index * (index + 1))
    for index, sock in enumerate(socks):
        assert Reader(sock).response()[2] == f"POST {8 * (index + 1)} {index:08d}".encode()
    with connect(server) as sock:  # past max_body_mb (51,200 bytes)
        post(sock, "/echo/big", b"x" * 60000)
        status, _, body = Reader(sock).response()
        assert (status, body) == (413, b"Payload Too Large: the limit is 0.05 MB\n")
    # Two bodies of 30,000 bytes held at once pass the 51,200-byte budget: while the first one's
    # request streams its answer, the second is refused; once its client leaves, bodies fit again.
    holder = connect(server)
    post(holder, "/hold/1", b"y" * 30000)
    streamed = b""
    while b"held 30000" not in streamed:
        data = holder.recv(65536)
        assert data, f"the held stream ended: {streamed!r}"
        streamed += data
    assert streamed.startswith(b"HTTP/1.1 200 OK")
    post(socks[1], "/echo/refused", b"z" * 30000)
    assert Reader(socks[1]).response()[:3:2] == (503, b"Service Unavailable: the app holds too many request "
                                                       b"bodies, retry later\n")
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    holder.close()  # RST: the client is gone, not merely done sending
    for sock in socks:  # every connection still serves: the bodies were read to their end
        post(sock, "/echo/again", b"ok")
        assert Reader(sock).response()[2] == b"POST 2 ok"
        sock.close()


def test_a_failure_while_beginning_one_request_is_its_500_alone():
    """A bug of ours in one request's JS pass (begin_pass giving its exception) answers that
    request 500 and logs why; the requests read in the same pass are served."""
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    def begin_pass(requests, frames, date_line):  # None: the app's ASGI call answers
        return [RuntimeError("a bug") if scope["path"] == "/boom" else None for scope, _, _ in requests]

    async def main() -> tuple[list[bytes], str]:
        loop = asyncio.get_running_loop()
        log = io.StringIO()
        server = H1Server(app, loop, JsonLogger(log), begin_pass=begin_pass)
        listener = await loop.create_server(lambda: H1Connection(server), "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        for index, (_, writer) in enumerate(clients):
            path = "/boom" if index == 1 else "/ok"
            writer.write(f"GET {path} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
        answers = [await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20) for reader, _ in clients]
        for _, writer in clients:
            writer.close()
        listener.close()
        return answers, log.getvalue()

    answers, log = asyncio.run(main())
    assert [answer.split(b"\r\n")[0] for answer in answers] == [
        b"HTTP/1.1 200 OK", b"HTTP/1.1 500 Internal Server Error", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK"]
    assert "RuntimeError('a bug')" in log


def test_a_client_gone_before_its_pass_leaves_the_isolate_free(start_server, tmp_path: Path):
    """Requests whose clients close right after sending (their answers cannot be written)
    still end: the app's one isolate serves the next client."""
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    server = start_server("--config", "pyruntime.toml", "--server", "h1")
    for round_ in range(30):
        kind = ("sync", "async", "big", "stream")[round_ % 4]
        sock = connect(server)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(f"GET /{kind}/{round_} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
        sock.close()  # RST: the server may read the request and find the client gone
    with connect(server) as sock:
        sock.sendall(b"GET /sync/last HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert Reader(sock).response()[2] == b"sync last"


def _scope(path: str) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "method": "GET",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"a.test")], "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000)}


async def _server_app(tmp_path: Path):
    """The server's ASGI app as Hypercorn and Granian get it, its JS pass in place."""
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    app = create_app(load_config(tmp_path / "pyruntime.toml"), observer=LogObserver(JsonLogger(io.StringIO())))
    await app.start()
    return app


async def _never() -> dict:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def test_an_asgi_servers_requests_of_one_pass_run_their_js_before_any_is_answered(tmp_path: Path):
    async def main() -> tuple[list[str], list[bytes]]:
        app = await _server_app(tmp_path)
        events: list[str] = []
        bodies: list[bytes] = []

        worker = app.apps[0]
        begin_pass = worker.begin_pass

        def counted(requests):
            begun = begin_pass(requests)
            events.extend("js" for state in begun if state is not None)
            return begun

        async def send(message) -> None:
            if message["type"] == "http.response.start":
                events.append("answer")
            else:
                bodies.append(message["body"])

        worker.begin_pass = counted  # type: ignore[method-assign]
        app.js_pass = JsPass(asyncio.get_running_loop())
        await asyncio.gather(*(app(_scope(f"/sync/{n}"), _never, send) for n in range(10)))
        await app.shutdown()
        return events, bodies

    events, bodies = asyncio.run(main())
    assert events == ["js"] * 10 + ["answer"] * 10
    assert sorted(bodies) == sorted(f"sync {n}".encode() for n in range(10))


@pytest.mark.filterwarnings("error")  # a begun call left unawaited warns when collected
def test_requests_cancelled_around_their_pass_give_their_isolate_back(tmp_path: Path):
    """A server that cancels a request's task (its client left, the server stops) just after the
    pass began its JS, or before: the app's one isolate serves the next request."""
    async def main() -> list[dict]:
        app = await _server_app(tmp_path)
        app.js_pass = JsPass(asyncio.get_running_loop())
        sent: list[dict] = []

        async def send(message) -> None:
            sent.append(message)

        for cancel_after_pass in (True, False):
            tasks = [asyncio.ensure_future(app(_scope(f"/async/{n}"), _never, send)) for n in range(3)]
            await asyncio.sleep(0)  # each task waits for the pass, which is next in the loop's queue
            if cancel_after_pass:
                for task in tasks:  # each cancel lands after the pass
                    asyncio.get_running_loop().call_soon(task.cancel)
            else:
                for task in tasks:
                    task.cancel()
            for task in tasks:
                with pytest.raises(asyncio.CancelledError):
                    await task
        assert not sent
        await asyncio.wait_for(app(_scope("/sync/after"), _never, send), 20)
        await app.shutdown()
        return sent

    sent = asyncio.run(main())
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"sync after"


def test_a_failure_while_beginning_one_request_of_an_asgi_pass_is_that_requests_alone(tmp_path: Path):
    """A bug of ours in one request's pass (raised while it is made ready for its JS) fails that
    request's ASGI call (its server answers 500 and logs it); the others of the pass are
    answered, and the app's one isolate serves on."""
    async def main() -> tuple[list[object], list[bytes]]:
        app = await _server_app(tmp_path)
        worker = app.apps[0]
        prepare = worker._prepare
        bodies: list[bytes] = []

        def failing(scope, body, head):
            if scope["path"] == "/sync/boom":
                raise RuntimeError("a bug")
            return prepare(scope, body, head)

        async def send(message) -> None:
            if message["type"] == "http.response.body":
                bodies.append(message["body"])

        worker._prepare = failing  # type: ignore[method-assign]
        app.js_pass = JsPass(asyncio.get_running_loop())
        paths = ["/sync/1", "/sync/boom", "/async/2", "/sync/3"]
        results = await asyncio.gather(*(app(_scope(path), _never, send) for path in paths), return_exceptions=True)
        await asyncio.wait_for(app(_scope("/sync/after"), _never, send), 20)
        await app.shutdown()
        return results, bodies

    results, bodies = asyncio.run(main())
    assert [type(result).__name__ for result in results] == ["NoneType", "RuntimeError", "NoneType", "NoneType"]
    assert sorted(bodies) == [b"async 2", b"sync 1", b"sync 3", b"sync after"]


def test_a_bug_that_breaks_a_pass_run_gives_its_isolate_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A bug of ours that breaks the run of a pass's JS (here `fetch_series` raising) fails those
    requests' ASGI calls, and the app's one isolate, taken for the run, serves the next request."""
    from pyruntime.engine import AppIsolate

    def broken(self, requests, release_bytes, frames, date_line):
        monkeypatch.undo()  # once: the next pass runs the real series
        raise RuntimeError("a bug in the run")

    async def main() -> tuple[list[object], list[bytes]]:
        app = await _server_app(tmp_path)
        bodies: list[bytes] = []

        async def send(message) -> None:
            if message["type"] == "http.response.body":
                bodies.append(message["body"])

        app.js_pass = JsPass(asyncio.get_running_loop())
        monkeypatch.setattr(AppIsolate, "fetch_series", broken)
        results = await asyncio.gather(*(app(_scope(f"/sync/{n}"), _never, send) for n in range(3)),
                                       return_exceptions=True)
        await asyncio.wait_for(app(_scope("/sync/after"), _never, send), 20)
        await app.shutdown()
        return results, bodies

    results, bodies = asyncio.run(main())
    assert [str(result) for result in results] == ["a bug in the run"] * 3
    assert bodies == [b"sync after"]


def test_an_answer_the_core_cannot_frame_is_a_500_logged_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """h1 frames a JS answer in hand in the core: in the pass (test_framed_answers.py), or when
    the pass did not, with `_core.http1_answer`, as here (no frames asked). One it refuses (a
    header with a line break, which JS's Headers never lets through: injected here) is that
    request's 500, with the error and a request line saying 500; nothing of the refused head
    is written, and the app's one isolate serves the next request. (The pass leaves an answer
    it cannot frame to this way: tests/cpp/test_framed_answer.cc.)"""
    from pyruntime.engine.protocol import FetchResult
    from pyruntime.server.app import Begun

    whole_result = Begun.whole_result

    def smuggling(begun: Begun) -> FetchResult | None:
        result = whole_result(begun)
        if result is not None and begun.ctx.path == "/sync/bad":
            result.headers = [*result.headers, ("x-a", "1\r\nset-cookie: smuggled=1")]
        return result

    monkeypatch.setattr(Begun, "whole_result", smuggling)

    async def main() -> tuple[bytes, bytes, str, str]:
        (tmp_path / "worker.js").write_text(APP)
        (tmp_path / "pyruntime.toml").write_text(CONFIG)
        requests_log, server_log = io.StringIO(), io.StringIO()
        app = create_app(load_config(tmp_path / "pyruntime.toml"), observer=LogObserver(JsonLogger(requests_log)))
        await app.start()
        server = H1Server(app, asyncio.get_running_loop(), JsonLogger(server_log),
                          begin_pass=lambda requests, frames, date_line: app.begin_pass(requests))
        bad, good = await answers_to(server, ["/sync/bad", "/sync/next"])
        await app.shutdown()
        return bad, good, requests_log.getvalue(), server_log.getvalue()

    bad, good, requests_log, server_log = asyncio.run(main())
    assert bad.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"smuggled" not in bad and b"x-a" not in bad
    assert good.startswith(b"HTTP/1.1 200 OK\r\n") and good.endswith(b"sync next")
    assert "has a line break" in server_log
    statuses = {record["path"]: record["status"] for record in map(json.loads, requests_log.splitlines())
                if record["event"] == "request"}
    assert statuses == {"/sync/bad": 500, "/sync/next": 200}
