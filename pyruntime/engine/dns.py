"""Name lookups for outbound fetch, on c-ares: a DNS server that takes its time holds no thread.

Why not the event loop's `getaddrinfo`: uvloop runs it in libuv's pool of four threads, which
every app of a process shares. An app that fetched names whose DNS never answers (names of its
own domain, whose servers it makes stall) held all four for the resolver's timeout, and every
other app's fetches in the process waited behind them. c-ares sends each query from one event
thread per channel and waits for all of them at once: a stalled lookup holds only itself.

- One channel per process and server list (`[apps.egress] dns_servers`, else the system's
  `/etc/resolv.conf`, its timeouts and search domains); `/etc/hosts` is read first, as the
  system resolver does, and `localhost` is loopback in both families (RFC 6761). Numeric
  spellings (`127.1`, `0x7f000001`) mean what `inet_aton` says, as with `getaddrinfo`;
  c-ares would send them to DNS.
- `IsolateLookups`: one isolate's lookups; fetches of one name at once share its lookup, and
  at most `MAX_LOOKUPS` names are looked up at once (more wait for a slot). c-ares cannot
  cancel one query, so a lookup whose request has ended runs on to its timeout: the bound
  keeps what an isolate leaves running small, whatever its requests start, and what waits
  for a slot is its own isolate's next lookups, no other's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import threading
from collections.abc import Sequence
from typing import Any

import pycares

from .egress import normalize_host
from .errors import Error

# Names one isolate may have looked up at once, those its ended requests left included.
MAX_LOOKUPS = 32
# What DNS can resolve: at most 253 characters, in labels of letters, digits, '-' and '_' (the
# URL parser has made an international name its xn-- form by then). Anything else would never
# resolve, and c-ares would read a name with a NUL in it as the part before the NUL.
MAX_NAME = 253
_NAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*", re.ASCII)


class LookupFailed(Error):
    """A name could not be resolved; the message names it and why."""


def numeric_address(host: str) -> str | None:
    """The address a numeric host spells (`::1`, `127.0.0.1`, and `inet_aton`'s `127.1`,
    `0x7f000001`, `2130706433`, `0177.0.0.1`), else None."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host and host[-1:].isalnum() and all(c.isalnum() or c == "." for c in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


_channels: dict[tuple[int, tuple[str, ...]], pycares.Channel] = {}
_channels_lock = threading.Lock()


def channel(servers: Sequence[str] = ()) -> pycares.Channel:
    """The process's channel for `servers` ("ip" or "ip:port"; none: the system's), made on
    first use. Keyed by process too: a channel's event thread does not survive a fork."""
    key = (os.getpid(), tuple(servers))
    with _channels_lock:
        found = _channels.get(key)
        if found is None:
            found = _channels[key] = pycares.Channel(servers=list(servers) or None)
        return found


class IsolateLookups:
    """The lookups of one isolate's fetches (fetch_client.Resolver): addresses of a name, through
    the channel of `servers`. Fetches that want the same name at once share one lookup; past
    MAX_LOOKUPS names running, a lookup waits for one of them to end."""

    def __init__(self, servers: Sequence[str] = ()) -> None:
        self._servers = tuple(servers)
        self._channel: pycares.Channel | None = None  # the process's channel for `servers`, at the first lookup
        # The lookups of the event loop this isolate's fetches run on; a new loop (the last one
        # was closed: a host calling asyncio.run for each request) starts afresh, as the old
        # loop's lookups can never settle and hold no slot it uses.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(MAX_LOOKUPS)
        self._running: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    @property
    def running(self) -> int:
        """Names being looked up now, those whose fetches have ended included."""
        return len(self._running)

    async def __call__(self, host: str, port: int) -> list[str]:
        if len(host) > MAX_NAME + 3:  # room for the brackets and a final dot normalize_host drops
            raise LookupFailed(f"cannot resolve {host[:64]!r}...: a host name has at most {MAX_NAME} characters")
        host = normalize_host(host)
        numeric = numeric_address(host)
        if numeric is not None:
            return [numeric]
        if len(host) > MAX_NAME or not _NAME.fullmatch(host):
            raise LookupFailed(f"cannot resolve {host!r}: not a host name DNS can resolve")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._slots = asyncio.Semaphore(MAX_LOOKUPS)
            self._running = {}
        answer = self._running.get((host, port))
        if answer is None:
            await self._slots.acquire()
            answer = self._running.get((host, port))  # another fetch's, started while this one waited
            if answer is None:
                answer = self._start(loop, host, port)
            else:
                self._slots.release()
        return await asyncio.shield(answer)

    def _start(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> asyncio.Future[list[str]]:
        answer: asyncio.Future[list[str]] = loop.create_future()
        key = (host, port)
        loop_thread = threading.get_ident()
        running, slots = self._running, self._slots

        def settle(result: Any, error: int | None) -> None:  # on the loop's thread
            del running[key]
            slots.release()
            if error:
                answer.set_exception(LookupFailed(f"cannot resolve {host!r}: {pycares.errno.strerror(error)}"))
            else:
                answer.set_result(list(dict.fromkeys(node.addr[0].decode() for node in result.nodes)))

        def done(result: Any, error: int | None) -> None:  # on c-ares's thread, or in getaddrinfo's call
            if threading.get_ident() == loop_thread:  # answered at once (the hosts file): no wake-up
                settle(result, error)
                return
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:  # the loop is closed: nobody waits for the answer
                pass

        if self._channel is None:
            self._channel = channel(self._servers)
        running[key] = answer
        try:
            self._channel.getaddrinfo(host, port, type=socket.SOCK_STREAM, callback=done)
        except Exception:
            del running[key]
            slots.release()
            raise
        return answer
