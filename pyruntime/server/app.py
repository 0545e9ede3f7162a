"""`WorkerApp`: an ASGI application serving one worker script from a pool of isolates.

It is public API: mount it inside a Starlette or FastAPI app, or let `serve` route to it.
Failures are answers: limits give 503 naming the limit, JS errors 500, and response
bodies never carry stack traces or host paths (the JSON log has them).
"""

from __future__ import annotations

import asyncio
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..engine import AppIsolate, FetchResult, WorkerScript, load_script
from ..engine.errors import Error, IsolateClosed, JSError, MemoryLimitExceeded, TimeLimitExceeded
from . import metrics
from .config import AppConfig, AppLimits
from .logs import JsonLogger
from .outbound import app_host_ops
from .pool import IsolatePool, PoolClosed, PoolFull

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")

# Incoming X-Request-ID values are reused only if they look like an id: nothing to inject into logs.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# Headers the ASGI server owns; the app's values would contradict the body we send.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
_LIMIT_MESSAGES = {
    "timeout": "the request exceeded its time limit",
    "cpu": "the request exceeded its CPU time limit",
    "memory": "the request exceeded its memory limit",
}


class _Answer(Exception):
    """A response decided before or instead of running the app (413, 503, 500)."""

    def __init__(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers


class _Disconnected(Exception):
    """The client went away before its response was complete."""


class _StreamBroken(Exception):
    """A streamed body failed after its status was sent; the connection must be closed."""


class _Lease:
    """An isolate lent to one request.

    If the request is cancelled while JS runs (client gone, server stopping), the call goes
    on in its thread: the isolate returns to the pool only when that call has ended.
    """

    def __init__(self, pool: IsolatePool, isolate: AppIsolate) -> None:
        self.pool = pool
        self.isolate = isolate
        self._call: asyncio.Future[Any] | None = None

    async def run(self, work: Awaitable[T]) -> T:
        call = self._call = asyncio.ensure_future(work)
        return await asyncio.shield(call)

    def end(self) -> None:
        call = self._call
        if call is None or call.done():
            self.isolate.end_request()
            self.pool.release(self.isolate)
            return

        def finished(_: asyncio.Future[Any]) -> None:
            if not call.cancelled():
                call.exception()  # already answered or logged; retrieved so asyncio does not warn
            self.isolate.end_request()
            self.pool.release(self.isolate)

        call.add_done_callback(finished)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when well-formed, else a new random id."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1").strip()
            if _REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


