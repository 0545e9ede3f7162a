"""The plain request heads h1 reads in one call (`_core.http1_head`, ext/http1_head.h) read
as llhttp reads them: thousands of random heads, plain and not, each also given to llhttp
(httptools, the parser h1 uses for every other head). A head read in one call must be one
llhttp accepts whole, with the same method, version, target, headers and keep-alive, and
ending at the same byte; what llhttp refuses must never be read in one call."""

from __future__ import annotations

import random

import httptools

from pyruntime import _core
from pyruntime.server.h1_server import MAX_HEAD_BYTES, MAX_HEADERS

CASES = 20_000
METHODS = ["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "get", "BREW",
           "M-SEARCH", "PROPFIND", "G ET", ""]
TARGET_CHARS = [chr(c) for c in range(0x21, 0x7F)] + ["/", "/", "a", "%", "?", " ", "\t", "\x00", "\xe9"]
VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 ", "http/1.1", "HTTP/1"]
NAMES = ["Host", "host", "X-Request-ID", "Accept", "User-Agent", "Connection", "Content-Length", "Transfer-Encoding",
         "Upgrade", "Expect", "X-Custom", "Cookie", "Bad Name", "Bad:Name", "X-\xe9", "", "X_Under", "X-A!#$%&'*+.^`|~"]
VALUE_CHARS = [chr(c) for c in range(0x20, 0x7F)] + ["\t", "\x00", "\x01", "\x7f", "\r", "\n", "\xe9", "\xff", ","]
CONNECTIONS = ["keep-alive", "close", "Keep-Alive", "upgrade", "keep-alive, close", "  keep-alive ", "te", ""]


PLAIN_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
PLAIN_TARGET_CHARS = "abcXYZ019-._~%!$&'()*+,;=:@/?"
PLAIN_NAMES = ["Host", "X-Request-ID", "Accept", "User-Agent", "Cookie", "X-Custom", "connection", "x-a!#$%&'*+.^`|~"]
PLAIN_VALUE_CHARS = "abc XYZ 019\t,;=\"'()<>@[]{}\\/?:\xe9\xff~"


def _plain(rng: random.Random) -> str:
    """A head of the kind read in one call, mostly."""
    target = "/" + "".join(rng.choice(PLAIN_TARGET_CHARS) for _ in range(rng.randrange(16)))
    lines = [f"{rng.choice(PLAIN_METHODS)} {target} {rng.choice(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'])}"]
    for _ in range(rng.randrange(0, 8)):
        name = rng.choice(PLAIN_NAMES)
        value = rng.choice(CONNECTIONS) if name == "connection" else \
            "".join(rng.choice(PLAIN_VALUE_CHARS) for _ in range(rng.randrange(12)))
        lines.append(name + ":" + rng.choice(["", " ", "  ", "\t"]) + value)
    if lines[0].endswith("1.0") and rng.random() < 0.8:
        lines.append("Connection: keep-alive")
    return "\r\n".join(lines) + "\r\n\r\n"


def _target(rng: random.Random) -> str:
    start = rng.choice(["/", "/", "/", "*", "http://a.example/", ""])
    return start + "".join(rng.choice(TARGET_CHARS) for _ in range(rng.randrange(0, 24)))


def _value(rng: random.Random, name: str) -> str:
    if name.lower() == "connection" and rng.random() < 0.7:
        return rng.choice(CONNECTIONS)
    if name.lower() == "content-length":
        return rng.choice(["0", "5", "-1", "a"])
    text = "".join(rng.choice(VALUE_CHARS) if rng.random() < 0.1 else rng.choice("abc 123") for _ in range(
        rng.randrange(0, 16)))
    return rng.choice(["", " ", "  ", "\t"]) + text + rng.choice(["", " ", "\t "])


def _hostile(rng: random.Random) -> str:
    line_end = "\r\n" if rng.random() < 0.97 else rng.choice(["\n", "\r", "\r\r\n"])
    lines = [f"{rng.choice(METHODS)}{rng.choice([' ', ' ', ' ', '  '])}{_target(rng)} {rng.choice(VERSIONS)}"]
    for _ in range(rng.randrange(0, 7)):
        name = rng.choice(NAMES)
        separator = rng.choice([":", ":", ":", ": ", " :"])
        lines.append(f"{name}{separator}{_value(rng, name)}")
        if rng.random() < 0.02:
            lines.append(" folded")
    return line_end.join(lines) + "\r\n\r\n"


