"""`Acceptor`: takes the connections of a listening socket that several workers share.

Why not `loop.create_server`: libuv (uvloop) accepts every connection queued on the socket
at once. Under `serve --workers N` every worker waits on the same socket, and the first to
wake took a whole burst: measured, 8 connections opened together went 8 to 0 or 7 to 1
between 2 workers, whose requests then queued on one core while the other idled. Here a
worker accepts one connection per readiness callback, and one that holds more connections
than another worker (worker_loads.py) first leaves it `DEFER_S` to take it. A worker that
is busy, or hung, is not at its accept: after that moment the others take the connection
anyway, so one slow worker costs a new connection `DEFER_S` at most.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from .worker_loads import ABSENT, WorkerLoads

if TYPE_CHECKING:
    from .logs import JsonLogger

# How long a worker holding more connections than another leaves that one to accept.
DEFER_S = 0.001
# Out of descriptors or memory: accepting stops this long, rather than retrying at once in
# a busy loop (the socket stays readable), and the connections wait in the kernel's queue.
ACCEPT_RETRY_S = 1.0
_RESOURCE_ERRORS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
# Errors of one pending connection that Linux's accept() reports (accept(2)): that client's
# loss, and the next connection is accepted as usual.
_CONNECTION_ERRORS = frozenset((errno.ECONNABORTED, errno.EPROTO, errno.ENETDOWN, errno.ENOPROTOOPT, errno.EHOSTDOWN,
                                errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH, errno.EPERM))


class Acceptor:
    """Accepts connections on `sock` and gives each a transport with `protocol_factory`'s
    protocol, as `loop.create_server(sock=...)` would. `open_connections` says how many this
    worker holds, which it publishes in `loads` as `slot` (see `update`); `defer_s` is how
    long it leaves a connection to a worker holding fewer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol_factory: Callable[[], asyncio.Protocol], log: JsonLogger, loads: WorkerLoads, slot: int,
                 open_connections: Callable[[], int], *, defer_s: float = DEFER_S) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._log = log
        self._loads = loads
        self._slot = slot
        self._open_connections = open_connections
        self._defer_s = defer_s
        self._connecting: set[asyncio.Task[None]] = set()  # accepted, their transports not made yet
        self._paused: asyncio.TimerHandle | None = None
        self._closed = False
        sock.setblocking(False)

    def start(self) -> None:
        self._paused = None
        if not self._closed:
            self.update()
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def update(self) -> None:
        """Publishes this worker's connections: after each accept, and as each one ends."""
        if not self._closed:
            self._loads.set(self._slot, self._open_connections() + len(self._connecting))

    def close(self) -> None:
        """Stops accepting and closes the socket. A connection accepted already still gets its
        protocol, as one `loop.create_server` accepted would have (the server's drain ends it)."""
        if self._closed:
            return
        self._closed = True
        self._loads.set(self._slot, ABSENT)
        if self._paused is not None:
            self._paused.cancel()
        else:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def _pause(self, seconds: float, then: Callable[[], None]) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._paused = self._loop.call_later(seconds, then)

    def _accept(self) -> None:
        if self._loads.busier(self._slot):
            self._pause(self._defer_s, self._after_deferring)
        else:
            self._accept_one()

    def _after_deferring(self) -> None:
        """The other workers had their moment: a connection still waiting is this worker's."""
        self._paused = None
        self._accept_one()
        if self._paused is None:  # not paused again by a lack of descriptors
            self.start()

    def _accept_one(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return  # another worker took it
        except OSError as exc:
            if exc.errno in _CONNECTION_ERRORS:
                return
            if exc.errno not in _RESOURCE_ERRORS:
                raise
            self._log.emit("warn", "server", message=f"cannot accept connections ({exc.strerror}): "
                                                     f"accepting again in {ACCEPT_RETRY_S:g} s")
            self._pause(ACCEPT_RETRY_S, self.start)
            return
        task = self._loop.create_task(self._connect(conn))
        self._connecting.add(task)
        task.add_done_callback(self._connected)
        self.update()

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:
            pass  # the client left before its transport was made: the transport closed the socket

    def _connected(self, task: asyncio.Task[None]) -> None:
        self._connecting.discard(task)
        self.update()
