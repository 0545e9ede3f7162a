"""The request's URL and route from what the client sent, the same on every server: an
absolute-form target (`GET http://host/path`, RFC 9112 3.2.2) is routed and seen by the app
by its path, under the Host header's authority; a request with no Host (HTTP/1.0) or an
empty one (a target with no authority, RFC 9112 3.2) gets the server's own address; bytes
past ASCII in a target are percent-encoded once."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import HTTP_SERVERS
from test_h1_server import Reader, connect

APP = textwrap.dedent("""\
    export default {
      fetch(request, env) {
        return new Response(JSON.stringify({ app: env.NAME, url: request.url }));
      },
    };
    """)

CONFIG = textwrap.dedent("""\
    [[apps]]
    name = "api"
    script = "worker.js"
    routes = ["/api/*"]
    env = { NAME = "api" }

    [[apps]]
    name = "site"
    script = "worker.js"
    routes = ["/*"]
    env = { NAME = "site" }
    """)


@pytest.mark.parametrize("server_name", HTTP_SERVERS)
def test_the_url_and_route_come_from_the_path_and_the_host(start_server, tmp_path: Path, server_name: str):
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    server = start_server("--config", "pyruntime.toml", "--server", server_name)
    own = f"http://127.0.0.1:{server.port}"
    cases = [
        (b"GET http://other.example/api/x?z=1 HTTP/1.1\r\nHost: a.test\r\n\r\n", "api", "http://a.test/api/x?z=1"),
        (b"GET http://other.example HTTP/1.1\r\nHost: a.test\r\n\r\n", "site", "http://a.test/"),
        (b"GET /api/y HTTP/1.1\r\nHost: a.test\r\n\r\n", "api", "http://a.test/api/y"),
        (b"GET /api/z HTTP/1.1\r\nHost:\r\n\r\n", "api", f"{own}/api/z"),
        (b"GET /page HTTP/1.0\r\n\r\n", "site", f"{own}/page"),
    ]
    for raw, app, url in cases:
        with connect(server) as sock:
            sock.sendall(raw)
            status, _, body = Reader(sock).response()
        assert (status, json.loads(body)) == (200, {"app": app, "url": url}), raw
    # Bytes past ASCII in the target: h1 and Hypercorn refuse them (RFC 9112 3.2 allows none);
    # Granian passes them on, and the URL has each byte percent-encoded once.
    with connect(server) as sock:
        sock.sendall(b"GET /caf\xc3\xa9?q=\xc3\xa9 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        status, _, body = Reader(sock).response()
    if server_name == "granian":
        assert (status, json.loads(body)["url"]) == (200, "http://a.test/caf%C3%A9?q=%C3%A9")
    else:
        assert status == 400
