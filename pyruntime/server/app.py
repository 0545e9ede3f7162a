"""`WorkerApp`: an ASGI application serving one worker script from a pool of isolates.

It is public API: mount it inside a Starlette or FastAPI app, or let `serve` route to it.
Failures are answers: limits give 503 naming the limit, JS errors 500, and response
bodies never carry stack traces or host paths (the JSON log has them). Nothing a client
does holds an isolate: a client that leaves frees it at once, and slow bodies and stalled
streams are cut off by the app's limits (`AppLimits`).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

from .. import _core
from ..engine import AppIsolate, FetchResult, WorkerScript, load_script
from ..engine.app_isolate import AnswerFrame
from ..engine.errors import Error, IsolateClosed, JSError, MemoryLimitExceeded, TimeLimitExceeded
from ..engine.host_ops import HostOpError, UpstreamBody
from .body_budget import BodyBudget
from .config import AppConfig, AppLimits
from .observer import LogObserver, Observer, RequestContext, SecretMask
from .outbound import app_host_ops
from .pool import Abandoned, IsolatePool, PoolClosed, PoolFull

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")

# Incoming X-Request-ID values are reused only if they look like an id: nothing to inject into logs.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# A Host header is a name or an address with an optional port: nothing that could move the
# path, query, fragment or user info of the URL built from it.
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$")
# Response headers the app's answer loses: those the ASGI server owns (the app's values would
# contradict the body we send), and an X-Request-ID of its own (ours is set).
_NOT_FORWARDED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
                            "x-request-id"})
# A response body up to this size is sent after its isolate went back to the pool: the next
# request need not wait for the client. A bigger one keeps its isolate until it is sent, in
# chunks under the stream bounds, so that clients that stop reading hold at most one body
# per isolate of the host's memory, not one each.
EARLY_RELEASE_BYTES = 64 * 1024
SEND_CHUNK_BYTES = 256 * 1024
_LIMIT_MESSAGES = {
    "timeout": "the request exceeded its time limit",
    "cpu": "the request exceeded its CPU time limit",
    "memory": "the request exceeded its memory limit",
}


class _EarlyResponse(Exception):
    """A response the server gives before or instead of the app's (400, 408, 413, 500, 503),
    raised where the decision is made and sent by the request's top level."""

    def __init__(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers

    def parts(self) -> tuple[list[tuple[str, str]], bytes]:
        """Its headers and its body: a line of plain text."""
        return [("content-type", "text/plain; charset=utf-8"), *self.headers], (self.text + "\n").encode()


class _Disconnected(Exception):
    """The client went away before its response was complete."""


class _StreamBroken(Exception):
    """A streamed body failed or stalled after its status was sent; the connection must be closed."""


class _Client:
    """Watches for the client's disconnect once the request body has been read."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._gone: asyncio.Future[None] | None = None

    @property
    def left(self) -> bool:
        """Whether the client is known to have left (without starting to watch)."""
        return self._gone is not None and self._gone.done()

    @property
    def gone(self) -> asyncio.Future[None]:
        if self._gone is None:
            self._gone = asyncio.ensure_future(self._watch())
        return self._gone

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    def close(self) -> None:
        if self._gone is not None:
            self._gone.cancel()


class _Lease:
    """An isolate lent to one request.

    JS calls run shielded from the request's cancellation; when the request ends early (the
    client left, the server is stopping, a stream stalled) the running call is terminated, and
    the isolate returns to the pool as soon as that call has ended, never before.
    """

    def __init__(self, pool: IsolatePool, isolate: AppIsolate) -> None:
        self.pool = pool
        self.isolate = isolate
        self._call: asyncio.Future[Any] | None = None
        self._ended = False

    async def run(self, work: Awaitable[T], client: _Client | None) -> T:
        """The result of `work`; raises _Disconnected (and terminates the call) if `client`
        leaves first."""
        # A task at once, even for a client already gone: `work` may be a call already under
        # way (its first slice ran in AppIsolate.fetch_now), which must run to its end.
        call = self._call = asyncio.ensure_future(work)
        if client is not None and client.left:
            self.isolate.terminate()
            raise _Disconnected
        waits: set[asyncio.Future[Any]] = {call} if client is None else {call, client.gone}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self.isolate.terminate()
            raise
        if call in done:
            return call.result()
        self.isolate.terminate()
        raise _Disconnected

    def end(self) -> None:
        """Gives the isolate back once its call has ended; later calls do nothing."""
        if self._ended:
            return
        self._ended = True
        call = self._call
        if call is None or call.done():
            self._give_back()
            return
        self.isolate.terminate()

        def finished(_: asyncio.Future[Any]) -> None:
            if not call.cancelled():
                call.exception()  # already answered or logged; retrieved so asyncio does not warn
            self._give_back()

        call.add_done_callback(finished)

    def follow(self, work: Awaitable[Any]) -> None:
        """Takes on a call under way that no one will await, so that `end` terminates it and
        gives the isolate back once it has ended."""
        self._call = asyncio.ensure_future(work)

    def _give_back(self) -> None:
        self.isolate.end_request()
        self.pool.release(self.isolate)


class _Pumping:
    """A streamed body's pump (WorkerApp._stream): whether it is in a read, and what stopped it.

    A read is a call into the isolate: it is terminated, and ends by itself, never cancelled
    (its slice may be running in a worker thread). Anything else the pump awaits (a send) is
    cancelled."""

    __slots__ = ("isolate", "reading", "expired", "stopped")

    def __init__(self, isolate: AppIsolate) -> None:
        self.isolate = isolate
        self.reading = False
        self.expired: bool | None = None  # past a bound: whether the idle one (else the total)
        self.stopped = False

    def expire(self, idle: bool) -> None:
        self.expired = idle
        self.isolate.terminate()

    def stop(self, pump: asyncio.Future[None]) -> None:
        self.stopped = True
        if self.reading:
            self.isolate.terminate()
        else:
            pump.cancel()


class Begun:
    """A request whose JS began at once, on the loop's thread, with its whole body in hand
    (`WorkerApp.begin_pass`): its answer if in hand (`answer`), else the rest of it (`resume`).

    Why: a server that has several requests in hand runs their JS one after another, then
    answers them all (h1_server.H1Server's JS pass; js_pass.JsPass on the ASGI servers).
    V8 code and data stay in the CPU's caches from one request to the next, instead of being
    evicted by each request's Python around it: measured on h1, a third less CPU per request.
    """

    __slots__ = ("app", "ctx", "method", "headers", "url", "lease", "head", "body", "result", "early", "whole",
                 "frame", "framed")

    def __init__(self, app: WorkerApp, ctx: RequestContext, method: str, headers: list[tuple[bytes, bytes]],
                 body: bytes | None) -> None:
        self.app = app
        self.ctx = ctx
        self.method = method
        self.headers = headers
        self.url = ""
        self.lease: _Lease | None = None  # the isolate, while the request needs it after its first slice
        self.head = method == "HEAD"
        self.body = body  # counted in the app's body budget until the request ends
        self.result: FetchResult | Awaitable[FetchResult] | None = None
        self.early: _EarlyResponse | None = None
        self.whole = False  # answered in hand (`early`, or a whole small body) and the isolate is free
        self.frame: AnswerFrame | None = None  # how the server frames a whole answer, if it asked the core to
        # (status, the HTTP/1.1 response after its status line), framed by the core: what the
        # server that gave `frame` writes (h1_server), in place of `whole_result`
        self.framed: tuple[int, bytes] | None = None

    def whole_result(self) -> FetchResult | None:
        """The handler's result when it is the whole answer, in hand: a server that frames it
        itself (h1_server) takes it here, and says `answered`; else None (`answer`)."""
        if self.whole and self.early is None:
            assert isinstance(self.result, FetchResult)
            return self.result
        return None

    def answered(self, status: int) -> None:
        """Logs the request as answered with `status`, as `answer` does for its answers."""
        self.app.observer.request(self.ctx, status)

    def answer(self) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The response (status, ASGI-style headers with Content-Length, body; none for HEAD),
        logged as answered; None if the request needs `resume`."""
        early = self.early
        if early is not None:
            status = early.status
            raw, body = _whole_answer(status, *early.parts(), self.ctx.request_id, self.head)
        elif self.whole:
            result = self.result
            assert isinstance(result, FetchResult)
            status = result.status
            raw, body = _whole_answer(status, result.headers, result.body, self.ctx.request_id, self.head)
        else:
            return None
        self.answered(status)
        return status, raw, body

    def resume(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The rest of a request `answer` did not answer, as the app's ASGI call would run it."""
        return self.app._http(scope, receive, send, self)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answers over ASGI: the answer in hand, else the rest of the request (`resume`)."""
        answer = self.answer()
        if answer is None:
            await self.resume(scope, receive, send)
        else:
            await _send_raw(send, *answer)

    def abandon(self) -> None:
        """Ends a request no one will answer or resume (its task was cancelled): its isolate
        and body's bytes are given back, once its JS has ended."""
        if not self.whole:
            if self.lease is not None and self.result is not None and not isinstance(self.result, FetchResult):
                self.lease.follow(self.result)
            self.app._ended(self)


async def lifespan(receive: Receive, send: Send, startup: Callable[[], Awaitable[None]],
                   shutdown: Callable[[], Awaitable[None]]) -> None:
    """The ASGI lifespan protocol around `startup` and `shutdown`; a startup that raises is
    reported to the server (which then does not start), with its message."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await startup()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when well-formed, else a new random id."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            return request_id_of(value.decode("latin-1"))
    return new_request_id()


def request_id_of(given: str | None) -> str:
    """The request id for a client's X-Request-ID value: its own when well-formed, else a new one."""
    if given is not None:
        text = given.strip()
        if _REQUEST_ID.match(text):
            return text
    return new_request_id()


# New ids: 64 random bits per process, then a counter, in uuid4().hex's shape (32 hex digits)
# without a getrandom call per request. A forked child draws its own prefix.
_id_prefix = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:
    global _id_prefix
    _id_prefix = uuid.uuid4().hex[:16]


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    """A request id unique across processes (random per process) and requests (counted)."""
    return f"{_id_prefix}{next(_id_counter):016x}"


class Head(NamedTuple):
    """What the request's head says, from one pass over its headers (which go to JS as they are)."""

    host: str | None
    request_id: str
    # HTTP/1 with neither Content-Length nor Transfer-Encoding: the message ends with its head,
    # so the server has the (empty) body at hand.
    bodyless: bool


def read_head(scope: Scope) -> Head:
    host = request_id = None
    framed = scope.get("http_version", "1.1") not in ("1.0", "1.1", "1")  # Granian says "1" for HTTP/1.0
    for raw_name, raw_value in scope["headers"]:
        lower = raw_name.lower()
        if lower == b"host":
            host = raw_value.decode("latin-1") if host is None else host
        elif lower == b"x-request-id":
            request_id = raw_value.decode("latin-1") if request_id is None else request_id
        elif lower == b"content-length" or lower == b"transfer-encoding":
            framed = True
    return Head(host, request_id_of(request_id), not framed)


class WorkerApp:
    """ASGI app for one worker script (module or service-worker syntax).

    The isolate pool starts at ASGI lifespan startup, at `await startup()`, or lazily at
    the first request (mounted sub-apps get no lifespan events from Starlette). Events go to
    `observer` (default: JSON log lines on stdout and Prometheus metrics).
    """

    def __init__(self, script: str | Path, *, name: str | None = None, env: dict[str, Any] | None = None,
                 limits: AppLimits | None = None, pool_size: int | None = None, max_pool_size: int | None = None,
                 max_queue: int = 64,
                 outbound_hosts: tuple[str, ...] | None = None, observer: Observer | None = None) -> None:
        path = Path(script).resolve()
        self._setup(AppConfig(name=name or path.stem, script=path, env=dict(env or {}),
                              limits=limits or AppLimits(), pool_size=pool_size, max_pool_size=max_pool_size,
                              max_queue=max_queue,
                              outbound_hosts=outbound_hosts),
                    observer or LogObserver())

    @classmethod
    def from_config(cls, config: AppConfig, observer: Observer, *, framed_by_server: bool = False) -> WorkerApp:
        """The app of one `[[apps]]` entry (its secrets are read from the environment).

        `framed_by_server`: requests come from an HTTP server's parser (the server's own
        apps), so one without Content-Length or Transfer-Encoding has no body; see
        `_read_body`. A hand-made ASGI caller may send a body without them: by default the
        app reads what comes."""
        app = cls.__new__(cls)
        app._setup(config, observer, framed_by_server)
        return app

    def _setup(self, config: AppConfig, observer: Observer, framed_by_server: bool = False) -> None:
        self.config = config
        self.observer = observer
        self._framed_by_server = framed_by_server
        self._env = config.resolved_env()
        self._mask = SecretMask([str(self._env[name]) for name in config.secrets])
        self._bodies = BodyBudget(config.limits.buffered_body_bytes)
        self._pool: IsolatePool | None = None
        self._start_lock = asyncio.Lock()
        observer.app_registered(config.name)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def limits(self) -> AppLimits:
        return self.config.limits

    @property
    def mask(self) -> SecretMask:
        """Hides the app's secret values in what goes to the log."""
        return self._mask

    def report_failure(self, ctx: RequestContext, exc: Error | TypeError, phase: str) -> None:
        """Reports a failed JS call that answers no client (a scheduled run): a limit or an error."""
        self._failure(ctx, exc, phase)

    async def pool(self) -> IsolatePool:
        """The app's isolate pool, started on first use."""
        await self.startup()
        assert self._pool is not None
        return self._pool

    def watched_files(self) -> list[Path]:
        """The entry script and every module it imports, as last loaded."""
        if self._pool is None:
            return [self.config.script]
        return self._pool.script.files

    async def startup(self) -> None:
        """Loads the script into a pool of warm isolates; raises if the script fails to load."""
        async with self._start_lock:
            if self._pool is None:
                self._pool = await self._new_pool()
                self._loaded(reload=False)

    async def shutdown(self) -> None:
        """Disposes the isolates; busy ones go as their requests finish."""
        if self._pool is not None:
            self._pool.retire("shutdown")

    async def reload(self) -> bool:
        """Loads the script anew; on failure logs why and keeps the old version serving."""
        try:
            pool = await self._new_pool()
        except (Error, OSError) as exc:
            self.observer.app_error(self.name, self._mask(str(exc)) or "", self._mask(getattr(exc, "stack", None)),
                                    event="reload_failed")
            return False
        old, self._pool = self._pool, pool
        if old is not None:
            old.retire("reload")
        self._loaded(reload=True)
        return True

    async def _new_pool(self) -> IsolatePool:
        script: WorkerScript = await asyncio.to_thread(load_script, self.config.script, root=self.config.root)
        pool = IsolatePool(self.name, script, env=self._env, limits=self.limits,
                           size=self.config.pool_size, max_size=self.config.max_pool_size,
                           max_queue=self.config.max_queue, observer=self.observer,
                           host_ops=app_host_ops(self.config, self.observer))
        await pool.start()
        return pool

    def _loaded(self, *, reload: bool) -> None:
        assert self._pool is not None
        self.observer.app_loaded(self.name, script=self._pool.script.path.name, kind=self._pool.script.kind,
                                 isolates=self._pool.size, reload=reload)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.startup, self.shutdown)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # websockets are not supported: refuse the handshake
            await send({"type": "websocket.close", "code": 1003})


    def begin_pass(self, requests: list[tuple[Scope, bytes | None, Head]], frames: list[AnswerFrame] | None = None,
                   date_line: bytes = b"") -> list[Begun | None | Exception]:
        """Begins requests whose whole bodies the server has read (None: a bodyless one) at
        once: on an idle isolate, their handlers' first slices run here one after another
        (`AppIsolate.fetch_series`, and see `Begun`). For each, in order: its Begun; None when
        it cannot begin now (no pool yet, no idle isolate, a body past `max_body_mb` or the
        app's body budget), and then it is the app's ASGI call, as any other, which answers
        those; or the exception of a bug of ours, that request's alone.
        `head`: what the server read in its head (`read_head`, or h1 as it parsed).
        `frames` (h1's), one per request: a whole answer comes framed (`Begun.framed`), with
        `date_line` (AppIsolate.fetch_series)."""
        pool = self._pool
        isolate = None if pool is None else pool.try_acquire()
        if pool is None or isolate is None:
            return [None] * len(requests)
        begun: list[Begun | None | Exception] = []
        for index, (scope, body, head) in enumerate(requests):
            try:
                begun.append(state := self._prepare(scope, body, head))
                if state is not None and frames is not None:
                    state.frame = frames[index]
            except Exception as exc:
                begun.append(exc)
        slots = [index for index, state in enumerate(begun) if isinstance(state, Begun) and not state.whole]
        done = 0
        try:
            while isolate is not None and done < len(slots):
                series = [state for state in (begun[index] for index in slots[done:]) if isinstance(state, Begun)]
                started = isolate.fetch_series(
                    [(state.method, state.url, state.headers, state.body, state.ctx.request_id, state.ctx.console)
                     for state in series], EARLY_RELEASE_BYTES,
                    None if frames is None else [state.frame for state in series], date_line)
                if not started:  # the gate sends slices to threads now: the rest go the usual way
                    break
                for index, outcome in zip(slots[done:], started, strict=False):
                    begun[index] = last = self._begun(begun[index], outcome, isolate)  # type: ignore[arg-type]
                done += len(started)
                held, isolate = isolate, None
                if isinstance(last, Begun) and not last.whole:
                    last.lease = _Lease(pool, held)
                else:
                    held.end_request()  # as a lease's end does: the isolate is clean for the next
                    pool.release(held, len(started))
                if done < len(slots):
                    isolate = pool.try_acquire()
        finally:
            if isolate is not None:
                pool.release(isolate, 0)
            for index in slots[done:]:  # not begun: the app's ASGI call
                state = begun[index]
                if isinstance(state, Begun):
                    self._ended(state)
                begun[index] = None
        return begun

    def _prepare(self, scope: Scope, body: bytes | None, head: Head) -> Begun | None:
        """A request's Begun before its JS, or None if its body cannot be held now."""
        size = len(body) if body else 0
        if size and (size > self.limits.max_body_bytes or not self._bodies.take(size)):
            return None
        method = scope["method"]
        ctx = RequestContext(self.name, head.request_id, method, scope["path"], self.observer, self._mask)
        begun = Begun(self, ctx, method, scope["headers"], body or None)
        try:
            begun.url = request_url(scope, head.host)
        except _EarlyResponse as early:
            self._answered_early(begun, early)
        return begun

    def _begun(self, begun: Begun, started: Any, isolate: AppIsolate) -> Begun | Exception:
        """A request after its first slice (one item of `AppIsolate.fetch_series`): its answer
        in hand, its error's answer, the rest of its call (`Begun.resume`), or a bug of ours."""
        try:
            if isinstance(started, Exception):
                raise started
            if not isinstance(started, _core.Outcome):
                begun.result = self._dispatched(begun.ctx, started)
                return begun
            # A framed answer is whole: the core frames only those (ext/framed_answer.h).
            begun.framed = framed = isolate.framed_answer(started)
            if framed is None:
                result = begun.result = isolate.result_of(started)
        except (Error, TypeError) as exc:
            self._answered_early(begun, self._failure(begun.ctx, exc))
            return begun
        except Exception as exc:
            self._ended(begun)
            return exc
        begun.ctx.add_cpu(started.cpu_ms)
        if framed is not None or (not result.stream_id and _sent_whole(result, begun.head)
                                  and not isolate.has_background_work):
            begun.whole = True
            self._ended(begun)
        return begun

    def _answered_early(self, begun: Begun, early: _EarlyResponse) -> None:
        begun.early = early
        begun.whole = True
        self._ended(begun)

    def _ended(self, begun: Begun) -> None:
        """A begun request whose JS is over: its isolate (if it still has it) and its body's
        bytes are given back."""
        if begun.lease is not None:
            begun.lease.end()
        if begun.body:
            self._bodies.give_back(len(begun.body))

    async def _http(self, scope: Scope, receive: Receive, send: Send, begun: Begun | None = None) -> None:
        """One request; `begun`: one that `begin_pass` began and its `answer` did not answer."""
        if begun is None:
            request = read_head(scope)
            ctx = RequestContext(self.name, request.request_id, scope["method"], scope["path"], self.observer,
                                 self._mask)
        else:
            ctx = begun.ctx
        head = scope["method"] == "HEAD"
        client = _Client(receive)
        status: int | None = None  # once set, the response has started
        logged = False
        body = None if begun is None else begun.body  # given back to the app's body budget at the end

        def finish(final: int) -> None:  # exactly one `request` line per request
            nonlocal logged
            if not logged:
                logged = True
                self.observer.request(ctx, final)

        try:
            if begun is None:
                url = request_url(scope, request.host)
                # The common request (no body, a pool, an idle isolate) awaits none of these. HTTP/1
                # with neither Content-Length nor Transfer-Encoding has no body (RFC 9112, 6.3), and
                # the server's parser sends none: the message saying so is left to the disconnect
                # watch (_Client), as waiting for it cost a trip through the event loop.
                body = None if request.bodyless and self._framed_by_server else \
                    await self._read_body(receive, request.bodyless)
                pool = self._pool if self._pool is not None else await self._ready_pool(ctx)
                isolate = pool.try_acquire()
                lease = _Lease(pool, isolate if isolate is not None else await self._acquire(pool, client))
            else:
                assert begun.lease is not None  # a request `answer` did not answer keeps its isolate
                lease = begun.lease
            try:
                # Most handlers answer in their first slice, run here at once; the rest go on as a task.
                result = self._dispatch(lease.isolate, ctx, url, scope["method"], scope["headers"], body) \
                    if begun is None else begun.result
                assert result is not None
                if not isinstance(result, FetchResult):
                    result = await lease.run(result, client)
                status = result.status
                upstream = lease.isolate.take_upstream() if result.stream_id < 0 else None
                if upstream is not None:
                    if not lease.isolate.has_background_work:
                        lease.end()  # no JS runs while the upstream's body is sent on
                    await self._relay(send, client, ctx, result, upstream, head)
                elif result.stream_id:
                    await self._stream(send, lease, client, ctx, result, head)
                elif _sent_whole(result, head):
                    if not lease.isolate.has_background_work:
                        lease.end()  # the body is bytes in hand: the next request need not wait for the send
                    await _send(send, result.status, result.headers, result.body, ctx.request_id, head)
                else:
                    await self._send_large(send, ctx, result)
                finish(result.status)
                # waitUntil work goes on after the client leaves, as on Workers.
                if lease.isolate.has_background_work:
                    await lease.run(self._wait_until(lease.isolate, ctx), None)
            finally:
                lease.end()
        except _EarlyResponse as early:
            await _send(send, early.status, *early.parts(), ctx.request_id, head)
            finish(early.status)
        except _Disconnected:
            finish(499 if status is None else status)  # 499: nginx's "client closed request"
        except _StreamBroken:
            finish(status or 500)
            raise  # the server closes the connection: the client sees a truncated body, not a complete one
        except Exception as exc:  # a bug of ours: still an answer, and a log line with the traceback
            self.observer.internal_error(ctx, f"internal error: {exc!r}", traceback.format_exc())
            if status is None:
                await _send(send, 500, [("content-type", "text/plain; charset=utf-8")],
                            b"Internal Server Error\n", ctx.request_id, head)
            finish(500 if status is None else status)
        finally:
            client.close()
            if body:
                self._bodies.give_back(len(body))

    async def _acquire(self, pool: IsolatePool, client: _Client) -> AppIsolate:
        """An isolate from the pool when none is idle; a refusal becomes 503 with Retry-After,
        as does a wait past `request_timeout_s` (isolates held by long streams or waits would
        otherwise keep a queued request for as long as they last). A client that leaves while
        its request waits gives up its place in the queue."""
        bound = self.limits.request_timeout_s
        try:
            async with asyncio.timeout(bound):
                return await pool.acquire(until=client.gone)
        except Abandoned:
            raise _Disconnected from None
        except (PoolFull, TimeoutError) as exc:
            why = str(exc) if isinstance(exc, PoolFull) else \
                f"{self.name}: no isolate was free within request_timeout_s ({bound:g} s)"
            self.observer.queue_full(self.name, why)
            raise _EarlyResponse(503, "Service Unavailable: the app is busy, retry later",
                                 (("retry-after", "1"),)) from None
        except PoolClosed:
            raise _EarlyResponse(503, "Service Unavailable: the app is shutting down",
                                 (("retry-after", "1"),)) from None

    async def _ready_pool(self, ctx: RequestContext) -> IsolatePool:
        if self._pool is None:
            try:
                await self.startup()
            except (Error, OSError) as exc:
                self.observer.js_error(ctx, type(exc).__name__, f"cannot load the app: {self._mask(str(exc))}",
                                       self._mask(getattr(exc, "stack", None)), "load")
                raise _EarlyResponse(500, "Internal Server Error: the app failed to load") from None
        assert self._pool is not None
        return self._pool

    async def _read_body(self, receive: Receive, bodyless: bool) -> bytes | None:
        """The whole request body, within `max_body_mb` (413), `body_timeout_s` (408) and the
        app's body budget (503; `_http` gives the bytes back when the request ends); for a
        request the server's parser framed as bodyless, `_http` does not ask."""
        first = None
        if bodyless:  # the one message is at hand: no timer is needed to wait for it
            first = await receive()
            if first["type"] == "http.disconnect":
                raise _Disconnected
            if not first.get("more_body", False) and not first.get("body"):
                return None
        limits = self.limits
        limit = limits.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        more = True
        bodies = self._bodies
        try:
            async with asyncio.timeout(limits.body_timeout_s):
                while more:
                    message = first or await receive()
                    first = None
                    if message["type"] == "http.disconnect":
                        raise _Disconnected
                    chunk = message.get("body", b"")
                    more = message.get("more_body", False)
                    too_large = size + len(chunk) > limit
                    if too_large or not bodies.take(len(chunk)):
                        # Refused: its bytes go at once, not after the rest is read and dropped
                        # (which keeps the connection usable), so they hold no other body back.
                        bodies.give_back(size)
                        size = 0
                        chunks.clear()
                        if more:
                            await _discard_body(receive)
                        if too_large:
                            raise _EarlyResponse(413, f"Payload Too Large: the limit is {limits.max_body_mb:g} MB")
                        raise _EarlyResponse(503, "Service Unavailable: the app holds too many request bodies, "
                                             "retry later", (("retry-after", "1"),))
                    size += len(chunk)
                    chunks.append(chunk)
        except TimeoutError:
            bodies.give_back(size)
            raise _EarlyResponse(408, f"Request Timeout: the body did not arrive within {limits.body_timeout_s:g} s"
                                 ) from None
        except BaseException:
            bodies.give_back(size)
            raise
        return b"".join(chunks) if size else None

    def _dispatch(self, isolate: AppIsolate, ctx: RequestContext, url: str, method: str,
                  headers: list[tuple[bytes, bytes]], body: bytes | None) -> FetchResult | Awaitable[FetchResult]:
        """The handler's answer if its first slice gave it (AppIsolate.fetch_now), else an awaitable of it."""
        try:
            result = isolate.fetch_now(method, url, headers, body, console=ctx.console, request_id=ctx.request_id)
        except (Error, TypeError) as exc:  # TypeError: a result that cannot leave JS
            raise self._failure(ctx, exc) from None
        if isinstance(result, FetchResult):
            ctx.add_cpu(result.cpu_ms)
            return result
        return self._dispatched(ctx, result)

    async def _dispatched(self, ctx: RequestContext, pending: Awaitable[FetchResult]) -> FetchResult:
        try:
            result = await pending
        except (Error, TypeError) as exc:
            raise self._failure(ctx, exc) from None
        ctx.add_cpu(result.cpu_ms)
        return result

    def _failure(self, ctx: RequestContext, exc: Error | TypeError, phase: str | None = None) -> _EarlyResponse:
        """Reports why JS failed (a limit, or the error and its stack) and returns the answer that
        hides the details from the client: 503 or 500."""
        if isinstance(exc, MemoryLimitExceeded | IsolateClosed):
            return self._limit(ctx, "memory", str(exc), phase)
        if isinstance(exc, TimeLimitExceeded):
            # Metrics know timeout, cpu and memory: the whole-request timeout counts as timeout.
            return self._limit(ctx, "timeout" if exc.limit == "total" else exc.limit, str(exc), phase)
        if isinstance(exc, JSError):
            self.observer.js_error(ctx, exc.name, self._mask(exc.message) or "", self._mask(exc.stack), phase)
        else:  # an unsettled handler promise, an unconvertible result
            self.observer.js_error(ctx, type(exc).__name__, self._mask(str(exc)) or "", None, phase)
        return _EarlyResponse(500, "Internal Server Error")

    def _limit(self, ctx: RequestContext, limit: str, detail: str, phase: str | None = None) -> _EarlyResponse:
        self.observer.limit_exceeded(ctx, limit, detail, phase)
        return _EarlyResponse(503, f"Service Unavailable: {_LIMIT_MESSAGES[limit]} ({limit})")

    async def _stream(self, send: Send, lease: _Lease, client: _Client, ctx: RequestContext, result: FetchResult,
                      head: bool) -> None:
        """Sends a body the app streams, chunk by chunk as JS produces it.

        The status is sent first, so a failure midway cannot become an error status: the
        connection is closed instead (the client sees a truncated body), and the log says why.
        A chunk that takes longer than `stream_idle_timeout_s` to make or to send (a client
        that stops reading), a stream that outlasts `stream_timeout_s`, or one whose reads used
        more than `stream_cpu_ms` of CPU together, is cut off the same way.
        """
        # HEAD: the length the app gave, if any (a stream's length is unknown until it is read).
        given = _given_length(result.headers) if head else None
        await send(_response_start(result.status, result.headers, ctx.request_id, given))
        isolate = lease.isolate
        if head:
            await lease.run(isolate.cancel_stream(result.stream_id), client)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        # One task reads and sends the chunks, and this one waits for it or the client's
        # departure: a task and a wait per chunk cost 14 us of the loop's each (a server-sent
        # events stream spent 152 us of the worker's CPU per event).
        pumping = _Pumping(isolate)
        pump = asyncio.ensure_future(self._pump_stream(send, ctx, result.stream_id, pumping))
        lease.follow(pump)  # ending the lease waits for it
        try:
            done, _ = await asyncio.wait((pump, client.gone), return_when=asyncio.FIRST_COMPLETED)
            if pump not in done:
                raise _Disconnected
            pump.result()
        except BaseException:
            if not pump.done():
                pumping.stop(pump)
            raise
        finally:
            ctx.add_cpu(isolate.stream_cpu_ms)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump_stream(self, send: Send, ctx: RequestContext, stream_id: int, pumping: _Pumping) -> None:
        """The chunks of a streamed body, each read within the stream's bounds (a read past them
        is terminated) and sent (`_stream`)."""
        loop = asyncio.get_running_loop()
        isolate = pumping.isolate
        ends = loop.time() + self.limits.stream_timeout_s
        budget = self.limits.stream_cpu_budget_ms
        while True:
            timeout, idle = self._chunk_timeout(ends)
            expiry = loop.call_later(timeout, pumping.expire, idle)
            pumping.reading = True
            try:
                chunk = await isolate.read_chunk(stream_id, console=ctx.console)
            except (Error, TypeError) as exc:
                if pumping.expired is not None:
                    raise self._stream_limit(ctx, pumping.expired) from None
                if pumping.stopped:
                    raise _Disconnected from None
                self._failure(ctx, exc, phase="stream")
                raise _StreamBroken from None
            finally:
                pumping.reading = False
                expiry.cancel()
            if pumping.expired is not None:  # due as the read ended: the isolate was told to stop
                raise self._stream_limit(ctx, pumping.expired)
            if chunk is None:
                return
            if isolate.stream_cpu_ms > budget:
                self.observer.limit_exceeded(
                    ctx, "stream_cpu", f"the response body's stream used {isolate.stream_cpu_ms:.1f} ms of CPU, "
                    f"past its stream_cpu_ms limit of {budget:g} ms", "stream")
                raise _StreamBroken
            await self._send_chunk(send, ctx, chunk, ends)

    async def _relay(self, send: Send, client: _Client, ctx: RequestContext, result: FetchResult,
                     upstream: UpstreamBody, head: bool) -> None:
        """Sends on the body of the app's own fetch() that it returned unread, from the
        upstream to the client with no JS between (host_ops.UpstreamBody), with the upstream's
        Content-Length, within the stream's idle and total bounds; the upstream is closed when
        the client leaves.

        Why: through JS each chunk cost a read call and two crossings (a proxied 500 MB body
        used 6.8 ms of the worker's CPU per MB), under `stream_cpu_ms`, and held an isolate
        for as long as the client took to read."""
        pump: asyncio.Future[None] | None = None
        try:
            # The upstream's length goes with its body, as a proxy passes it on: the upstream's
            # client (httpcore) fails a body that ends short, and then the response is cut.
            await send(_response_start(result.status, result.headers, ctx.request_id,
                                       _given_length(result.headers)))
            if not head:
                pump = asyncio.ensure_future(self._pump(send, ctx, upstream))
                done, _ = await asyncio.wait((pump, client.gone), return_when=asyncio.FIRST_COMPLETED)
                if pump not in done:
                    raise _Disconnected
                pump.result()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if pump is not None and not pump.done():
                pump.cancel()
            upstream.close()

    async def _pump(self, send: Send, ctx: RequestContext, upstream: UpstreamBody) -> None:
        """The chunks of an upstream body, each read and sent within the stream bounds (`_relay`)."""
        ends = asyncio.get_running_loop().time() + self.limits.stream_timeout_s
        while True:
            timeout, idle = self._chunk_timeout(ends)
            try:
                async with asyncio.timeout(timeout):
                    chunk = await upstream.read()
            except TimeoutError:
                raise self._stream_limit(ctx, idle) from None
            except HostOpError as exc:  # logged as JS would have seen it, had it read the body
                self._failure(ctx, TypeError(f"fetch failed: {exc}"), phase="stream")
                raise _StreamBroken from None
            if chunk is None:
                return
            await self._send_chunk(send, ctx, chunk, ends)

    async def _send_large(self, send: Send, ctx: RequestContext, result: FetchResult) -> None:
        """Sends a body above EARLY_RELEASE_BYTES in chunks, each within the stream bounds; the
        caller keeps the isolate until it is sent."""
        body = result.body
        await send(_response_start(result.status, result.headers, ctx.request_id, len(body)))
        ends = asyncio.get_running_loop().time() + self.limits.stream_timeout_s
        for offset in range(0, len(body), SEND_CHUNK_BYTES):
            await self._send_chunk(send, ctx, body[offset:offset + SEND_CHUNK_BYTES], ends)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_chunk(self, send: Send, ctx: RequestContext, chunk: bytes, ends: float) -> None:
        """Sends one chunk of a response body, within `stream_idle_timeout_s` and before `ends`
        (the loop's time): a client that stops reading holds the send, and with it the
        isolate and the bytes, no longer."""
        timeout, idle = self._chunk_timeout(ends)
        try:
            async with asyncio.timeout(timeout):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except TimeoutError:
            raise self._stream_limit(ctx, idle) from None
        except OSError:  # the client went away
            raise _Disconnected from None

    def _chunk_timeout(self, ends: float) -> tuple[float, bool]:
        """How long one chunk of a response body may take to make or send, with the stream
        ending at `ends` (the loop's time); and whether that is the idle bound (else the total)."""
        idle_s = self.limits.stream_idle_timeout_s
        left = max(ends - asyncio.get_running_loop().time(), 0.0)
        return min(idle_s, left), left > idle_s

    def _stream_limit(self, ctx: RequestContext, idle: bool) -> _StreamBroken:
        """Reports a response body that passed its idle or total bound; the connection is closed."""
        limits = self.limits
        limit, bound = ("stream_idle", limits.stream_idle_timeout_s) if idle else \
            ("stream_total", limits.stream_timeout_s)
        self.observer.limit_exceeded(ctx, limit, f"the response body passed its {limit} limit of {bound:g} s",
                                     "stream")
        return _StreamBroken()

    async def _wait_until(self, isolate: AppIsolate, ctx: RequestContext) -> None:
        """Runs `ctx.waitUntil` work after the response is sent; its failures only reach the log."""
        try:
            await isolate.wait_until(console=ctx.console)
        except (Error, TypeError) as exc:
            self._failure(ctx, exc, phase="waitUntil")


async def _discard_body(receive: Receive) -> None:
    """Reads the rest of a refused body (413, or 503 past the body budget) and drops it, so
    the client sees the answer and the connection stays usable; the caller's body timeout
    bounds it."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


def _response_start(status: int, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...], request_id: str,
                    length: int | None = None) -> Message:
    raw = _raw_headers(headers, request_id)
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": status, "headers": raw}


def _raw_headers(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...],
                 request_id: str) -> list[tuple[bytes, bytes]]:
    """The app's headers as ASGI wants them, less hop-by-hop ones, with our X-Request-ID."""
    raw = []
    for name, value in headers:
        lower = name.lower()
        if lower not in _NOT_FORWARDED:
            raw.append((lower.encode("latin-1"), value.encode("latin-1")))
    raw.append((b"x-request-id", request_id.encode()))
    return raw


def _sent_whole(result: FetchResult, head: bool) -> bool:
    """Whether a body in hand is sent in one piece, its isolate free before the send (else in
    chunks, the isolate kept until they are sent: see EARLY_RELEASE_BYTES)."""
    return head or len(result.body) <= EARLY_RELEASE_BYTES


def _whole_answer(status: int, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...], body: bytes,
                  request_id: str, head: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """A whole response's ASGI headers, with its Content-Length (`_content_length`), and the
    body to send (none for HEAD)."""
    raw = _raw_headers(headers, request_id)
    length = _content_length(status, headers, body, head)
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    return raw, b"" if head else body


def _content_length(status: int, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...], body: bytes,
                    head: bool) -> int | None:
    """The Content-Length of a whole response (RFC 9110 8.6): none on a 204; on a 304, and on
    an answer to HEAD without the body, the length the app gave, as it is the length of the
    body a GET would get (a HEAD passed on with fetch() has it); else the body's own length,
    whatever the app said, so the framing is always true."""
    if status == 204:
        return None
    if status == 304:
        return _given_length(headers)
    if head and not body:
        given = _given_length(headers)
        return 0 if given is None else given
    return len(body)


