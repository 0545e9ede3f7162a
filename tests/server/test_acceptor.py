"""Connections spread over the workers that share a listening socket (acceptor.py,
worker_loads.py): real sockets on loopback, the real event loop, workers as acceptors.

The balance is checked in one process, with two acceptors on one socket: both are woken for
each connection in the same pass of the loop, so the split is the rule's, not the scheduler's.
The plumbing between real worker processes (the supervisor's table, each worker's count) is
checked on a running server.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
import uvloop
from conftest import write_app

from pyruntime.server.acceptor import ACCEPT_RETRY_S, DEFER_S, Acceptor
from pyruntime.server.logs import JsonLogger
from pyruntime.server.worker_loads import ABSENT, WorkerLoads


class _Counted(asyncio.Protocol):
    """A connection of one acceptor's, counted while it is open."""

    def __init__(self, opened: list[int], slot: int) -> None:
        self.opened = opened
        self.slot = slot

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.opened[self.slot] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.opened[self.slot] -= 1


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def _acceptors(loop: asyncio.AbstractEventLoop, listening: socket.socket, loads: WorkerLoads,
               opened: list[int], log: JsonLogger, slots: range, held: tuple[int, ...] = (0, 0),
               defer_s: float = DEFER_S) -> list[Acceptor]:
    """An acceptor per slot, each on its own descriptor of `listening`, as each worker has;
    `held`: connections each holds already."""
    acceptors = []
    for slot in slots:
        acceptor = Acceptor(loop, socket.socket(fileno=os.dup(listening.fileno())),
                            lambda slot=slot: _Counted(opened, slot), log, loads, slot,
                            lambda slot=slot: opened[slot] + held[slot], defer_s=defer_s)
        acceptor.start()
        acceptors.append(acceptor)
    return acceptors


def _spread(tmp_path: Path, connections: int, held: tuple[int, int], defer_s: float) -> list[int]:
    """How two workers on one socket, holding `held` connections already, take `connections`
    queued in the kernel before either looks; each publishes what it holds, and nothing once
    closed."""
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        loads, shared = WorkerLoads.create(2)
        os.close(shared)
        opened = [0, 0]
        with _listener() as listening, open(tmp_path / "log", "w") as out:
            acceptors = _acceptors(loop, listening, loads, opened, JsonLogger(out), range(2), held, defer_s)
            clients = [socket.create_connection(listening.getsockname()) for _ in range(connections)]
            await _until(lambda: sum(opened) == connections, f"{connections} connections accepted, got {opened}")
            split = list(opened)
            published = [count + already for count, already in zip(split, held, strict=True)]
            await _until(lambda: [loads.get(slot) for slot in range(2)] == published,
                         f"the table to show {published}, it shows {[loads.get(slot) for slot in range(2)]}")
            for client in clients:
                client.close()
            await _until(lambda: sum(opened) == 0, "the connections closed")
            for acceptor in acceptors:
                acceptor.close()
            assert [loads.get(slot) for slot in range(2)] == [ABSENT, ABSENT]
        return split

    return uvloop.run(main())


