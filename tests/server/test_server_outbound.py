"""Outbound fetch from served apps, over real loopback HTTP, and the per-app host allowlist."""

import http.server
import threading
from pathlib import Path

import httpx
import pytest

from pyruntime.engine.host_ops import host_allowed
from pyruntime.server.config import ConfigError, load_config

PROXY_APP = """
export default {
  async fetch(request, env) {
    try {
      const upstream = await fetch(env.UPSTREAM + "/data");
      return new Response("upstream said: " + await upstream.text());
    } catch (e) {
      return new Response(`${e.message}: ${e.cause?.message}`, { status: 502 });
    }
  },
};
"""


class _Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"hello from upstream"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


def test_outbound_fetch_and_host_allowlist(start_server, tmp_path: Path, upstream: str):
    script = tmp_path / "proxy.js"
    script.write_text(PROXY_APP)
    config = tmp_path / "pyruntime.toml"
    config.write_text(f"""
[[apps]]
name = "open"
script = "proxy.js"
routes = ["/open/*"]
env = {{ UPSTREAM = "{upstream}" }}

[[apps]]
name = "closed"
script = "proxy.js"
routes = ["/closed/*"]
env = {{ UPSTREAM = "{upstream}" }}
outbound_hosts = ["api.example.com", "*.example.org"]
""")
    server = start_server("--config", str(config))
    opened = httpx.get(server.url + "/open/x", timeout=20)
    assert (opened.status_code, opened.text) == (200, "upstream said: hello from upstream")
    closed = httpx.get(server.url + "/closed/x", timeout=20)
    assert closed.status_code == 502
    assert "fetch to 'localhost' is not allowed for this app" in closed.text


def test_outbound_hosts_matching_and_validation(tmp_path: Path):
    assert host_allowed("anything.test", None)
    assert not host_allowed("anything.test", ())
    assert host_allowed("API.example.com", ("api.example.com",))
    assert host_allowed("a.b.example.org", ("*.example.org",))
    assert not host_allowed("example.org", ("*.example.org",))
    assert not host_allowed("evil-example.org", ("*.example.org",))
    (tmp_path / "w.js").write_text("export default { fetch() { return new Response('') } };")
    (tmp_path / "pyruntime.toml").write_text(
        '[[apps]]\nname = "a"\nscript = "w.js"\nroutes = ["/*"]\noutbound_hosts = ["http://x"]\n')
    with pytest.raises(ConfigError, match=r"apps\[0\] \(a\)\.outbound_hosts: expected a list of host names"):
        load_config(tmp_path / "pyruntime.toml")
