"""`serve --server h1`, pyruntime's own HTTP/1.1 server, spoken to over raw sockets: keep-alive,
pipelining, framing, and the bounds an attacker meets (heads, bodies, idle and trickling
clients, clients that pipeline without reading). The scenarios every server shares run on it
too (HTTP_SERVERS in conftest.py)."""

from __future__ import annotations

import asyncio
import io
import random
import re
import socket
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import worker_rss_kb

from pyruntime.server import h1_server
from pyruntime.server.h1_server import H1Connection, H1Server
from pyruntime.server.logs import JsonLogger

APP = textwrap.dedent("""\
    export default {
      async fetch(request) {
        const url = new URL(request.url);
        if (url.pathname === "/echo") {
          const body = await request.text();
          return new Response(`${request.method} ${body.length} ${body.slice(0, 20)}`);
        }
        if (url.pathname === "/stream") {
          const parts = ["one ", "two ", "three"];
          return new Response(new ReadableStream({
            pull(controller) {
              if (parts.length) controller.enqueue(new TextEncoder().encode(parts.shift()));
              else controller.close();
            },
          }));
        }
        if (url.pathname === "/big") return new Response("x".repeat(60000));
        if (url.pathname === "/headers") {
          return new Response([...request.headers].map(([k, v]) => `${k}=${v}`).join("\\n"));
        }
        return new Response(`hello ${url.pathname}${url.search}`);
      },
    };
    """)


@pytest.fixture
def server(start_server, tmp_path: Path):
    (tmp_path / "worker.js").write_text(APP)
    return start_server(str(tmp_path / "worker.js"), "--server", "h1")


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def answers_to(server: H1Server, paths: list[str]) -> list[bytes]:
    """Serves `server` on loopback for one GET of each path, each on a connection of its own
    that asks to close: what came back up to the connection's end (b"" for a reset)."""
    return await raw_answers(server, [f"GET {path} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
                                      for path in paths])


async def raw_answers(server: H1Server, requests: list[str]) -> list[bytes]:
    """Serves `server` on loopback for each of `requests` (bytes as sent, the connection's last
    request asking to close), each on a connection of its own: what came back up to the
    connection's end (b"" for a reset)."""
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: H1Connection(server), "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    answers = []
    try:
        for request in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request.encode())
            try:
                answers.append(await asyncio.wait_for(reader.read(), 20))
            except ConnectionResetError:
                answers.append(b"")
            writer.close()
    finally:
        listener.close()
    return answers


