"""A real HTTP/1.1 upstream on loopback for the outbound fetch tests, recording what it saw.

Paths: `/echo` (any method: JSON of method, path, headers and body size), `/redirect?status=&to=`,
`/loop/N` (redirects forever), `/bytes?n=` (n bytes, streamed in 64 KiB writes), `/drip` (a
chunked body that never ends: records when the client closes), `/slow?s=` (head after s
seconds), `/hold` (reads nothing, waits for the client to close), `/cut?n=` (says n bytes,
sends half of them and closes the connection), `/stall` (says 1000 bytes, sends 10, then
waits up to 30 s for the client to close: records it).
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024


class LoopbackHTTPServer(http.server.ThreadingHTTPServer):
    """The HTTP server of every test upstream. Clients that leave mid-exchange (a reset, a
    broken pipe) are what many of these tests make happen: they end that handler quietly
    instead of printing a traceback among the test run's output. Any other error still does."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Upstream:
    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.closed = threading.Event()  # a client closed a /drip, /bytes or /hold exchange early
        self.sent = 0                     # bytes written by /bytes and /drip
        self.connections: set[tuple[str, int]] = set()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> int:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    size = 0
                    while True:
                        length = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if length == 0:
                            self.rfile.readline()
                            return size
                        size += len(self.rfile.read(length))
                        self.rfile.readline()
                return len(self.rfile.read(int(self.headers.get("content-length") or 0)))

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                upstream.connections.add(self.client_address)
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                record = {"method": self.command, "path": self.path,
                          "headers": {k.lower(): v for k, v in self.headers.items()}}
                upstream.seen.append(record)
                if url.path == "/hold":
                    try:
                        while self.rfile.read(1):
                            pass
                    except OSError:
                        pass
                    upstream.closed.set()
                    return
                if url.path == "/slow":
                    time.sleep(float(query.get("s", "5")))
                record["body"] = self._body() if self.command not in ("GET", "HEAD") else 0
                if url.path == "/echo":
                    self._send(200, json.dumps(record).encode(), {"content-type": "application/json",
                                                                  "x-upstream": "yes"})
                elif url.path == "/redirect":
                    self._send(int(query.get("status", "302")), b"", {"location": query["to"]})
                elif url.path.startswith("/loop/"):
                    self._send(302, b"", {"location": f"/loop/{int(url.path[6:]) + 1}"})
                elif url.path == "/bytes":
                    self._stream_bytes(int(query["n"]))
                elif url.path == "/drip":
                    self._drip()
                elif url.path == "/stall":
                    self.send_response(200)
                    self.send_header("content-length", "1000")
                    self.end_headers()
                    self.wfile.write(b"s" * 10)
                    self.wfile.flush()
                    self.connection.settimeout(30)
                    try:
                        self.rfile.read(1)  # the client's close (or 30 s)
                    except OSError:
                        pass
                    upstream.closed.set()
                    self.close_connection = True
                elif url.path == "/cut":
                    total = int(query["n"])
                    self.send_response(200)
                    self.send_header("content-length", str(total))
                    self.end_headers()
                    self.wfile.write(b"c" * (total // 2))
                    self.close_connection = True
                else:
                    self._send(200, b"hello from upstream")

            def _stream_bytes(self, total: int) -> None:
                self.send_response(200)
                self.send_header("content-length", str(total))
                self.end_headers()
                block = b"x" * CHUNK
                left = total
                try:
                    while left > 0:
                        piece = block[:min(left, CHUNK)]
                        self.wfile.write(piece)
                        upstream.sent += len(piece)
                        left -= len(piece)
                except OSError:
                    upstream.closed.set()

            def _drip(self) -> None:
                self.send_response(200)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                try:
                    for _ in range(3000):  # bounded: one minute at most
                        self.wfile.write(b"400\r\n" + b"d" * 1024 + b"\r\n")
                        self.wfile.flush()
                        upstream.sent += 1024
                        time.sleep(0.02)
                except OSError:
                    upstream.closed.set()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle  # noqa: N815

        self.server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
