"""`serve --server h1`: pyruntime's own HTTP/1.1 server, on uvloop with llhttp's C parser.

Why a third server: Hypercorn parses HTTP in Python, and Granian hands every request from
its Rust threads to the event loop's thread; either costs more CPU per request than the JS
it serves. Here the parser is C (httptools binds llhttp, Node's parser; the core reads a
plain head in one call, ext/http1_head.h, and llhttp every other one), everything runs on
the event loop's thread, and a response is one write. The requests one pass of the loop
reads whole run their JS one after another before any is answered (`H1Server._js_pass`):
V8's code and data stay in the CPU's caches from one request to the next.

It serves the server's own ASGI app (`asgi.ServerApp`) within the bounds of the other two:
a request head must arrive within `HEAD_TIMEOUT_S` and fit in `MAX_HEAD_BYTES` and
`MAX_HEADERS` (431), an idle connection is closed after `HEAD_TIMEOUT_S`, a request body is
read only as fast as the app takes it, pipelined requests are parsed a few at a time, and a
response waits for a client that stops reading (the app's stream limits bound that wait).
While a request runs the connection reads on (`READ_AHEAD_BYTES`): a client that resets is
heard at once and its request ends. A half-close (FIN) still gets its answers.
HTTP/1 only: no h2c, no websockets (an Upgrade request is answered as plain HTTP).
"""

from __future__ import annotations

import asyncio
import socket
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools

from .. import _core
from ..engine.app_isolate import AnswerFrame
from ..engine.protocol import FetchResult
from .acceptor import Acceptor
from .app import Begun, Head, new_request_id, request_id_of
from .asgi import HEAD_TIMEOUT_S, ServerApp, run_server
from .config import ServerConfig
from .http_date import HttpDate
from .js_pass import JS_PASS_MAX
from .logs import JsonLogger
from .supervisor import ServingSocket

# A request head (request line and headers) larger than this, or with more headers, gets 431.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 128
# Request body bytes held for an app that has not taken them yet: past this the connection
# stops reading until the app takes them (TCP then slows the client).
BODY_BUFFER_BYTES = 256 * 1024
# Heads are parsed this many bytes at a time: a client pipelining many requests at once
# makes the server hold a few parsed requests, not thousands, and a head past
# MAX_HEAD_BYTES is refused within this many bytes of its limit.
FEED_BYTES = 4096
# Bytes read ahead of the request in progress (pipelined requests, or a client's next one).
# Reading on while a request runs is how the server hears a client that leaves: its reset
# ends the request and frees its isolate at once. Past this, reading stops until the request
# ends (TCP then slows the client).
READ_AHEAD_BYTES = 64 * 1024
# The longest a client may leave answers unread (more than the socket and the transport's
# buffer hold) while no request of its is in progress, or after its connection was closed;
# then the connection is cut and what was buffered for it freed.
UNREAD_TIMEOUT_S = 60.0
# How often connections are checked against their head and keep-alive deadlines.
SWEEP_S = 0.5

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise ValueError(f"invalid response status {status!r}")
        line = f"HTTP/1.1 {status} \r\n".encode()
    return line


def _plain_answer(status: int, text: str, date_line: bytes) -> bytes:
    """A whole text response of the server's own, after which the connection closes."""
    body = (text + "\n").encode()
    return b"".join((_status_line(status), date_line, b"content-type: text/plain; charset=utf-8\r\n"
                     b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body), body))


