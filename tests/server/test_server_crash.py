"""A worker process that aborts is contained by the supervisor: it replaces it, even with one
worker, and what the dying process wrote reaches the log as JSON lines.

The abort is sent from the test (SIGABRT, the signal V8's fatal paths end a process with):
the JS paths that reach a V8 fatal error are being pre-empted one by one, and the ones left
take tens of seconds of CPU on a busy machine.
"""

import os
import signal
import threading
import time
from pathlib import Path

import httpx

SLOW_APP = """
export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/slow") {
      console.log("slow request started");
      await new Promise(resolve => setTimeout(resolve, 20000));
    }
    return new Response("alive");
  },
};
"""


def test_an_aborted_worker_is_replaced_and_its_output_logged_as_json(start_server, tmp_path: Path):
    script = tmp_path / "app" / "worker.js"
    script.parent.mkdir()
    script.write_text(SLOW_APP)
    # The faulthandler makes the dying worker write raw text on stderr, as V8's fatal path does.
    server = start_server(str(script), "--name", "fragile", env={"PYTHONFAULTHANDLER": "1"})
    first = server.wait_for_event("worker_started")[0]["worker_pid"]
    assert httpx.get(server.url + "/", timeout=30).text == "alive"
    # A request in flight on the worker when it dies: the connection goes with the process.
    outcome: list[object] = []

    def slow() -> None:
        try:
            outcome.append(httpx.get(server.url + "/slow", timeout=60))
        except httpx.TransportError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    server.wait_for_event("console", timeout=30)
    os.kill(first, signal.SIGABRT)
    thread.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError)
    exited = server.wait_for_event("worker_exited", timeout=30)
    assert exited[0]["worker_pid"] == first and exited[0]["reason"] == "signal SIGABRT"
    output = server.events("worker_output", worker_pid=first, stream="stderr")
    assert any("Fatal Python error: Aborted" in line["message"] for line in output), output
    assert all(line["level"] == "error" and line["pid"] != first for line in output)

    # The supervisor kept the listening socket: the next request waits for the replacement.
    deadline = time.monotonic() + 60
    while True:
        try:
            response = httpx.get(server.url + "/", timeout=30)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "no replacement worker answered"
            time.sleep(0.2)
    assert response.status_code == 200 and response.text == "alive"
    second = server.wait_for_event("worker_started", count=2)[1]["worker_pid"]
    assert second != first
    assert server.stop() == 0
    server.log_lines()  # every line is JSON (this raises on any other line)