class WorkerApp:
    """ASGI app for one worker script (module or service-worker syntax).

    The isolate pool starts at ASGI lifespan startup, at `await startup()`, or lazily at
    the first request (mounted sub-apps get no lifespan events from Starlette).
    """

    def __init__(self, script: str | Path, *, name: str | None = None, env: dict[str, Any] | None = None,
                 limits: AppLimits | None = None, pool_size: int | None = None, max_queue: int = 64,
                 outbound_hosts: tuple[str, ...] | None = None, logger: JsonLogger | None = None) -> None:
        path = Path(script).resolve()
        self._setup(AppConfig(name=name or path.stem, script=path, env=dict(env or {}),
                              limits=limits or AppLimits(), pool_size=pool_size, max_queue=max_queue,
                              outbound_hosts=outbound_hosts),
                    logger or JsonLogger())

    @classmethod
    def from_config(cls, config: AppConfig, logger: JsonLogger) -> WorkerApp:
        """The app of one `[[apps]]` entry (its secrets are read from the environment)."""
        app = cls.__new__(cls)
        app._setup(config, logger)
        return app

    def _setup(self, config: AppConfig, logger: JsonLogger) -> None:
        self.config = config
        self.logger = logger
        self._env = config.resolved_env()
        self._pool: IsolatePool | None = None
        self._start_lock = asyncio.Lock()
        metrics.register_app(config.name)

    @property
    def name(self) -> str:
        return self.config.name

    def watched_files(self) -> list[Path]:
        """The entry script and every module it imports, as last loaded."""
        if self._pool is None:
            return [self.config.script]
        root = self._pool.script.path.parent
        return [root / name for name in self._pool.script.sources]

    async def startup(self) -> None:
        """Loads the script into a pool of warm isolates; raises if the script fails to load."""
        async with self._start_lock:
            if self._pool is None:
                self._pool = await self._new_pool()
                self._log_loaded(reload=False)

    async def shutdown(self) -> None:
        """Disposes the isolates; busy ones go as their requests finish."""
        if self._pool is not None:
            self._pool.retire("shutdown")

    async def reload(self) -> bool:
        """Loads the script anew; on failure logs why and keeps the old version serving."""
        try:
            pool = await self._new_pool()
        except (Error, OSError) as exc:
            self.logger.emit("error", "reload_failed", app=self.name, message=str(exc),
                             stack=getattr(exc, "stack", None))
            return False
        old, self._pool = self._pool, pool
        if old is not None:
            old.retire("reload")
        self._log_loaded(reload=True)
        return True

    async def _new_pool(self) -> IsolatePool:
        script: WorkerScript = await asyncio.to_thread(load_script, self.config.script)
        pool = IsolatePool(self.name, script, env=self._env, limits=self.config.limits,
                           size=self.config.pool_size, max_queue=self.config.max_queue, logger=self.logger,
                           host_ops=app_host_ops(self.config, self.logger))
        await pool.start()
        return pool

    def _log_loaded(self, *, reload: bool) -> None:
        assert self._pool is not None
        self.logger.emit("info", "app_loaded", app=self.name, script=self._pool.script.path.name,
                         kind=self._pool.script.kind, isolates=self._pool.size, reload=reload or None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # websockets are not supported: refuse the handshake
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        head = scope["method"] == "HEAD"
        cpu_ms: float | None = None
        sent = False
        try:
            body = await self._read_body(scope, receive)
            if self._pool is None:
                await self._start_for_request(request_id)
            pool = self._pool
            assert pool is not None
            lease = _Lease(pool, await self._acquire(pool, receive))
            try:
                result = await lease.run(self._run(lease.isolate, scope, body, request_id))
                cpu_ms = result.cpu_ms
                if result.stream_id:
                    sent = True
                    try:
                        await self._stream(send, lease, result, request_id, head)
                    except _StreamBroken:
                        self._log_request(scope, result.status, started, request_id, cpu_ms)
                        raise
                else:
                    await _send(send, result.status, result.headers, result.body, request_id, head)
                    sent = True
                self._log_request(scope, result.status, started, request_id, cpu_ms)
                await lease.run(self._wait_until(lease.isolate, request_id))
            finally:
                lease.end()
        except _Answer as answer:
            headers = [("content-type", "text/plain; charset=utf-8"), *answer.headers]
            await _send(send, answer.status, headers, (answer.text + "\n").encode(), request_id, head)
            self._log_request(scope, answer.status, started, request_id, cpu_ms)
        except _Disconnected:
            self._log_request(scope, 499, started, request_id, cpu_ms)  # nginx's "client closed request"
        except _StreamBroken:
            raise  # the server closes the connection: the client sees a truncated body, not a complete one
        except Exception as exc:  # a bug of ours: still an answer, and a log line with the traceback
            self.logger.emit("error", "error", app=self.name, request_id=request_id,
                             message=f"internal error: {exc!r}", stack=traceback.format_exc())
            if not sent:
                await _send(send, 500, [("content-type", "text/plain; charset=utf-8")],
                            b"Internal Server Error\n", request_id, head)
            self._log_request(scope, 500, started, request_id, cpu_ms)

    async def _acquire(self, pool: IsolatePool, receive: Receive) -> AppIsolate:
        """An isolate from the pool; a refusal becomes 503 with Retry-After.

        A client that leaves while its request waits gives up its place in the queue (the
        server does not cancel the request for us: it only reports the disconnect).
        """
        acquire = asyncio.ensure_future(pool.acquire())
        disconnect = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait((acquire, disconnect), return_when=asyncio.FIRST_COMPLETED)
        finally:
            disconnect.cancel()
        if not acquire.done():
            acquire.cancel()
            try:
                await acquire
            except asyncio.CancelledError:
                raise _Disconnected from None
            pool.release(acquire.result())  # handed over just as the client left
            raise _Disconnected
        try:
            return acquire.result()
        except PoolFull as exc:
            self.logger.emit("warn", "queue_full", app=self.name, message=str(exc))
            raise _Answer(503, "Service Unavailable: the app is busy, retry later",
                          (("retry-after", "1"),)) from None
        except PoolClosed:
            raise _Answer(503, "Service Unavailable: the app is shutting down",
                          (("retry-after", "1"),)) from None

    async def _start_for_request(self, request_id: str) -> None:
        try:
            await self.startup()
        except (Error, OSError) as exc:
            self.logger.emit("error", "error", app=self.name, request_id=request_id,
                             message=f"cannot load the app: {exc}", stack=getattr(exc, "stack", None))
            raise _Answer(500, "Internal Server Error: the app failed to load") from None

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        limit = int(self.config.limits.max_body_mb * 1024 * 1024)
        too_large = _Answer(413, f"Payload Too Large: the limit is {self.config.limits.max_body_mb:g} MB")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                if more:
                    await self._discard_body(receive)
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks) if size else None

    async def _discard_body(self, receive: Receive) -> None:
        """Reads the rest of a refused body, so the client sees the 413 and the connection stays usable.

        Bounded by the request timeout: a client that never stops sending is cut off.
        """
        async def drain() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return

        try:
            await asyncio.wait_for(drain(), self.config.limits.request_timeout_s)
        except TimeoutError:
            pass

    async def _run(self, isolate: AppIsolate, scope: Scope, body: bytes | None,
                   request_id: str) -> FetchResult:
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]]
        try:
            return await isolate.fetch(scope["method"], _url(scope), headers, body, request_id=request_id,
                                       console=self.logger.console_sink(self.name, request_id))
        except (Error, TypeError) as exc:  # TypeError: a result that cannot leave JS
            raise self._failure(request_id, exc) from None

    def _failure(self, request_id: str, exc: Error | TypeError, phase: str | None = None) -> _Answer:
        """Logs why JS failed (a limit, with its metric; or the error and its stack) and
        returns the answer that hides the details from the client: 503 or 500."""
        if isinstance(exc, MemoryLimitExceeded | IsolateClosed):
            return self._limit(request_id, "memory", str(exc), phase)
        if isinstance(exc, TimeLimitExceeded):
            # Metrics know timeout, cpu and memory: the whole-request timeout counts as timeout.
            return self._limit(request_id, "timeout" if exc.limit == "total" else exc.limit, str(exc), phase)
        if isinstance(exc, JSError):
            self.logger.emit("error", "error", app=self.name, request_id=request_id, phase=phase, name=exc.name,
                             message=exc.message, stack=exc.stack)
        else:  # an unsettled handler promise, an unconvertible result
            self.logger.emit("error", "error", app=self.name, request_id=request_id, phase=phase,
                             name=type(exc).__name__, message=str(exc))
        return _Answer(500, "Internal Server Error")

    async def _stream(self, send: Send, lease: _Lease, result: FetchResult, request_id: str, head: bool) -> None:
        """Sends a body the app streams, chunk by chunk as JS produces it.

        The status is sent first, so a failure midway cannot become an error status: the
        connection is closed instead (the client sees a truncated body), and the log says why.
        """
        await send({"type": "http.response.start", "status": result.status,
                    "headers": _raw_headers(result.headers, request_id)})
        isolate = lease.isolate
        sink = self.logger.console_sink(self.name, request_id)
        if head:
            await lease.run(isolate.cancel_stream(result.stream_id))
        else:
            try:
                while (chunk := await lease.run(isolate.read_chunk(result.stream_id, console=sink))) is not None:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (Error, TypeError) as exc:
                self._failure(request_id, exc, phase="stream")
                raise _StreamBroken from None
            except OSError:  # the client went away
                await lease.run(isolate.cancel_stream(result.stream_id))
                raise _Disconnected from None
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _limit(self, request_id: str, limit: str, detail: str, phase: str | None = None) -> _Answer:
        metrics.LIMIT_EXCEEDED.labels(self.name, limit).inc()
        self.logger.emit("warn", "limit_exceeded", app=self.name, request_id=request_id, limit=limit,
                         message=detail, phase=phase)
        return _Answer(503, f"Service Unavailable: {_LIMIT_MESSAGES[limit]} ({limit})")

    async def _wait_until(self, isolate: AppIsolate, request_id: str) -> None:
        """Runs `ctx.waitUntil` work after the response is sent; its failures only reach the log."""
        try:
            await isolate.wait_until(console=self.logger.console_sink(self.name, request_id))
        except (Error, TypeError) as exc:
            self._failure(request_id, exc, phase="waitUntil")

    def _log_request(self, scope: Scope, status: int, started: float, request_id: str,
                     cpu_ms: float | None) -> None:
        duration = time.perf_counter() - started
        metrics.REQUESTS.labels(self.name, str(status)).inc()
        metrics.DURATION.labels(self.name).observe(duration)
        self.logger.emit("info", "request", app=self.name, request_id=request_id, method=scope["method"],
                         path=scope["path"], status=status, duration_ms=round(duration * 1000, 3),
                         cpu_ms=round(cpu_ms, 3) if cpu_ms is not None else None)


def _raw_headers(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...],
                 request_id: str) -> list[tuple[bytes, bytes]]:
    """The app's headers as ASGI wants them, less hop-by-hop ones, with our X-Request-ID."""
    raw = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers
           if n.lower() not in _HOP_BY_HOP and n.lower() != "x-request-id"]
    raw.append((b"x-request-id", request_id.encode()))
    return raw


async def _send(send: Send, status: int, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...],
                body: bytes, request_id: str, head: bool) -> None:
    raw = _raw_headers(headers, request_id)
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _wait_for_disconnect(receive: Receive) -> None:
    """Returns when the client disconnects (the request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _url(scope: Scope) -> str:
    """The URL the client asked for. ASGI keeps the full path in `path` even under a mount prefix."""
    host = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else server[0]
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}{path}{'?' + query if query else ''}"

