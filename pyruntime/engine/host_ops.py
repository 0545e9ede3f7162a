"""Outbound fetch: the host operations behind JS `fetch()` (ext/js/80_fetch.js).

The C++ core does no I/O; `fetch` is a conversation of host operations, one exchange (one
HTTP request and its response) at a time, named by an id JS chooses:

- `"fetch"` `{id, method, url, headers, body, stream, available}` sends the request (`body`
  bytes, or with `stream` the chunks of later `"fetch.write"`s) and resolves with the head
  `{status, statusText, headers, url}` once it arrives;
- `"fetch.write"` `[id, chunk | None, available]` hands one chunk of a streamed request body
  (None ends it); it resolves when the uploader has room, so JS produces no faster than the
  upstream takes;
- `"fetch.read"` `id` resolves with the next chunk of the response body (None at its end):
  the body is pulled from the connection only as JS reads it;
- `"fetch.cancel"` `id` closes the exchange (an AbortSignal fired, the body was cancelled).

Redirects are followed in JS, each hop a new exchange, so every hop passes the egress
policy (egress.py) when it connects (fetch_client.py).

A handler that returns a response body of its own fetch() that no JS read (`return
fetch(url)`) hands its exchange back to the host (`FetchSession.hand_over`): the host sends
that body on from the upstream itself, as an `UpstreamBody`, and the isolate is free meanwhile.

`AsyncHostOps` is one app's outbound configuration (policy, `FetchLimits`, observer); each
isolate gets its own `FetchSession` from it, which counts subrequests per request, caps how
many are open at once, bounds the bytes the host holds for the isolate by the isolate's
memory limit, and closes everything still open when the request ends.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .egress import EgressPolicy
from .errors import Error

if TYPE_CHECKING:
    import httpcore

    from .fetch_client import FetchClient

# httpcore and the client (fetch_client.py) load on the first fetch, or in the background once
# a server serves (warm_fetch_client): a process that makes no fetch never pays for them.

# Request headers JS may not set (the Fetch standard's forbidden request-header names):
# the host sets framing and Host itself, and Host must not route a request elsewhere.
FORBIDDEN_HEADERS = frozenset((
    "accept-charset", "accept-encoding", "access-control-request-headers", "access-control-request-method",
    "connection", "content-length", "cookie", "cookie2", "date", "dnt", "expect", "host", "keep-alive", "origin",
    "referer", "set-cookie", "te", "trailer", "transfer-encoding", "upgrade", "via",
))
_FORBIDDEN_PREFIXES = ("proxy-", "sec-")
_METHOD_OVERRIDES = ("x-http-method", "x-http-method-override", "x-method-override")
_FORBIDDEN_METHODS = ("CONNECT", "TRACE", "TRACK")


class HostOpError(Error):
    """A host operation that JS asked for cannot be performed."""


class SubrequestLimitExceeded(HostOpError):
    """A per-request subrequest limit was hit; the message names it."""


@dataclass(frozen=True)
class FetchLimits:
    """What one request may spend on outbound fetch.

    - `max_subrequests`: exchanges per request (each redirect hop is one), as Workers' 50;
    - `max_concurrent_subrequests`: exchanges open at once (a response whose body is not
      yet read to its end stays open);
    - `subrequest_timeout_s`: the longest wait for a response head, and for each chunk of
      a body in either direction.
    """

    max_subrequests: int = 50
    max_concurrent_subrequests: int = 16
    subrequest_timeout_s: float = 30.0


@dataclass(frozen=True)
class Subrequest:
    """One finished exchange, for logs and metrics: never the query string or the headers."""

    app: str
    request_id: str | None
    method: str
    host: str
    status: int | None  # None: no response (refused, failed, aborted)
    outcome: str        # "ok", "error", "aborted"
    duration_s: float
    bytes: int          # response body bytes read


Observer = Callable[[Subrequest], None]


class AsyncHostOps:
    """One app's outbound fetch: its egress policy, limits and observer (see the module doc).

    Pass it as `op_handler` to `AppIsolate`, which takes a `session()` of it per isolate.
    """

    def __init__(self, egress: EgressPolicy | None = None, limits: FetchLimits | None = None, *, app: str = "",
                 observer: Observer | None = None, client: FetchClient | None = None) -> None:
        self.egress = egress or EgressPolicy()
        self.limits = limits or FetchLimits()
        self.app = app
        self.observer = observer
        self._client = client

    @property
    def client(self) -> FetchClient:
        """The client given, else the process's; made on first use (servers warm it in the
        background once they serve: warm_fetch_client)."""
        if self._client is None:
            from .fetch_client import shared_client

            self._client = shared_client()
        return self._client

    def session(self, memory_limit_bytes: int) -> FetchSession:
        return FetchSession(self, memory_limit_bytes)


class _Exchange:
    def __init__(self, ident: int, method: str, host: str, request_id: str | None) -> None:
        self.id = ident
        self.method = method
        self.host = host
        self.request_id = request_id
        self.started = time.monotonic()
        self.status: int | None = None
        self.received = 0
        self.task: asyncio.Task[Any] | None = None  # the "fetch" or "fetch.read" operation in flight
        self.upload: asyncio.Queue[bytes | None] | None = None
        self.response: httpcore.Response | None = None
        self.chunks: AsyncIterator[bytes] | None = None
        self.held = 0  # bytes of the request body the host holds for this exchange


class FetchSession:
    """The host operations of one isolate (see the module docstring)."""

    def __init__(self, ops: AsyncHostOps, memory_limit_bytes: int) -> None:
        self._ops = ops
        self._limits = ops.limits
        self._memory_limit = memory_limit_bytes
        self._available = memory_limit_bytes
        self._held = 0
        self._exchanges: dict[int, _Exchange] = {}
        self._count = 0
        self._request_id: str | None = None
        self._closing: set[asyncio.Task[None]] = set()
        # This isolate's connections (FetchClient.new_pool), made at its first fetch.
        self._pool: httpcore.AsyncConnectionPool | None = None
        # Bodies handed over (UpstreamBody) not ended yet: the pool closes only after them.
        self._relays = 0
        self._closed = False

    # ---- the request's life --------------------------------------------------------------

    def begin_request(self, request_id: str | None) -> None:
        self._count = 0
        self._request_id = request_id

    def end_request(self) -> None:
        """Closes every exchange the request left open (their connections close)."""
        if self._exchanges:
            for exchange in list(self._exchanges.values()):
                self._close(exchange, "aborted")
        self._count = 0

    def close(self) -> None:
        """The isolate is gone: what its last request left open closes, and its connections
        once the bodies it handed over have been sent (on the running loop, if any)."""
        self._closed = True
        self.end_request()
        if self._relays == 0 and self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                task = asyncio.get_running_loop().create_task(pool.aclose())
            except RuntimeError:  # no loop: the connections go with the pool's garbage
                return
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """`close`, waiting until the connections are closed."""
        self.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    @property
    def open_exchanges(self) -> int:
        return len(self._exchanges)

    @property
    def held_bytes(self) -> int:
        return self._held

    # ---- operations ----------------------------------------------------------------------

    def __call__(self, name: str, payload: Any) -> Any:
        if name == "fetch":
            return self._fetch(payload)
        if name == "fetch.read":
            return self._read(payload)
        if name == "fetch.write":
            return self._write(payload)
        if name == "fetch.cancel":
            exchange = self._exchanges.get(payload)
            if exchange is not None:
                self._close(exchange, "aborted")
            return None
        raise HostOpError(f"unknown host operation {name!r}")

    async def _fetch(self, payload: dict[str, Any]) -> dict[str, Any]:
        ident, method, url = payload["id"], payload["method"], payload["url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HostOpError(f"only http: and https: URLs can be fetched, not {url[:100]!r}")
        host = parts.hostname
        self._count += 1
        limits = self._limits
        if self._count > limits.max_subrequests:
            raise SubrequestLimitExceeded(f"max_subrequests ({limits.max_subrequests}) reached: a request may make "
                                          f"at most {limits.max_subrequests} subrequests")
        if len(self._exchanges) >= limits.max_concurrent_subrequests:
            raise SubrequestLimitExceeded(f"max_concurrent_subrequests ({limits.max_concurrent_subrequests}) "
                                          "reached: read or cancel the bodies of earlier responses first")
        if ident in self._exchanges:
            raise HostOpError(f"exchange {ident} is already open")
        exchange = self._exchanges[ident] = _Exchange(ident, method, host, self._request_id)
        exchange.task = asyncio.current_task()
        self._available = payload.get("available", self._available)
        try:
            body = payload.get("body")
            content: bytes | AsyncIterator[bytes]
            headers = _outbound_headers(payload.get("headers") or [], parts.netloc.rpartition("@")[2])
            if payload.get("stream"):
                exchange.upload = asyncio.Queue(maxsize=1)
                content = self._upload(exchange)
                headers.append((b"transfer-encoding", b"chunked"))
            else:
                content = body or b""
                if content or method not in ("GET", "HEAD"):
                    headers.append((b"content-length", str(len(content)).encode()))
                self._reserve(len(content))
                exchange.held = len(content)
            timeout = limits.subrequest_timeout_s
            import httpcore

            request = httpcore.Request(method, url, headers=headers, content=content,
                                       extensions={"timeout": {"connect": timeout, "read": timeout,
                                                               "write": timeout, "pool": timeout}})
            try:
                async with asyncio.timeout(timeout):
                    response = await self._connections().handle_async_request(request)
            except TimeoutError:
                raise HostOpError(f"subrequest_timeout_s ({timeout:g} s) passed before the response to "
                                  f"{method} {host} arrived") from None
            except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
                raise HostOpError(f"{method} {host}: {_describe(exc)}") from None
        except BaseException as exc:
            self._close(exchange, "aborted" if isinstance(exc, asyncio.CancelledError) else "error")
            raise
        exchange.task = None
        self._release_body(exchange)
        exchange.response = response
        exchange.status = response.status
        exchange.chunks = response.aiter_stream().__aiter__()  # type: ignore[attr-defined]
        reason = response.extensions.get("reason_phrase", b"")
        return {
            "status": response.status,
            "statusText": reason.decode("latin-1") if isinstance(reason, bytes) else "",
            "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in response.headers],
        }

    def _connections(self) -> httpcore.AsyncConnectionPool:
        if self._closed:
            raise HostOpError("the isolate is closed")
        if self._pool is None:
            self._pool = self._ops.client.new_pool(self._ops.egress)
        return self._pool

    async def _upload(self, exchange: _Exchange) -> AsyncIterator[bytes]:
        assert exchange.upload is not None
        while (chunk := await exchange.upload.get()) is not None:
            yield chunk
            self._release(len(chunk))
            exchange.held -= len(chunk)

    async def _write(self, payload: list[Any]) -> None:
        ident, chunk, available = payload
        exchange = self._exchanges.get(ident)
        if exchange is None or exchange.upload is None:
            raise HostOpError("the request this body belongs to is closed")
        self._available = available
        if chunk:
            self._reserve(len(chunk))
            exchange.held += len(chunk)
        try:
            async with asyncio.timeout(self._limits.subrequest_timeout_s):
                await exchange.upload.put(chunk or None)
        except TimeoutError:
            raise HostOpError(f"subrequest_timeout_s ({self._limits.subrequest_timeout_s:g} s) passed while the "
                              f"upstream {exchange.host} did not take the request body") from None

    async def _read(self, ident: int) -> bytes | None:
        exchange = self._exchanges.get(ident)
        if exchange is None or exchange.chunks is None:
            raise HostOpError("the response body is closed")
        return await self._next_chunk(exchange, self._close)

    async def _next_chunk(self, exchange: _Exchange, close: Callable[[_Exchange, str], None]) -> bytes | None:
        """The next chunk of a response body (None at its end, which closes the exchange)."""
        import httpcore

        assert exchange.chunks is not None
        exchange.task = asyncio.current_task()
        try:
            chunk = await anext(exchange.chunks, None)
        except asyncio.CancelledError:
            close(exchange, "aborted")
            raise
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            close(exchange, "error")
            raise HostOpError(f"reading the response body from {exchange.host}: {_describe(exc)}") from None
        finally:
            exchange.task = None
        if chunk is None:
            close(exchange, "ok")
            return None
        exchange.received += len(chunk)
        return chunk

    def hand_over(self, ident: int) -> UpstreamBody:
        """The response body of exchange `ident`, which the app's handler returned unread
        (ext/js/80_fetch.js takeUpstreamBody): it leaves this session, whose request's end no
        longer closes it, for the host to send on (`UpstreamBody`)."""
        exchange = self._exchanges.pop(ident, None)
        if exchange is None or exchange.chunks is None:
            raise HostOpError("the response body is closed")
        self._relays += 1
        return UpstreamBody(self, exchange)

    def _relay_ended(self) -> None:
        self._relays -= 1
        if self._closed and self._relays == 0:
            self.close()

    # ---- bookkeeping ---------------------------------------------------------------------

    def _reserve(self, size: int) -> None:
        room = min(self._memory_limit, self._available)
        if self._held + size > room:
            raise HostOpError(f"the memory limit ({self._memory_limit // (1024 * 1024)} MB) does not leave room for "
                              f"{size} more bytes of request body held by the host ({self._held} held, "
                              f"{room} left)")
        self._held += size

    def _release(self, size: int) -> None:
        self._held -= size

    def _release_body(self, exchange: _Exchange) -> None:
        self._release(exchange.held)
        exchange.held = 0

    def _close(self, exchange: _Exchange, outcome: str) -> None:
        """Ends an exchange: its bytes are released, its connection closed, one record observed."""
        if self._exchanges.pop(exchange.id, None) is None:
            return
        self._end(exchange, outcome)

    def _end(self, exchange: _Exchange, outcome: str) -> None:
        self._release_body(exchange)
        if exchange.task is not None and exchange.task is not _current_task():
            exchange.task.cancel()
        if exchange.response is not None:
            try:
                task = asyncio.get_running_loop().create_task(_close_quietly(exchange.response))
            except RuntimeError:  # no loop (an isolate closed outside asyncio): the connection is dropped
                pass
            else:
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        observer = self._ops.observer
        if observer is not None:
            observer(Subrequest(app=self._ops.app, request_id=exchange.request_id, method=exchange.method,
                                host=exchange.host, status=exchange.status, outcome=outcome,
                                duration_s=time.monotonic() - exchange.started, bytes=exchange.received))


class UpstreamBody:
    """A response body the app handed back unread (`FetchSession.hand_over`): the host reads
    it from the upstream chunk by chunk, no JS between, and closes it at its end or when the
    client leaves; its subrequest is logged then, as any other."""

    def __init__(self, session: FetchSession, exchange: _Exchange) -> None:
        self._session = session
        self._exchange: _Exchange | None = exchange

    async def read(self) -> bytes | None:
        """The next chunk, None at the end; HostOpError if the upstream fails midway."""
        exchange = self._exchange
        if exchange is None:
            raise HostOpError("the response body is closed")
        return await self._session._next_chunk(exchange, self._end)

    def close(self) -> None:
        """Ends the exchange early (the client left, a limit cut the response); once ended, nothing."""
        if self._exchange is not None:
            self._end(self._exchange, "aborted")

    def _end(self, exchange: _Exchange, outcome: str) -> None:
        if self._exchange is exchange:
            self._exchange = None
            self._session._end(exchange, outcome)
            self._session._relay_ended()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None


def warm_fetch_client() -> threading.Thread:
    """Loads the HTTP client and makes the process's (TLS context, CA store) in a thread of
    its own: a server calls it after its first answer, so that neither its start nor (mostly)
    its first fetch waits for them.

    Not a daemon thread: the process's exit waits for it. OpenSSL reads the CA store with the
    GIL released, and a process that exited meanwhile (a server stopped just after its first
    answer) ran OpenSSL's exit handlers under that read and died of SIGSEGV."""
    def warm() -> None:
        from .fetch_client import shared_client

        shared_client()

    thread = threading.Thread(target=warm, name="pyruntime-fetch-warm-up")
    thread.start()
    return thread


