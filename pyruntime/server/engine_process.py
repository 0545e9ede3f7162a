"""An engine process: one app's `WorkerApp`, served to its front over a socket (see isolation.py).

Started by the front as `python -m pyruntime.server.engine_process FD`. It reads the app's
configuration, loads the app, then runs every request the front relays, many at a time, as
an ordinary ASGI call whose `receive` and `send` travel over the channel. It logs to its own
stdout (JSON lines, its own pid), which the front passes on. When the channel closes (the
front stopped or died) it finishes what it is running, briefly, and exits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvloop

from ..engine.host_ops import warm_fetch_client
from .app import WorkerApp
from .frames import ChannelClosed, FrameWriter, app_from_wire, encode, read_frame
from .logs import JsonLogger
from .metrics import mark_process_dead
from .observer import LogObserver
from .pool import pool_bounds

# After the front is gone, requests still running get this long before the process exits.
_EXIT_GRACE_S = 5.0


class _Request:
    """The engine side of one relayed request: messages from the front, acks of sends."""

    def __init__(self, rid: int, writer: FrameWriter) -> None:
        self.rid = rid
        self.writer = writer
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # The front pulls the first message (the request body) unasked: one round trip less.
        self.pulling = True
        self.acks: asyncio.Queue[str | None] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        if self.inbox.empty() and not self.pulling:
            self.pulling = True
            self.writer.write(encode("pull", self.rid))
        return await self.inbox.get()

    def delivered(self, message: dict[str, Any]) -> None:
        self.pulling = False
        self.inbox.put_nowait(message)

    async def send(self, message: dict[str, Any]) -> None:
        # Streamed chunks wait for the front to hand them on (its backpressure, its disconnect);
        # the other messages go at once, so that a plain response costs no round trip.
        if self.writer.is_closing():
            raise OSError("the front closed the channel")
        wants_ack = message["type"] == "http.response.body" and bool(message.get("more_body"))
        self.writer.write(encode("send", self.rid, dict(message), wants_ack))
        if wants_ack:
            error = await self.acks.get()
            if error is not None:
                raise OSError(error)


async def _serve(sock: socket.socket, logger: JsonLogger) -> None:
    reader, stream_writer = await asyncio.open_connection(sock=sock)
    writer = FrameWriter(stream_writer)
    kind, wire = await read_frame(reader)
    assert kind == "config"
    config = app_from_wire(wire)
    threads = pool_bounds(config.pool_size, config.max_pool_size)[1] + 4
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads, "pyruntime-js"))
    observer = LogObserver(logger, defer_metrics=True)
    # Its requests are the front's, as the front's HTTP server parsed them: framed like its own apps'.
    app = WorkerApp.from_config(config, observer, framed_by_server=True)
    try:
        await app.startup()
    except Exception as exc:  # the front logs it and reports the app as failed
        writer.write(encode("failed", str(exc)))
        await writer.drain()
        return
    writer.write(encode("ready", [str(path) for path in app.watched_files()]))
    warm_fetch_client()
    observer.serving()
    requests: dict[int, _Request] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def run(request: _Request, scope: dict[str, Any]) -> None:
        error = None
        try:
            await app(scope, request.receive, request.send)
        except Exception as exc:  # the app wants the connection closed (a broken stream)
            error = repr(exc)
        finally:
            del requests[request.rid]
        writer.write(encode("done", request.rid, error))

    try:
        while True:
            frame = await read_frame(reader)
            kind, rid = frame[0], frame[1]
            if kind == "start":
                request = requests[rid] = _Request(rid, writer)
                task = asyncio.create_task(run(request, frame[2]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif kind == "recv" and rid in requests:
                requests[rid].delivered(frame[2])
            elif kind == "acked" and rid in requests:
                requests[rid].acks.put_nowait(frame[2])
    except ChannelClosed:
        pass
    for request in requests.values():  # nobody is left to answer: the requests see a disconnect
        request.delivered({"type": "http.disconnect"})
        request.acks.put_nowait("the front closed the channel")
    if tasks:
        await asyncio.wait(tasks, timeout=_EXIT_GRACE_S)
    await app.shutdown()


def main() -> None:
    # The front decides when this process ends (it closes the channel); a Ctrl-C meant for
    # the server must not kill the engine before the front drains its requests.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    logger = JsonLogger()
    try:
        uvloop.run(_serve(sock, logger))  # the front's clients never reach this loop: uvloop's cheaper I/O is safe
    finally:
        mark_process_dead(os.getpid())
    # Busy isolate threads (a request the grace period did not see end) must not hold the exit.
    logger.flush()  # request lines the loop's last pass held (JsonLogger.write_record_soon)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
