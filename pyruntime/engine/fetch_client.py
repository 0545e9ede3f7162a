"""The process's outbound HTTP client: connection pools whose every connection passed the egress policy.

One `FetchClient` per process (`shared_client()`), made on first use or, in a server, in the
background once it serves (host_ops.warm_fetch_client), holds the TLS context (loading the CA
store is the slow part of a first request) and makes the httpcore pools (HTTP/1.1 and HTTP/2,
keep-alive): one per isolate (host_ops.FetchSession), so a connection checked under one app's
policy is never reused by an app with another. Why one per isolate and not one per app:
httpcore's pool looks over all its connections for each request it places, each look a
system call, and an app whose 64 isolates shared one pool spent 7.4 ms of CPU per proxied
request, 1.4 ms with a pool each (bench notes, 2026-12-06).

The check sits in the network backend: `connect_tcp` resolves the name itself (dns.py: each
pool's lookups on c-ares, which holds no thread while a DNS server stalls), keeps the
addresses the policy allows (egress.decide) and connects to one of those addresses; TLS
still verifies and sends SNI for the name, and the Host header is the name. What is
connected is what was checked, whatever the DNS answers or the URL's spelling.
"""

from __future__ import annotations

import importlib
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore

from .dns import IsolateLookups, LookupFailed
from .egress import EgressPolicy, EgressRefused, decide

Resolver = Callable[[str, int], Awaitable[list[str]]]

# What one read of a connection may take. httpcore asks for 64 KiB at a time, and each read
# costs the same Python (its timeout scope, h11's events) whatever it brings: a proxied body
# read 256 KiB at a time cost a third less CPU per MB (bench_proxy.py, 2026-12-06).
READ_BYTES = 256 * 1024
# Idle connections a pool keeps for its isolate's next requests.
KEEPALIVE_CONNECTIONS = 8


class _WideReads(httpcore.AsyncNetworkStream):
    """A connection whose reads take up to READ_BYTES, whatever httpcore asks for (its
    parsers keep what an event does not use)."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max(max_bytes, READ_BYTES), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _WideReads(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to resolved addresses the policy allows (and reads wide: _WideReads)."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolve = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolve(host, port)
        except LookupFailed as exc:
            raise httpcore.ConnectError(str(exc)) from None
        allowed = decide(self._policy, host, addresses)
        failure: Exception | None = None
        for address in allowed:
            try:
                return _WideReads(await self._inner.connect_tcp(address, port, timeout=timeout,
                                                                local_address=local_address,
                                                                socket_options=socket_options))
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("fetch over a Unix socket is refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class FetchClient:
    """TLS context and connection pools shared by every isolate of the process."""

    def __init__(self, resolver: Resolver | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        # `resolver`: every pool's lookups, for tests; else each pool has its own (dns.IsolateLookups).
        # What a first request would otherwise load: the CA store, and anyio with its asyncio
        # backend, which httpcore imports on first use (measured here: ~220 ms).
        importlib.import_module("anyio._backends._asyncio")
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._resolver = resolver

    def new_pool(self, policy: EgressPolicy) -> httpcore.AsyncConnectionPool:
        """A pool whose every connection passed `policy`, for one isolate's requests (its owner
        closes it). No cap on connections: each request's concurrency is capped
        (max_concurrent_subrequests); an isolate runs one request at a time, so a few idle
        connections serve its next ones."""
        return httpcore.AsyncConnectionPool(
            ssl_context=self.ssl_context, http1=True, http2=True, max_connections=None,
            max_keepalive_connections=KEEPALIVE_CONNECTIONS, keepalive_expiry=30.0,
            network_backend=_CheckedBackend(policy, self._resolver or IsolateLookups(policy.dns_servers)))


_shared: FetchClient | None = None
_shared_lock = threading.Lock()


def shared_client() -> FetchClient:
    """The process's client, made on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FetchClient()
        return _shared