async def _close_quietly(response: httpcore.Response) -> None:
    with contextlib.suppress(Exception):
        await response.aclose()


def _describe(exc: BaseException) -> str:
    import httpcore

    text = str(exc) or type(exc).__name__
    return text if not isinstance(exc, httpcore.TimeoutException) else f"timed out ({text})"


def _outbound_headers(pairs: list[list[str]], authority: str) -> list[tuple[bytes, bytes]]:
    """The JS headers less the forbidden ones, with Host from the URL."""
    headers = [(b"host", authority.encode("idna" if not authority.isascii() else "ascii"))]
    for name, value in pairs:
        lower = name.lower()
        if lower in FORBIDDEN_HEADERS or lower.startswith(_FORBIDDEN_PREFIXES):
            continue
        if lower in _METHOD_OVERRIDES and any(m.strip().upper() in _FORBIDDEN_METHODS for m in value.split(",")):
            continue
        headers.append((name.encode("latin-1"), value.encode("latin-1")))
    return headers


# `pyruntime run` and the REPL: a local script may reach public addresses and this machine's loopback.
LOCAL_SCRIPT_EGRESS = EgressPolicy.parse(allow=["public", "localhost", "127.0.0.0/8", "::1"])


class SyncHostOps:
    """Outbound fetch for the synchronous `Isolate` (`pyruntime run`, the REPL): the same
    session, run on a background event loop of the process; each operation is a
    `concurrent.futures.Future` that the isolate's call waits on between slices.
    The default policy is LOCAL_SCRIPT_EGRESS."""

    _loop: asyncio.AbstractEventLoop | None = None
    _loop_lock = threading.Lock()

    def __init__(self, ops: AsyncHostOps | None = None, memory_limit_bytes: int = 128 * 1024 * 1024) -> None:
        self.session = (ops or AsyncHostOps(LOCAL_SCRIPT_EGRESS)).session(memory_limit_bytes)
        self._loop = self._background_loop()

    @classmethod
    def _background_loop(cls) -> asyncio.AbstractEventLoop:
        with cls._loop_lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="pyruntime-fetch", daemon=True)
                thread.start()
                atexit.register(_stop_loop, loop, thread)
                cls._loop = loop
            return cls._loop

    def __call__(self, name: str, payload: Any) -> concurrent.futures.Future[Any]:
        async def perform() -> Any:
            result = self.session(name, payload)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(perform(), self._loop)


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """At exit: the background loop stops between two steps (a TLS handshake's are OpenSSL
    calls), before the C library's exit handlers free what OpenSSL uses; it gets as long as
    JS still running at exit does (_core.stop_for_exit)."""
    from .. import _core  # loaded already: the synchronous Isolate this loop serves runs on it

    loop.call_soon_threadsafe(loop.stop)
    thread.join(_core.EXIT_WAIT_MS / 1000)