class Reader:
    """Reads HTTP/1.1 responses off a socket: heads, then bodies by Content-Length or chunks."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise EOFError(f"connection closed; had {self.buffer[:200]!r}")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise EOFError("connection closed mid-body")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"header {name} twice"
            headers[name.lower()] = value.strip()
        if head_only or status in (100, 204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self._until(b"\r\n"), 16)
                if size == 0:
                    self._until(b"\r\n")
                    return status, headers, body
                body += self._exactly(size)
                assert self._exactly(2) == b"\r\n"
        if "content-length" in headers:
            return status, headers, self._exactly(int(headers["content-length"]))
        while self._fill():  # delimited by the connection's end
            pass
        body, self.buffer = self.buffer, b""
        return status, headers, body

    def closed(self) -> bool:
        """Whether the server closed the connection (after what was read)."""
        try:
            return not self.buffer and not self._fill()
        except ConnectionResetError:
            return True


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with connect(server) as sock:
        reader = Reader(sock)
        for i in range(5):
            sock.sendall(f"GET /n{i} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
            status, headers, body = reader.response()
            assert (status, body) == (200, f"hello /n{i}".encode())
            assert headers["content-length"] == str(len(body))
            assert headers["x-request-id"] and headers["date"].endswith("GMT")
            assert "connection" not in headers


def test_pipelined_requests_are_answered_in_order(server):
    with connect(server) as sock:
        sock.sendall(b"".join(f"GET /p{i} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode() for i in range(20))
                     + b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nabcde"
                     + b"GET /last HTTP/1.1\r\nHost: a.test\r\n\r\n")
        reader = Reader(sock)
        assert [reader.response()[2] for _ in range(22)] == \
            [f"hello /p{i}".encode() for i in range(20)] + [b"POST 5 abcde", b"hello /last"]


def test_request_bodies_by_length_and_in_chunks(server):
    with connect(server) as sock:
        reader = Reader(sock)
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n\r\nhello world")
        assert reader.response()[2] == b"POST 11 hello world"
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        assert reader.response()[2] == b"POST 11 hello world"
    big = b"x" * 3_000_000  # past the connection's body buffer: read as the app takes it
    assert httpx.post(server.url + "/echo", content=big, timeout=30).text == "POST 3000000 " + "x" * 20


def test_expect_100_continue_is_answered_before_the_body(server):
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        reader = Reader(sock)
        assert reader.response()[0] == 100
        sock.sendall(b"ping")
        assert reader.response()[2] == b"POST 4 ping"


def test_head_http10_and_connection_close(server):
    with connect(server) as sock:
        reader = Reader(sock)
        sock.sendall(b"HEAD /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
        status, headers, _ = reader.response(head_only=True)
        assert status == 200 and headers["content-length"] == str(len("hello /x"))
        sock.sendall(b"GET /y HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        status, headers, body = reader.response()
        assert body == b"hello /y" and headers["connection"] == "close"
        assert reader.closed()
    with connect(server) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert status == 200 and body == b"hello /old"
        assert reader.closed()


def test_streamed_response_is_chunked(server):
    with connect(server) as sock:
        reader = Reader(sock)
        for _ in range(2):  # the connection stays usable after a chunked body
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: a.test\r\n\r\n")
            status, headers, body = reader.response()
            assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
            assert body == b"one two three"


def test_headers_reach_the_app_as_sent(server):
    with connect(server) as sock:
        sock.sendall(b"GET /headers?a=%2F HTTP/1.1\r\nHost: a.test\r\nX-Bytes: caf\xe9\r\nX-Two: 1\r\n"
                     b"x-two: 2\r\n\r\n")
        body = Reader(sock).response()[2].decode("utf-8")
    assert "x-bytes=caf\u00e9" in body.splitlines()
    assert "x-two=1, 2" in body.splitlines()


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
])
def test_bad_requests_are_refused_and_the_connection_closed(server, request_bytes: bytes, status: int):
    with connect(server) as sock:
        sock.sendall(request_bytes)
        reader = Reader(sock)
        got, headers, body = reader.response()
        assert got == status, body
        assert headers["connection"] == "close"
        assert reader.closed()
    assert httpx.get(server.url + "/after", timeout=20).text == "hello /after"


def test_a_bad_request_after_a_good_one_is_refused_after_its_answer(server):
    with connect(server) as sock:
        sock.sendall(b"GET /good HTTP/1.1\r\nHost: a.test\r\n\r\nNOT HTTP AT ALL\r\n\r\n")
        reader = Reader(sock)
        assert reader.response()[2] == b"hello /good"
        assert reader.response()[0] == 400
        assert reader.closed()


def test_an_upgrade_request_is_answered_as_http_and_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                     b"\x81\x85garbage-frames")
        reader = Reader(sock)
        status, _, body = reader.response()
        assert (status, body) == (200, b"hello /ws")
        assert reader.closed()


def test_a_head_that_trickles_or_an_idle_connection_is_closed(server):
    """A client may take HEAD_TIMEOUT_S (5 s) for a head, and as long idle between requests;
    past that its connection ends, and others are served meanwhile."""
    with connect(server) as trickling, connect(server) as idle:
        idle.sendall(b"GET /first HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert Reader(idle).response()[2] == b"hello /first"
        started = time.monotonic()
        trickling.sendall(b"GET /slow HTTP/1.1\r\n")
        while time.monotonic() - started < 60:
            try:
                trickling.sendall(b"X: y\r\n")
            except OSError:
                break
            assert httpx.get(server.url + "/meanwhile", timeout=20).text == "hello /meanwhile"
            time.sleep(0.5)
        else:
            raise AssertionError("a head trickled for 60 s and its connection stayed open")
        assert Reader(idle).closed()


def test_a_client_pipelining_without_reading_holds_little_memory(server):
    """Requests for 60 KB answers sent in bulk by a client that never reads: the server
    parses a few requests at a time, and starts none while the client leaves answers unread
    (beyond the socket's buffers), so it holds little memory and serves others meanwhile.
    Answering all would buffer 60 KB per request, gigabytes within seconds."""
    before = worker_rss_kb(server)
    served_before = len(server.events("request"))
    request = b"GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n"
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sent = 0
        stop = threading.Event()

        def flood() -> None:
            nonlocal sent
            chunk = request * 1000
            while not stop.is_set() and sent < 200_000_000:
                try:
                    sent += sock.send(chunk)
                except OSError:
                    return

        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            time.sleep(4)
            assert httpx.get(server.url + "/other", timeout=20).text == "hello /other"
            grown_mb = (worker_rss_kb(server) - before) / 1024
        finally:
            stop.set()
            sock.shutdown(socket.SHUT_RDWR)
            flooder.join()
    assert sent < 200_000_000
    assert grown_mb < 64, f"the worker grew by {grown_mb:.0f} MB"
    # What the kernel's socket buffers take (a few MB) is answered; the rest waits unread.
    answered = len(server.events("request")) - served_before
    assert answered < 1000, f"{answered} answers to a client that reads none"
    assert httpx.get(server.url + "/after", timeout=20).text == "hello /after"


def test_a_client_that_leaves_mid_request_frees_nothing_in_use(server):
    for _ in range(20):
        with connect(server) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\npartial")
    with connect(server) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        assert Reader(sock).response()[2] == b"hello /x"
    assert httpx.get(server.url + "/after", timeout=20).text == "hello /after"


def test_an_app_body_past_its_content_length_is_cut_and_the_connection_closed():
    """An ASGI app whose body runs past the Content-Length it declared cannot smuggle a second
    response into the connection: the client gets the declared bytes, then the end."""
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5"),
                                                                               (b"connection", b"keep-alive")]})
        await send({"type": "http.response.body", "body": b"helloHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbad"})

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = H1Server(app, loop, JsonLogger(io.StringIO()))
        listener = await loop.create_server(lambda: H1Connection(server), "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 20)  # up to the connection's end
        writer.close()
        listener.close()
        return answer

    answer = asyncio.run(main())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert body == b"hello"  # and no answer to the second request: the connection ended
    assert head.count(b"HTTP/1.1") == 1 and b"keep-alive" not in head  # the app's Connection is not sent


@pytest.mark.parametrize("name, value", [
    (b"x-a", b"1\r\nset-cookie: smuggled=1"), (b"x-a", b"1\nset-cookie: smuggled=1"), (b"x-a", b"1\r"),
    (b"x-a\r\nset-cookie", b"smuggled=1"), (b"x-a\n", b"1")])
def test_a_response_header_with_a_line_break_is_never_written(name: bytes, value: bytes):
    """An ASGI app's header name or value with a CR or LF cannot add a header or a response:
    nothing of that response is written and the connection ends; the server serves on."""
    async def app(scope, receive, send) -> None:
        headers = [(b"content-type", b"text/plain")] + ([(name, value)] if scope["path"] == "/bad" else [])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> tuple[bytes, bytes, str]:
        log = io.StringIO()
        bad, good = await answers_to(H1Server(app, asyncio.get_running_loop(), JsonLogger(log)), ["/bad", "/good"])
        return bad, good, log.getvalue()

    bad, good, log = asyncio.run(main())
    assert b"smuggled" not in bad and b"HTTP/1.1 200" not in bad
    assert good.startswith(b"HTTP/1.1 200 OK\r\n") and good.endswith(b"\r\n\r\nok")


SEEDS = [
    b"GET /a?b=c HTTP/1.1\r\nHost: a.test\r\nX-One: 1\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    b"HEAD /h HTTP/1.0\r\n\r\n",
]
PIECES = [b"\r\n", b"\n", b"\r", b"\x00", b" ", b":", b"\t", b"0", b"ffffffffffffffff", b"-1", b"Content-Length: 9\r\n",
          b"Transfer-Encoding: chunked\r\n", b"\xff\xfe", b"%00", b"/../", b"HTTP/1.1", b"Expect: 100-continue\r\n"]


def mutated(rng, seed: bytes) -> bytes:
    data = bytearray(seed * rng.randint(1, 3))
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        choice = rng.random()
        if choice < 0.3 and data:
            del data[at:at + rng.randint(1, 4)]
        elif choice < 0.7:
            data[at:at] = rng.choice(PIECES)
        elif data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
    return bytes(data)


def test_mutated_requests_get_an_answer_or_an_end_and_the_worker_lives(server):
    """Valid requests mutated at random (bytes cut, inserted, replaced; framing headers and
    chunk sizes out of place), sent in random pieces, then the write side closed: every
    connection gets HTTP/1.1 answers or its end, never a hang, and the worker neither dies
    nor logs an error of its own."""
    rng = random.Random(8)
    worker = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    statuses: Counter[int] = Counter()
    for _ in range(300):
        data = mutated(rng, rng.choice(SEEDS))
        with connect(server) as sock:
            cut = sorted(rng.sample(range(len(data) + 1), 2))
            try:
                for piece in (data[:cut[0]], data[cut[0]:cut[1]], data[cut[1]:]):
                    sock.sendall(piece)
                sock.shutdown(socket.SHUT_WR)
            except OSError:  # refused mid-send (a 400 and a close): still read what came
                pass
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
        for line in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer):
            statuses[int(line)] += 1
        assert not answer or answer.startswith(b"HTTP/1.1 "), (data, answer[:200])
    assert statuses[200] and statuses[400], statuses  # both kinds came up
    assert set(statuses) <= {100, 200, 400, 404, 413, 431, 500, 505}, statuses
    assert Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split() == worker
    assert not [line for line in server.log_lines() if line["level"] == "error"]
    assert httpx.get(server.url + "/after", timeout=20).text == "hello /after"


def test_a_client_that_leaves_an_answer_unread_is_cut_off_and_its_memory_freed(monkeypatch):
    """An answer larger than the socket's buffers, to a client that reads none of it: after
    UNREAD_TIMEOUT_S (made short here) the connection ends and the server holds nothing for
    it, while another client is served meanwhile."""
    monkeypatch.setattr(h1_server, "UNREAD_TIMEOUT_S", 0.5)
    monkeypatch.setattr(h1_server, "SWEEP_S", 0.1)

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * (32 << 20) if scope["path"] == "/big" else b"ok"})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = H1Server(app, loop, JsonLogger(io.StringIO()))
        listener = await loop.create_server(lambda: H1Connection(server), "127.0.0.1", 0)
        sweeping = asyncio.ensure_future(server.sweep())
        port = listener.sockets[0].getsockname()[1]
        _, stalled = await asyncio.open_connection("127.0.0.1", port)
        stalled.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.write(b"GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n")
        while not server.connections or not next(iter(server.connections)).write_paused:
            await asyncio.sleep(0.05)  # the answer fills the socket and waits in the transport
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /small HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK")
        writer.close()
        async with asyncio.timeout(60):  # the stalled connection goes, buffered answer and all
            while server.connections:
                await asyncio.sleep(0.05)
        sweeping.cancel()
        stalled.close()
        listener.close()

    asyncio.run(main())