async def _until(condition, what: str) -> None:
    """Runs the loop until `condition()`; the 30 s bound only ends a test that fails."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.001)


def test_a_table_starts_absent_and_a_worker_is_busier_only_than_an_accepting_one():
    loads, shared = WorkerLoads.create(3)
    os.close(shared)
    assert [loads.get(slot) for slot in range(len(loads))] == [ABSENT] * 3
    loads.set(0, 2)
    assert not loads.busier(0)  # the others do not accept
    loads.set(1, 2)
    assert not loads.busier(0) and not loads.busier(1)  # equal: either may accept
    loads.set(2, 1)
    assert loads.busier(0) and loads.busier(1) and not loads.busier(2)


def test_the_workers_table_is_shared_through_its_descriptor():
    loads, shared = WorkerLoads.create(2)
    other = WorkerLoads(shared)  # as a worker maps what the supervisor sent
    other.set(1, 5)
    assert loads.get(1) == 5
    loads.set(0, ABSENT)
    assert other.get(0) == ABSENT


def test_connections_opened_together_spread_evenly_over_two_workers(tmp_path: Path):
    # uvloop's own accept (`loop.create_server`) took all eight into the first worker to wake.
    assert _spread(tmp_path, 8, (0, 0), DEFER_S) == [4, 4]


def test_new_connections_go_to_the_worker_holding_fewer(tmp_path: Path):
    # The busier worker defers for an hour here, so that only the rule decides, whatever the
    # machine's load: it takes none while the other catches up. Taking turns would have
    # given it one or two.
    assert _spread(tmp_path, 3, (0, 3), 3600.0) == [3, 0]


def test_a_worker_that_does_not_accept_delays_a_connection_only_briefly(tmp_path: Path):
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loads, shared = WorkerLoads.create(2)
        os.close(shared)
        loads.set(1, 0)  # slot 1 claims to accept and holds nothing, but never does: hung
        opened = [0, 0]
        with _listener() as listening, open(tmp_path / "log", "w") as out:
            (acceptor,) = _acceptors(loop, listening, loads, opened, JsonLogger(out), range(1))
            clients = [socket.create_connection(listening.getsockname()) for _ in range(3)]
            # Busier than slot 1 after the first, this worker still takes the others once
            # slot 1 had its moment.
            await _until(lambda: opened[0] == 3, f"3 connections accepted by the live worker, got {opened}")
            assert loads.get(0) == 3
            for client in clients:
                client.close()
            acceptor.close()

    uvloop.run(main())


EMFILE_SCRIPT = textwrap.dedent("""
    import asyncio, os, resource, socket, sys, uvloop
    from pyruntime.server.acceptor import Acceptor
    from pyruntime.server.logs import JsonLogger
    from pyruntime.server.worker_loads import WorkerLoads

    async def main():
        loop = asyncio.get_running_loop()
        loads, shared = WorkerLoads.create(1)
        os.close(shared)
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        made = loop.create_future()

        class Made(asyncio.Protocol):
            def connection_made(self, transport):
                made.set_result(None)

        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 8, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        spare = []
        try:  # every descriptor taken
            while True:
                spare.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        acceptor = Acceptor(loop, listening, Made, JsonLogger(sys.stdout), loads, 0, lambda: 0)
        acceptor.start()
        print("port", listening.getsockname()[1], flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the client connected, and the accept failed
        for fd in spare:  # descriptors free again: the retry accepts it
            os.close(fd)
        await made
        print("accepted", flush=True)

    uvloop.run(main())
""")


def _line(proc: subprocess.Popen[str]) -> str:
    """The script's next line; the 30 s bound only ends a test that fails."""
    assert proc.stdout is not None
    assert select.select([proc.stdout], [], [], 30)[0], "the script said nothing"
    return proc.stdout.readline()


def test_out_of_descriptors_accepting_pauses_and_resumes(tmp_path: Path):
    script = tmp_path / "emfile.py"
    script.write_text(EMFILE_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = int(_line(proc).split()[1])
        with socket.create_connection(("127.0.0.1", port)):
            warning = _line(proc)  # the log line of the failed accept, not a busy loop
            assert '"level":"warn"' in warning and "Too many open files" in warning
            assert f"accepting again in {ACCEPT_RETRY_S:g} s" in warning
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert _line(proc) == "accepted\n"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


def _worker_loads(pid: int) -> list[int]:
    """The table as worker `pid` maps it (the supervisor's memfd), read through /proc."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        if "pyruntime-worker-loads" in line:
            start, end = (int(part, 16) for part in line.split()[0].split("-"))
            with open(f"/proc/{pid}/mem", "rb") as mem:
                mem.seek(start)
                data = mem.read(16)  # two workers' counts
            return [int.from_bytes(data[i:i + 8], "little", signed=True) for i in (0, 8)]
    raise AssertionError(f"worker {pid} maps no loads table")


def _until_loads(pid: int, total: int) -> list[int]:
    deadline = time.monotonic() + 30
    while sum(loads := _worker_loads(pid)) != total and time.monotonic() < deadline:
        time.sleep(0.05)
    return loads


@pytest.mark.slow
def test_h1_workers_publish_their_connections_and_a_replacement_joins(start_server, tmp_path: Path):
    server = start_server(str(write_app(tmp_path / "app")), "--server", "h1", "--workers", "2")
    pids = [event["worker_pid"] for event in server.wait_for_event("worker_started", count=2)]
    clients = [httpx.Client(base_url=server.url, timeout=20) for _ in range(4)]
    try:
        for client in clients:
            assert client.get("/hello").status_code == 200
        loads = _until_loads(pids[0], 4)
        assert sum(loads) == 4 and min(loads) >= 0, loads  # both accept, and hold the four between them
        os.kill(pids[1], signal.SIGKILL)
        server.wait_for_event("worker_exited")
        replacement = server.wait_for_event("worker_started", count=3)[2]["worker_pid"]
        deadline = time.monotonic() + 30
        while not any(e["pid"] == replacement for e in server.events("app_loaded")) and time.monotonic() < deadline:
            time.sleep(0.1)
        for client in clients:  # the dead worker's clients connect again
            assert client.get("/hello").status_code == 200
        loads = _until_loads(pids[0], 4)
        assert sum(loads) == 4 and min(loads) >= 0, loads
        assert _worker_loads(replacement) == loads  # the replacement maps the same table
    finally:
        for client in clients:
            client.close()
    assert server.stop() == 0
