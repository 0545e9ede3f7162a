"""Streamed response bodies over real HTTP: chunks arrive as JS produces them, and a stream
that fails midway closes the connection instead of passing for a complete body."""

import time
from pathlib import Path

import httpx
import pytest
from conftest import HTTP_SERVERS

STREAMING_APP = """
const encoder = new TextEncoder();
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/ticks") {
      let n = 0;
      return new Response(new ReadableStream({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 150));
          controller.enqueue(encoder.encode(`tick ${n}\\n`));
          if (++n === 4) controller.close();
        },
      }), { headers: { "content-type": "text/plain" } });
    }
    if (path === "/spin") {
      return new Response(new ReadableStream({
        start(controller) { controller.enqueue(encoder.encode("first")); },
        pull() { while (true) {} },
      }));
    }
    if (path === "/error") {
      return new Response(new ReadableStream({
        pull(controller) { controller.error(new Error("source failed")); },
      }));
    }
    return new Response("plain");
  },
};
"""


@pytest.fixture(params=HTTP_SERVERS)
def server(start_server, tmp_path: Path, request: pytest.FixtureRequest):
    """The streaming app, on each HTTP server that `serve --server` offers."""
    script = tmp_path / "app" / "worker.js"
    script.parent.mkdir()
    script.write_text(STREAMING_APP)
    return start_server(str(script), "--server", request.param, "--name", "streams")


def test_chunks_arrive_as_they_are_produced(server):
    arrivals = []
    with httpx.stream("GET", server.url + "/ticks", timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain"
        assert "content-length" not in response.headers
        for line in response.iter_lines():
            arrivals.append((time.monotonic(), line))
    assert [line for _, line in arrivals] == ["tick 0", "tick 1", "tick 2", "tick 3"]
    # Each chunk waited for its own timer: the body was not buffered until the end.
    assert arrivals[-1][0] - arrivals[0][0] > 0.3


@pytest.mark.parametrize(("path", "event"), [("/spin", "limit_exceeded"), ("/error", "error")])
def test_a_stream_failing_midway_never_passes_for_a_complete_body(server, path, event):
    try:
        with httpx.stream("GET", server.url + path, timeout=20) as response:
            status = response.status_code
            response.read()
    except httpx.TransportError:
        pass  # the status went out first (Hypercorn): the connection is cut, the body visibly truncated
    else:
        # Granian and h1 send the status with the first chunk: a stream failing before it is a plain 500
        assert status == 500
    server.wait_for_event(event, app="streams")
    assert httpx.get(server.url + "/", timeout=20).text == "plain"
    assert httpx.get(server.url + "/ticks", timeout=20).text.count("tick") == 4
