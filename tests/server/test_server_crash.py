"""A worker process that aborts is contained by the supervisor: it replaces it, even with one
worker, and what the dying process says reaches the log as JSON lines.

The first test reaches a real V8 fatal path, which the process guard ends with one JSON
line; the second crashes the worker with SIGBUS (a native crash the guard does not catch)
with the faulthandler on, so that the dying worker writes raw text on stderr, as V8 does,
and checks the supervisor turns it into JSON lines.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import HTTP_SERVERS, write_app

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



def assert_replacement_answers(server) -> None:
    """The supervisor kept the listening socket: the next request waits for the replacement."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = httpx.get(server.url + "/", timeout=30)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "no replacement worker answered"
            time.sleep(0.2)
    assert response.status_code == 200 and response.text == "alive"

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
    assert_replacement_answers(server)
    assert server.stop() == 0


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
    os.kill(first, signal.SIGBUS)
    thread.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError)
    exited = server.wait_for_event("worker_exited", timeout=30)
    output = server.events("worker_output", worker_pid=first, stream="stderr")
    assert any("Fatal Python error: Bus error" in line["message"] for line in output), output
    # The faulthandler's dump of every thread can itself crash on a thread caught mid-import
    # (the fetch client's warm-up after the first answer, on a busy machine): then the worker
    # ends on that SIGSEGV, and its output says so after the bus error.
    dump_crashed = any("Fatal Python error: Segmentation fault" in line["message"] for line in output)
    assert exited[0]["worker_pid"] == first
    assert exited[0]["reason"] == ("signal SIGSEGV" if dump_crashed else "signal SIGBUS"), (exited, output)
    assert all(line["level"] == "error" and line["pid"] != first for line in output)

    assert_replacement_answers(server)
    second = server.wait_for_event("worker_started", count=2)[1]["worker_pid"]
    assert second != first
    assert server.stop() == 0
    server.log_lines()  # every line is JSON (this raises on any other line)


def _running(pid: int) -> bool:
    """True while `pid` runs (a zombie no one reaped yet has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("server_name", HTTP_SERVERS)
def test_workers_of_a_killed_supervisor_exit_and_free_the_port(start_server, tmp_path: Path, server_name: str):
    script = tmp_path / "app" / "worker.js"
    script.parent.mkdir()
    script.write_text(SLOW_APP)
    server = start_server(str(script), "--name", "orphaned", "--workers", "2", "--server", server_name)
    workers = [line["worker_pid"] for line in server.wait_for_event("worker_started", count=2)]
    assert httpx.get(server.url + "/", timeout=30).text == "alive"
    # SIGKILL: the supervisor cannot stop its workers, and their log pipe loses its reader.
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 60
    while any(_running(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker of the killed supervisor is still running"
        time.sleep(0.2)
    # The port is free again: a new server can take it.
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", server.port))



def test_a_worker_knows_its_supervisor_after_the_supervisor_died(tmp_path: Path):
    """A worker whose supervisor died while it started (its parent is then another process)
    still finds the supervisor's pid on its listen channel, so it sees that it is orphaned and
    exits (asgi.stop_when_orphaned). Taking its parent's pid at that point, it served on."""
    script = textwrap.dedent("""
        import os, socket, time
        from pyruntime.server.supervisor import supervisor_pid
        ours, theirs = socket.socketpair()
        creator = os.getpid()
        if os.fork():
            os._exit(0)  # the supervisor dies; its child is reparented
        deadline = time.monotonic() + 30
        while os.getppid() == creator and time.monotonic() < deadline:
            time.sleep(0.01)
        print(creator, supervisor_pid(theirs.fileno()), os.getppid())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    creator, found, parent = map(int, done.stdout.split())
    assert found == creator != parent


def test_stopping_while_a_worker_still_starts_is_a_clean_stop(start_server, tmp_path: Path):
    """SIGTERM to serve while its second worker is still starting (before it set up its drain):
    our SIGTERM ends that worker by the signal itself, and the stop is still clean (exit 0).
    The second worker is held in its start by a sitecustomize that sleeps in spawned workers."""
    hold = tmp_path / "hold"
    hold.mkdir()
    (hold / "sitecustomize.py").write_text("import sys, time\nif '--worker-slot' in sys.argv: time.sleep(120)\n")
    server = start_server(str(write_app(tmp_path / "app")), "--workers", "2",
                          env={"PYTHONPATH": os.pathsep.join(filter(None, [str(hold), os.environ.get("PYTHONPATH")]))})
    assert httpx.get(server.url + "/hello", timeout=30).status_code == 200
    second = server.wait_for_event("worker_started", count=2)[1]["worker_pid"]
    assert not server.events("app_loaded", pid=second)  # still starting
    assert server.stop() == 0
    exited = [event for event in server.events("worker_exited") if event["worker_pid"] == second]
    assert exited and exited[0]["reason"] == "signal SIGTERM" and exited[0]["level"] == "info"
