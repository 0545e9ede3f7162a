"""A V8 abort kills only a worker process: the supervisor replaces it, even with one worker."""

import time
from pathlib import Path

import httpx
import pytest

ABORTING_APP = """
export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/abort") new Array(2 ** 32 - 1).fill(0);  // fatal in V8
    return new Response("alive");
  },
};
"""


def test_a_fatal_v8_abort_is_contained_by_the_supervisor(start_server, tmp_path: Path):
    script = tmp_path / "app" / "worker.js"
    script.parent.mkdir()
    script.write_text(ABORTING_APP)
    server = start_server(str(script), "--name", "fragile")
    first = server.wait_for_event("worker_started")[0]
    assert httpx.get(server.url + "/", timeout=10).text == "alive"
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/abort", timeout=30)
    exited = server.wait_for_event("worker_exited", timeout=30)
    assert exited[0]["worker_pid"] == first["worker_pid"]
    # The supervisor kept the listening socket: the next request waits for the replacement.
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(server.url + "/", timeout=30)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "no replacement worker answered"
            time.sleep(0.2)
    assert response.status_code == 200 and response.text == "alive"
    assert server.stop() == 0
