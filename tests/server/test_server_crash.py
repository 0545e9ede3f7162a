"""A V8 abort kills only a worker process: the supervisor replaces it, even with one worker."""

import time
from pathlib import Path

import httpx
import pytest

ABORTING_APP = """
export default {
  fetch(request) {
    // A length getter that answers 1 to the builtin guard and 2**32-1 to V8: a dictionary-mode
    // fill no termination reaches. The process guard (or V8's OOM path) ends the worker.
    if (new URL(request.url).pathname === "/abort") {
      let n = 0;
      Array.prototype.fill.call({ get length() { return n++ ? 2 ** 32 - 1 : 1 } }, 0);
    }
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
    # The worker said why, as one JSON line, before it ended (ext/process_guard.h).
    assert exited[0]["reason"] in ("exit code 87", "exit code 88")
    ended = server.wait_for_event("worker_abort" if exited[0]["reason"] == "exit code 87" else "v8_fatal")
    assert ended[0]["pid"] == first["worker_pid"]
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