def _given_length(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> int | None:
    """The app's Content-Length when it is one decimal number of at most 18 digits (a list, a
    sign or a length no body has is not)."""
    for name, value in headers:
        if name.lower() == "content-length":
            value = value.strip(" \t")
            return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None
    return None


async def _send(send: Send, status: int, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...],
                body: bytes, request_id: str, head: bool) -> None:
    await _send_raw(send, status, *_whole_answer(status, headers, body, request_id, head))


async def _send_raw(send: Send, status: int, raw: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# Judged once per Host value (a server's requests name the same few hosts), at most 1,024
# remembered: a client sending a new Host each time cannot grow the cache.
@functools.lru_cache(maxsize=1024)
def _valid_host(host: str) -> bool:
    match = _HOST.match(host)
    return match is not None and (match.group(1) is None or 0 < int(match.group(1)) < 65536)


def _target_text(raw: bytes) -> str:
    """A request target's bytes as URL text: bytes past ASCII, which a server may pass on as
    the client sent them (Granian does), percent-encoded one by one. Decoded as text first,
    the URL parser would encode each as two UTF-8 bytes, and `/café` would become `/cafÃ©`."""
    if raw.isascii():
        return raw.decode("ascii")
    return "".join(chr(byte) if byte < 0x80 else f"%{byte:02X}" for byte in raw)


def request_url(scope: Scope, host: str | None) -> str:
    """The URL the client asked for, as the app's `request.url`: a validated Host (400 for one
    that could move the path, query or user info, or a bad port) and the real path.

    ASGI servers keep the full path in `raw_path`; where a server strips a mount prefix, the
    path is put back under `root_path`.
    """
    if not host:  # none (HTTP/1.0 may send none), or empty: the target names no authority (RFC 9112 3.2)
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else server[0]
    if not _valid_host(host):
        raise _EarlyResponse(400, "Bad Request: invalid Host header")
    raw_path = scope.get("raw_path")
    path = _target_text(raw_path).replace("#", "%23") if raw_path else ""
    if not path.startswith("/"):  # absent, `*`, or an absolute-form target: use the parsed path
        root, sub = scope.get("root_path", ""), scope["path"]
        path = quote(sub if sub.startswith(root) else root + sub)
    query = _target_text(scope.get("query_string", b""))
    scheme = "https" if scope.get("scheme") == "https" else "http"
    return f"{scheme}://{host}{path}{'?' + query if query else ''}"