class _Refusal(Exception):
    """A request the server answers itself, then closes the connection (400, 431)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class _Exchange:
    """One request and its response: the app's ASGI `receive` and `send`."""

    __slots__ = ("conn", "scope", "head", "keep_alive", "expect_continue", "bodyless", "sized", "chunks",
                 "buffered", "body_complete",
                 "body_delivered", "started", "head_written", "done", "status", "headers", "has_body", "chunked",
                 "length", "sent", "disconnected", "_wake")

    def __init__(self, conn: H1Connection, scope: Scope, head: Head, keep_alive: bool, expect_continue: bool,
                 sized: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.head = head  # what the app reads in the head, read as the parser went
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.bodyless = head.bodyless  # neither Content-Length nor Transfer-Encoding: the head is the request
        self.sized = sized  # a Content-Length body (the JS pass takes it if it is all in by then)
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.body_complete = False  # the parser has the whole request body
        self.body_delivered = False  # the app has it
        self.started = False  # the app sent the response's start
        self.head_written = False
        self.done = False  # the whole response is written
        self.status = 0
        self.headers: Any = ()
        self.has_body = True
        self.chunked = False
        self.length: int | None = None
        self.sent = 0
        self.disconnected = False
        self._wake: asyncio.Future[None] | None = None

    def wake(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def receive(self) -> Message:
        while True:
            if self.disconnected:
                return {"type": "http.disconnect"}
            if not self.body_delivered:
                if self.chunks or self.body_complete:
                    complete = self.body_complete
                    return {"type": "http.request", "body": self.take_body(), "more_body": not complete}
                if self.expect_continue and not self.started:
                    self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.expect_continue = False
            elif self.done:  # after the response, the client may as well have gone
                return {"type": "http.disconnect"}
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await self._wake
            finally:
                self._wake = None

    def whole_body(self) -> bytes:
        """The whole body, once `body_complete`, left for `take_body` (or `receive`)."""
        chunks = self.chunks
        if len(chunks) > 1:
            self.chunks = chunks = [b"".join(chunks)]
        return chunks[0] if chunks else b""

    def take_body(self) -> bytes:
        """The body read so far (the whole body, once `body_complete`), handed to the app."""
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        if self.buffered:
            self.buffered = 0
            self.conn.body_taken()
        self.body_delivered = self.body_complete
        return body

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started or self.done:
                raise RuntimeError("http.response.body before http.response.start or after the response ended")
            if self._write_body(message.get("body", b""), message.get("more_body", False)):
                await self.conn.drained()
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self._start(message["status"], message.get("headers", ()))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """A whole response at once, as `send` of its start and of its one body message."""
        self._start(status, headers)
        self._write_body(body, False)

    def frame(self) -> AnswerFrame:
        """How this request's whole answer is framed: (HEAD, keep-alive, HTTP/1.0), for the
        core to frame it in the JS pass (app.Begun.framed) as `respond_whole` would."""
        return (self.scope["method"] == "HEAD", self.keep_alive and not self.conn.draining,
                self.scope["http_version"] == "1.0")

    def respond_whole(self, status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> None:
        """A JS answer in hand (app.Begun.whole_result): head and body framed in one call into
        the core (`_core.http1_answer`), by the rules `respond` follows for the headers of
        app._whole_answer. ValueError for a header with a line break, before anything is written."""
        head_request, keep_alive, http10 = self.frame()
        data = _core.http1_answer(status, _status_line(status), self.conn.server.date.line(), headers, request_id,
                                  body, head_request, keep_alive, http10)
        self._send_whole(status, data, keep_alive)

    def respond_framed(self, status: int, framed: bytes, frame: AnswerFrame) -> None:
        """A JS answer the core framed in the JS pass (app.Begun.framed: the response after its
        status line) by `frame`, this exchange's `frame()` then, whose keep-alive it keeps."""
        self._send_whole(status, _status_line(status) + framed, frame[1])

    def _send_whole(self, status: int, data: bytes, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.started = self.head_written = self.done = True
        self.expect_continue = False
        self.status = status
        if self.disconnected:
            return
        conn = self.conn
        conn.write(data)
        self.wake()
        conn.exchange_done(self)

    def _start(self, status: int, headers: Any) -> None:
        self.started = True
        self.expect_continue = False
        self.status = status
        self.headers = headers

    def _write_body(self, body: bytes, more: bool) -> bool:
        """Writes a piece of the response body (the head before the first); whether the
        client must read some before the next piece."""
        if self.disconnected:
            self.done = self.done or not more
            return False
        conn = self.conn
        parts = []
        if not self.head_written:
            self.head_written = True
            parts.append(self._head(body, more))
        length = self.length
        if length is not None and self.sent + len(body) > length:
            body = body[:max(length - self.sent, 0)]  # never past its Content-Length: no second
            self.keep_alive = False  # response smuggled into this one, and the connection ends
        if body and self.has_body:
            parts.append(b"%x\r\n%b\r\n" % (len(body), body) if self.chunked else body)
        self.sent += len(body)
        if not more:
            if self.chunked:
                parts.append(b"0\r\n\r\n")
            elif self.length is not None and self.sent != self.length and self.has_body:
                self.keep_alive = False  # the body is not what its head said: the connection ends
            self.done = True
        conn.write(parts[0] if len(parts) == 1 else b"".join(parts))
        if self.done:
            self.wake()  # a `receive` waiting for the client's departure returns
            conn.exchange_done(self)
            return False
        return conn.write_paused

    def fail(self) -> None:
        """Ends a response the app did not finish: a 500 if nothing of it was written, else the
        connection's end (the client must see a truncated body, not a complete one)."""
        if self.done or self.disconnected:
            return
        self.done = True
        conn = self.conn
        if self.head_written:
            conn.abort()
            return
        self.keep_alive = False
        conn.write(_plain_answer(500, "Internal Server Error", conn.server.date.line()))
        conn.exchange_done(self)

    def _head(self, body: bytes, more: bool) -> bytes:
        """The response head; framing is the server's: Content-Length when the body is whole or
        its length given, chunked when it streams (HTTP/1.1), else the connection's end."""
        status = self.status
        lines = []
        length = None
        dated = False  # the app gave a Date: it is the one (http_date.py)
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length":
                length = int(value)
            elif lower == b"date":
                dated = True
            elif lower == b"transfer-encoding":
                continue
            elif lower == b"connection":  # the server's to say, after the headers
                self.keep_alive = self.keep_alive and b"close" not in value.lower()
                continue
            lines.append(name + b": " + value + b"\r\n")  # concatenation: bytes' % formatting costs 4 times more
        block = b"".join(lines)
        # Each line brings one CR and one LF: any more are in a name or a value.
        if block.count(b"\n") != len(lines) or block.count(b"\r") != len(lines):
            broken = next(name for name, value in self.headers if b"\n" in name + value or b"\r" in name + value)
            raise ValueError(f"response header {broken!r} has a line break")
        parts = [_status_line(status), block] if dated else [_status_line(status), self.conn.server.date.line(), block]
        self.has_body = status >= 200 and status not in (204, 304) and self.scope["method"] != "HEAD"
        if length is None and status >= 200 and status not in (204, 304):
            if not more:
                if self.has_body:
                    length = len(body)
                    parts.append(b"content-length: %d\r\n" % length)
            elif self.has_body:
                if self.scope["http_version"] == "1.1":
                    self.chunked = True
                    parts.append(b"transfer-encoding: chunked\r\n")
                else:
                    self.keep_alive = False  # HTTP/1.0: the body ends with the connection
        self.length = length
        if not self.keep_alive or self.conn.draining:
            self.keep_alive = False
            parts.append(b"connection: close\r\n")
        elif self.scope["http_version"] == "1.0":
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)


class H1Connection(asyncio.Protocol):
    """One client connection: parses its requests and runs the app for each, one at a time."""

    def __init__(self, server: H1Server) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closing = False  # closed, or closing: nothing more is read or written
        self.draining = False  # the server stops: the connection ends after the response in progress
        self.write_paused = False
        self.deadline: float | None = server.loop.time() + HEAD_TIMEOUT_S
        self.active: _Exchange | None = None  # the exchange the app serves now
        self.parsing: _Exchange | None = None  # the exchange whose body the parser reads
        self.queue: deque[_Exchange] = deque()  # pipelined, waiting for `active`
        self.refusal: _Refusal | None = None  # a bad request after `active`, answered after it
        self._unparsed = b""
        self._in_message = False  # llhttp is within a request (its head or body)
        self._reading = True
        self._upgraded = False
        self._eof = False
        self._drain: asyncio.Future[None] | None = None
        self._url: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._length: bytes | None = None
        self._chunked = False
        self._expect = False
        self._host: bytes | None = None
        self._request_id: bytes | None = None
        self._body_left = 0
        self._client: tuple[str, int] | None = None
        self._local: tuple[str, int] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes
        self.server.connections.add(self)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self._client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self._local = (str(local[0]), int(local[1])) if isinstance(local, tuple) else None
        if self.server.draining:  # accepted as the server stopped (acceptor.Acceptor sets up a transport later)
            self.shut_down()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True
        for exchange in (self.active, *self.queue):
            if exchange is not None:
                exchange.disconnected = True
                exchange.wake()
        self.queue.clear()
        self._unparsed = b""
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self.server.connection_closed()

    def data_received(self, data: bytes) -> None:
        if self._upgraded or self.closing or self._eof:
            return
        if self._held():
            self._unparsed += data
            self._update_reading()
            return
        self._feed(data)

    def eof_received(self) -> bool:
        """The client is done sending (a half-close): the requests it sent whole are still
        answered (the transport stays open for that), then the connection ends."""
        self._eof = True
        self._input_ended()
        return not self.closing

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._next()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = []
        self._headers = []
        self._length = None
        self._chunked = False
        self._expect = False
        self._host = None
        self._request_id = None

    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        if len(headers) >= MAX_HEADERS:
            raise _Refusal(431, f"Request Header Fields Too Large: more than {MAX_HEADERS} headers")
        lower = name.lower()
        if lower == b"host":
            if self._host is None:
                self._host = value
        elif lower == b"content-length":
            self._length = value
        elif lower == b"transfer-encoding":
            self._chunked = True
        elif lower == b"x-request-id":
            if self._request_id is None:
                self._request_id = value
        elif lower == b"expect":
            self._expect = value.lower() == b"100-continue"
        headers.append((lower, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        url = self._url[0] if len(self._url) == 1 else b"".join(self._url)
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
        else:  # absolute form (a proxy's request) or `*`
            try:
                parsed = httptools.parse_url(url)
                raw_path, query = parsed.path or b"/", parsed.query or b""
            except httptools.HttpParserInvalidURLError:
                raw_path, query = url, b""
        self._headed(parser.get_method().decode("ascii"), parser.get_http_version(), raw_path, query, self._headers,
                     self._host, self._request_id, self._length, self._chunked, self._expect,
                     parser.should_keep_alive())
        self._head_bytes = 0

    def _headed(self, method: str, version: str, raw_path: bytes, query: bytes, headers: list[tuple[bytes, bytes]],
                host: bytes | None, request_id: bytes | None, length: bytes | None, chunked: bool, expect: bool,
                keep_alive: bool) -> None:
        """A request head read, by llhttp or as a plain head (`_feed`): its exchange starts,
        or waits for the one in progress."""
        text = raw_path.decode("latin-1")
        scope = {"type": "http", "asgi": _ASGI, "http_version": version, "server": self._local,
                 "client": self._client, "scheme": "http", "method": method, "root_path": "",
                 "path": unquote(text) if "%" in text else text, "raw_path": raw_path, "query_string": query,
                 "headers": headers}
        head = Head(None if host is None else host.decode("latin-1"),
                    new_request_id() if request_id is None else request_id_of(request_id.decode("latin-1")),
                    length is None and not chunked)
        exchange = _Exchange(self, scope, head, keep_alive, expect and version == "1.1", length is not None)
        self.parsing = exchange
        # The parser accepts one valid Content-Length: its body is fed whole, and what follows
        # it (pipelined requests) a head at a time. A chunked body goes FEED_BYTES at a time.
        self._body_left = int(length) if length is not None else 0
        if self.active is None:
            self._start(exchange)
        else:
            self.queue.append(exchange)

    def on_body(self, body: bytes) -> None:
        if self._body_left:
            self._body_left -= len(body)
        exchange = self.parsing
        assert exchange is not None  # a body comes between its head and its message's end
        exchange.chunks.append(body)
        exchange.buffered += len(body)
        if exchange.buffered > BODY_BUFFER_BYTES:
            self._update_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        self._in_message = False
        exchange = self.parsing
        self.parsing = None
        if exchange is not None:
            exchange.body_complete = True
            exchange.wake()

    # The connection's own work

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closing:
            self.transport.write(data)

    async def drained(self) -> None:
        if self.write_paused and not self.closing:
            self._drain = self.server.loop.create_future()
            await self._drain

    def body_taken(self) -> None:
        """The app took the buffered body: the connection may read on."""
        self._update_reading()

    def exchange_done(self, exchange: _Exchange) -> None:
        """The response is written: the next request (pipelined, or the next to come) may start."""
        if exchange is not self.active:
            return
        self.active = None
        if not exchange.body_complete:
            exchange.keep_alive = False  # the rest of its body would have to be read first
        if not exchange.keep_alive or self.closing or self.draining:
            self._close()
            return
        self._next()

    def _next(self) -> None:
        """Starts what waits for the connection: a pipelined request, a refusal, or reading the
        next request; not while the client leaves its answers unread (then `resume_writing`)."""
        if self.active is not None or self.closing:
            return
        if self.write_paused:
            self.deadline = self.server.loop.time() + UNREAD_TIMEOUT_S
            self._update_reading()
            return
        if self.queue:
            self._start(self.queue.popleft())
        elif self.refusal is not None:
            self._refuse(self.refusal)
            return
        else:
            self.deadline = self.server.loop.time() + HEAD_TIMEOUT_S
        if self._unparsed and not self._held():
            data, self._unparsed = self._unparsed, b""
            self._feed(data)
        if self._eof:
            self._input_ended()
        self._update_reading()

    def _input_ended(self) -> None:
        """After the client's half-close, once what it sent is parsed: a request whose body
        was cut short is abandoned (its app hears that the client is gone), and the
        connection ends once the requests that came whole are answered."""
        if self._unparsed:
            return  # parsed when the requests before it are answered
        broken, self.parsing = self.parsing, None
        if broken is not None:  # still parsing: its body never came whole
            broken.disconnected = True
            broken.wake()
            if broken is self.active:
                self.active = None
            elif broken in self.queue:
                self.queue.remove(broken)
        if self.active is None and not self.queue and self.refusal is None:
            self._close()

    def shut_down(self) -> None:
        """The server stops: an idle connection closes now, a busy one after its response."""
        self.draining = True
        if self.active is None:
            self._close()

    def expire(self, now: float) -> None:
        """Closes a connection whose head or next request did not come in time, or whose client
        left answers unread; one already closed whose last answer is still unread is cut off."""
        if self.deadline is None or now <= self.deadline or self.active is not None:
            return
        if self.closing:
            self.abort()
        else:
            self._close()

    def _start(self, exchange: _Exchange) -> None:
        self.active = exchange
        self.deadline = None
        if (exchange.bodyless or exchange.sized) and self.server.begin_pass is not None:
            self.server.begin_soon(exchange)
        else:
            self.server.loop.create_task(self.server.run_app(exchange))

    def _held(self) -> bool:
        """Whether data must wait: a complete request waits for the one before it, and any
        request for a client that does not read its answers."""
        return self.refusal is not None or bool(self.queue) or self.write_paused or \
            (self.active is not None and self.parsing is None and self.active.body_complete)

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        exchange = self.parsing
        full = self.write_paused or len(self._unparsed) > READ_AHEAD_BYTES or \
            (exchange is not None and exchange.buffered > BODY_BUFFER_BYTES)
        if full and self._reading:
            self._reading = False
            transport.pause_reading()
        elif not full and not self._reading:
            self._reading = True
            transport.resume_reading()

    def _feed(self, data: bytes) -> None:
        """Parses `data`: a body whole, a head FEED_BYTES at a time (see FEED_BYTES)."""
        parser = self.parser
        offset, size = 0, len(data)
        try:
            while offset < size:
                if self._held():
                    self._unparsed = data[offset:]
                    break
                if self.parsing is not None:  # a body: as much of it as came, and no more
                    left = self._body_left
                    end = min(size, offset + (left if left else FEED_BYTES))
                else:
                    if not self._in_message:  # the common head, read in one call (ext/http1_head.h)
                        plain = _core.http1_head(data, offset, MAX_HEADERS, MAX_HEAD_BYTES)
                        if plain is not None:
                            offset = plain[0]
                            self._headed(*plain[1:], length=None, chunked=False, expect=False, keep_alive=True)
                            self.on_message_complete()
                            continue
                    end = min(size, offset + FEED_BYTES)
                    self._head_bytes += end - offset
                parser.feed_data(data if end - offset == size else data[offset:end])
                offset = end
                if self._head_bytes > MAX_HEAD_BYTES:  # reset when a head completes
                    raise _Refusal(431, f"Request Header Fields Too Large: the head exceeds {MAX_HEAD_BYTES} bytes")
        except httptools.HttpParserUpgrade:
            # An Upgrade or CONNECT request: answered as plain HTTP, then the connection ends.
            self._upgraded = True
            self._unparsed = b""
            for exchange in (self.active, *self.queue):
                if exchange is not None:
                    exchange.keep_alive = False
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if not isinstance(cause, _Refusal):  # a bug of ours in a callback: logged, and a 500
                self.server.log.emit("error", "server", message=f"HTTP parser callback failed: {cause!r}",
                                     stack="".join(traceback.format_exception(cause)) if cause else None)
                cause = _Refusal(500, "Internal Server Error")
            self._refuse(cause)
        except _Refusal as refusal:
            self._refuse(refusal)
        except httptools.HttpParserError as exc:
            if data.startswith(b"PRI * HTTP/2.0"):  # HTTP/2 with prior knowledge (h2c)
                self._refuse(_Refusal(505, "HTTP Version Not Supported: this server speaks HTTP/1.1 "
                                           "(serve --server hypercorn for h2c)"))
            else:
                self._refuse(_Refusal(400, f"Bad Request: {exc}"))
        self._update_reading()

    def _refuse(self, refusal: _Refusal) -> None:
        """Answers a request the parser refused, after the one being served, and closes. A
        request whose body the error cut short gets the refusal itself: its app, waiting for
        the rest of the body, hears that the client is gone."""
        self._unparsed = b""
        broken, self.parsing = self.parsing, None
        if broken is not None and not broken.body_complete:
            broken.disconnected = True
            broken.wake()
            if broken is self.active:
                self.active = None
                if broken.head_written:  # its answer is on its way: it cannot become a 400
                    self.abort()
                    return
            else:
                self.queue.remove(broken)
        if self.active is not None or self.queue:
            self.refusal = refusal
            return
        self.refusal = None
        self.write(_plain_answer(refusal.status, refusal.text, self.server.date.line()))
        self._close()

    def _close(self) -> None:
        """Closes once what was written is sent; past UNREAD_TIMEOUT_S unread, `expire` aborts."""
        self.closing = True
        self.deadline = self.server.loop.time() + UNREAD_TIMEOUT_S
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Ends the connection at once, dropping what waits to be sent: a truncated answer."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class H1Server:
    """The listening socket, its connections and the app; stops in `drain` as the others do."""

    def __init__(self, app: App, loop: asyncio.AbstractEventLoop, log: JsonLogger, *,
                 begin_pass: Callable[[list[tuple[Scope, bytes | None, Head]], list[AnswerFrame], bytes],
                                      list[Begun | None | Exception]] | None = None,
                 answered: Callable[[], None] | None = None) -> None:
        """`begin_pass` begins requests' JS at once, given their whole bodies, when it can
        (ServerApp.begin_pass; see `_js_pass`), with how to frame each answer and the date
        line; `answered` is told after each pass that answered requests."""
        self.app = app
        self.begin_pass = begin_pass
        self._answered = answered
        self.loop = loop
        self.log = log
        self.date = HttpDate()
        self.connections: set[H1Connection] = set()
        self.draining = False
        self.connections_changed: Callable[[], None] | None = None  # told as a connection ends (acceptor.Acceptor)
        self._idle = asyncio.Event()
        self._ready: list[_Exchange] = []

    def begin_soon(self, exchange: _Exchange) -> None:
        """Queues a request for the loop's next JS pass."""
        if not self._ready:
            self.loop.call_soon(self._js_pass)
        self._ready.append(exchange)

    def _js_pass(self) -> None:
        """The requests read whole in one pass of the loop: first the JS of each (`begin_pass`,
        one after another, while V8's code and data are in the CPU's caches: see app.Begun),
        then their answers; a request that needs more (an isolate, time, a stream) goes on
        as a task, as one whose body is still coming does."""
        ready, self._ready = self._ready[:JS_PASS_MAX], self._ready[JS_PASS_MAX:]
        if self._ready:
            self.loop.call_soon(self._js_pass)
        assert self.begin_pass is not None
        whole = [exchange for exchange in ready if exchange.bodyless or exchange.body_complete]
        try:
            states = self.begin_pass([(exchange.scope, None if exchange.bodyless else exchange.whole_body(),
                                       exchange.head) for exchange in whole],
                                     [exchange.frame() for exchange in whole], self.date.line())
        except Exception as exc:  # a bug of ours: these requests' 500s
            states = [exc] * len(whole)
        begun: dict[_Exchange, Begun | None | Exception] = dict(zip(whole, states, strict=True))
        for exchange in ready:
            state = begun.get(exchange)  # None: its body is still coming, and the app's ASGI call reads it
            if state is None:
                self.loop.create_task(self.run_app(exchange))
            elif isinstance(state, Exception):
                self._failed(exchange, state)
            else:
                if not exchange.bodyless:
                    exchange.take_body()  # the app has it: its `receive` says only that the client left
                try:
                    if (framed := state.framed) is not None and state.frame is not None:
                        exchange.respond_framed(*framed, state.frame)
                        state.answered(framed[0])
                    elif (result := state.whole_result()) is not None:
                        self._answer_whole(exchange, state, result)
                    elif (answer := state.answer()) is None:
                        self.loop.create_task(self.run_app(exchange, state))
                    else:
                        exchange.respond(*answer)
                except Exception as exc:
                    self._failed(exchange, exc)
        if self._answered is not None:
            self._answered()

    @staticmethod
    def _answer_whole(exchange: _Exchange, begun: Begun, result: FetchResult) -> None:
        """Writes a JS answer in hand and logs it; one the core refuses is logged as the 500
        the caller's `_failed` sends."""
        try:
            exchange.respond_whole(result.status, result.headers, result.body, begun.ctx.request_id)
        except Exception:
            begun.answered(500)
            raise
        begun.answered(result.status)

    def _failed(self, exchange: _Exchange, exc: BaseException) -> None:
        self._report(exc)
        exchange.fail()

    def _report(self, exc: BaseException) -> None:
        """Logs a failure the app did not answer for: a bug of ours."""
        self.log.emit("error", "server", message=f"exception in the ASGI app: {exc!r}",
                      stack="".join(traceback.format_exception(exc)))

    async def run_app(self, exchange: _Exchange, begun: Begun | None = None) -> None:
        """Runs the app for one request (the rest of one `begun`); a failure is a 500, or the
        connection's end once part of the response is out."""
        try:
            if begun is None:
                await self.app(exchange.scope, exchange.receive, exchange.send)
            else:
                await begun.resume(exchange.scope, exchange.receive, exchange.send)
        except Exception as exc:
            # After the response's start the app has logged why it broke off (a stream that
            # failed or stalled); before it, the failure is a bug the app did not answer for.
            if not exchange.started and not isinstance(exc, OSError):
                self._report(exc)
            exchange.fail()
        except asyncio.CancelledError:
            exchange.fail()
            raise
        else:
            exchange.fail()  # an app that returned without finishing its response

    def connection_closed(self) -> None:
        if self.connections_changed is not None:
            self.connections_changed()
        if not self.connections:
            self._idle.set()

    async def sweep(self) -> None:
        """Closes connections past their head or keep-alive deadline."""
        while True:
            await asyncio.sleep(SWEEP_S)
            now = self.loop.time()
            for conn in list(self.connections):
                conn.expire(now)

    async def drain(self, graceful_s: float) -> None:
        """Closes idle connections, lets busy ones finish their response for up to
        `graceful_s`, then aborts the rest."""
        self.draining = True
        for conn in list(self.connections):
            conn.shut_down()
        if self.connections:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), graceful_s)
            except TimeoutError:
                for conn in list(self.connections):
                    conn.abort()


def serve(config: ServerConfig, *, reload: bool = False, listen_channel: int | None = None,
          logger: JsonLogger | None = None, run_crons: bool = True) -> None:
    """Runs the server on the h1 server until SIGTERM or SIGINT, then drains in-flight requests and returns."""
    async def on_h1(app: ServerApp, serving: ServingSocket | None, stop: asyncio.Event, log: JsonLogger) -> None:
        loop = asyncio.get_running_loop()
        await app.start()  # once only: under the supervisor, run_server has loaded the apps already
        server = H1Server(app, loop, log, begin_pass=app.begin_pass, answered=app.serving)
        listener: Acceptor | asyncio.AbstractServer
        if serving is not None:  # the supervisor's socket, which the workers share: see acceptor.py
            listener = Acceptor(loop, socket.socket(fileno=serving.fd), lambda: H1Connection(server), log,
                                serving.loads, serving.slot, lambda: len(server.connections))
            server.connections_changed = listener.update
            listener.start()
        else:
            listener = await loop.create_server(lambda: H1Connection(server), config.host, config.port,
                                                backlog=1024, reuse_address=True)
        sweeping = asyncio.ensure_future(server.sweep())
        try:
            await stop.wait()
        finally:
            listener.close()
            await server.drain(config.graceful_timeout_s())
            sweeping.cancel()
            await app.shutdown()

    run_server(config, on_h1, fast=True, reload=reload, listen_channel=listen_channel, logger=logger,
               run_crons=run_crons)