def _head(rng: random.Random) -> bytes:
    """A random head: plain or hostile, and a third of them with one byte changed or added."""
    data = bytearray((_plain(rng) if rng.random() < 0.6 else _hostile(rng)).encode("latin-1"))
    if rng.random() < 0.3:
        at = rng.randrange(len(data) - 4)  # not in the blank line that ends it
        byte = rng.choice([0, 9, 10, 13, 32, 35, 58, 127, 0x80, 0xFF, rng.randrange(256)])
        if rng.random() < 0.5:
            data[at] = byte
        else:
            data.insert(at, byte)
    return bytes(data)


class _Llhttp:
    """What llhttp made of a head: its request, or its error."""

    def __init__(self, data: bytes) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = 0
        self.began = 0
        self.next_url = b""
        self.error: Exception | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.method = self.version = ""
        self.keep_alive = False
        try:
            self.parser.feed_data(data + b"GET /next HTTP/1.1\r\n\r\n")
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:  # refused, or another protocol
            self.error = exc

    def on_message_begin(self) -> None:
        self.began += 1

    def on_url(self, url: bytes) -> None:
        if self.began == 1:
            self.url += url
        else:
            self.next_url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.began == 1:
            self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.began == 1:
            self.method = self.parser.get_method().decode("ascii")
            self.version = self.parser.get_http_version()
            self.keep_alive = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self.complete += 1


def _first(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def test_plain_heads_are_read_as_llhttp_reads_them():
    rng = random.Random(20261205)
    read = 0
    for _ in range(CASES):
        data = _head(rng)
        plain = _core.http1_head(data, 0, MAX_HEADERS, MAX_HEAD_BYTES)
        if plain is None:
            continue
        read += 1
        end, method, version, raw_path, query, headers, host, request_id = plain
        llhttp = _Llhttp(data)
        assert llhttp.error is None, (data, llhttp.error)
        assert end == len(data)
        assert llhttp.complete == 2 and llhttp.next_url == b"/next", data  # the next request starts where it ended
        assert (method, version, llhttp.keep_alive) == (llhttp.method, llhttp.version, True), data
        assert raw_path + (b"?" + query if b"?" in llhttp.url else b"") == llhttp.url, data
        assert headers == llhttp.headers, data
        assert host == _first(llhttp.headers, b"host") and request_id == _first(llhttp.headers, b"x-request-id")
    assert read > CASES // 5, f"only {read} of {CASES} heads were plain: the generator misses the common case"


def test_a_head_is_read_at_its_offset_and_only_whole():
    data = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b?q HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nHo"
    first = _core.http1_head(data, 0, MAX_HEADERS, MAX_HEAD_BYTES)
    second = _core.http1_head(data, first[0], MAX_HEADERS, MAX_HEAD_BYTES)
    assert first[3] == b"/a" and first[6] == b"x"
    assert second[3:5] == (b"/b", b"q") and second[5] == []
    assert _core.http1_head(data, second[0], MAX_HEADERS, MAX_HEAD_BYTES) is None  # not whole yet


def test_heads_past_the_bounds_are_left_to_llhttp():
    many = b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n"
    assert _core.http1_head(many, 0, MAX_HEADERS, MAX_HEAD_BYTES) is None  # llhttp's path answers 431
    assert _core.http1_head(many, 0, MAX_HEADERS + 1, MAX_HEAD_BYTES) is not None
    big = b"GET / HTTP/1.1\r\nX-A: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
    assert _core.http1_head(big, 0, MAX_HEADERS, MAX_HEAD_BYTES) is None
    try:
        _core.http1_head(b"GET / HTTP/1.1\r\n\r\n", 99, MAX_HEADERS, MAX_HEAD_BYTES)
    except ValueError as exc:
        assert "offset 99" in str(exc)
    else:
        raise AssertionError("an offset past the data was read")
