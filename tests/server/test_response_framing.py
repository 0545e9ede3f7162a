"""The framing headers of a whole response, on every server.

Content-Length (RFC 9110 8.6): none on a 204; on a 304, and on an answer to HEAD without
the body, the length the app gave (a HEAD passed on with fetch() has the upstream's); else
the body's own length, whatever the app said. Date (RFC 9110 6.6.1): exactly one, the app's
if it gave one (an upstream's, passed on with fetch()), else the server's. Each answer leaves
its connection usable: the next request on it is answered right."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import HTTP_SERVERS
from fetch_upstream import Upstream
from test_h1_server import Reader, connect

APP = textwrap.dedent("""\
    export default {
      async fetch(request) {
        const url = new URL(request.url);
        const [, kind, arg] = url.pathname.split("/");
        switch (kind) {
          case "204": return new Response(null, { status: 204, headers: { "content-length": "0" } });
          case "304": return new Response(null, { status: 304, headers: arg ? { etag: '"v1"', "content-length": arg }
                                                                              : { etag: '"v1"' } });
          case "bodiless": return new Response(null, { headers: { "content-length": arg } });
          case "lying": return new Response("four", { headers: { "content-length": "99" } });
          case "streamed": return new Response(new ReadableStream({
            pull(controller) { controller.enqueue(new TextEncoder().encode("streamed")); controller.close(); },
          }), { headers: { "content-length": "8" } });
          case "proxy": return fetch(url.searchParams.get("target"), { method: request.method });
          case "dated": return new Response("dated", { headers: { date: "Mon, 01 Jan 2001 00:00:00 GMT" } });
          default: return new Response("hello");
        }
      },
    };
    """)

CONFIG = textwrap.dedent("""\
    [[apps]]
    name = "framing"
    script = "worker.js"
    routes = ["/*"]
    [apps.egress]
    allow = ["127.0.0.1"]
    """)


@pytest.mark.parametrize("server_name", HTTP_SERVERS)
def test_content_length_follows_the_status_and_the_method(start_server, tmp_path: Path, server_name: str,
                                                          upstream: Upstream):
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    server = start_server("--config", "pyruntime.toml", "--server", server_name)
    # (method, path, expected status, expected Content-Length or None for none, expected body)
    # The Reader refuses a head with any header twice.
    cases = [
        ("GET", "/204", 204, None, b""),
        ("GET", "/304", 304, None, b""),
        # Granian's HTTP library drops a 304's Content-Length; the other two keep the app's.
        ("GET", "/304/1234", 304, None if server_name == "granian" else "1234", b""),
        ("GET", "/304/-1", 304, None, b""),
        ("GET", "/304/1,2", 304, None, b""),
        ("GET", "/304/" + "9" * 40, 304, None, b""),
        ("HEAD", "/bodiless/4321", 200, "4321", b""),
        ("HEAD", "/hello", 200, "5", b""),
        ("GET", "/hello", 200, "5", b"hello"),
        ("GET", "/lying", 200, "4", b"four"),
        ("HEAD", "/lying", 200, "4", b""),
        ("HEAD", "/streamed", 200, "8", b""),
        ("GET", "/streamed", 200, None, b"streamed"),
        # The upstream's GET body is "hello from upstream": its HEAD says 19.
        ("HEAD", f"/proxy?target={upstream.url}/plain", 200, "19", b""),
    ]
    with connect(server) as sock:
        reader = Reader(sock)
        for method, path, status, length, body in cases:
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
            got_status, headers, got_body = reader.response(head_only=method == "HEAD")
            assert (got_status, got_body) == (status, body), (method, path)
            assert headers.get("content-length") == length, (method, path, headers)
            assert headers["date"].endswith(" GMT"), (method, path, headers)
        sock.sendall(b"GET /dated HTTP/1.1\r\nHost: a.test\r\n\r\n")
        status, headers, body = reader.response()
        assert (status, body, headers["date"]) == (200, b"dated", "Mon, 01 Jan 2001 00:00:00 GMT")
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert reader.response()[::2] == (200, b"hello")
    assert [record["method"] for record in upstream.seen] == ["HEAD"]
