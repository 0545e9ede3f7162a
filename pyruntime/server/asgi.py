"""The server: an ASGI app routing requests to worker apps, run by Hypercorn.

`create_app` builds a plain ASGI app (any ASGI server can run it; granian_server.py runs it
on Granian); `serve` runs it on Hypercorn with HTTP/1.1 and h2c, and drains in-flight
requests on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import uvloop

from ..engine.app_isolate import AnswerFrame
from ..engine.errors import Error, JSError
from ..engine.host_ops import warm_fetch_client
from .app import Begun, Head, Message, Receive, Scope, Send, WorkerApp, lifespan, read_head, request_id_from
from .config import Route as AppRoute
from .config import ServerConfig, isolation_of
from .http_date import HttpDate
from .isolation import EngineApp, EngineFailed
from .js_pass import JsPass
from .logs import JsonLogger, stdlib_logger
from .metrics import process_metrics, use_kept_pid
from .observer import LogObserver, Observer
from .pool import pool_bounds
from .scheduler import Scheduler, run_scheduled
from .supervisor import ServingSocket, receive_listening_socket, report_loaded, supervisor_pid

if TYPE_CHECKING:
    from hypercorn.config import Config as HypercornConfig

# How often --reload looks at the apps' files.
RELOAD_POLL_S = 0.3
# How often a supervised worker checks that its supervisor is still there.
ORPHAN_POLL_S = 1.0
# A server with no request yet makes its metrics and warms its fetch client this long after it
# starts serving (ServerApp.serving): so that another worker's /metrics soon counts its isolates.
SERVING_WORK_AFTER_S = 0.5
# How long the server's request counts wait before they go in the metrics (LogObserver's
# `publish_every_s`): /metrics of another worker process may lag this much behind.
METRICS_PUBLISH_S = 0.02
# Threads that run the apps' loads when the server starts, per CPU.
LOAD_THREADS_PER_CPU = 2
# The longest a connection may take to send a request's head, or stay idle between requests,
# on every server: Hypercorn's keep-alive timeout, and Granian's header read timeout (30 s by
# default, which let clients that trickle a head hold their connections six times as long).
HEAD_TIMEOUT_S = 5.0


class AppRouter:
    """ASGI app choosing the worker app by host name and path; 404 when no route matches."""

    def __init__(self, routes: list[tuple[AppRoute, WorkerApp | EngineApp]], observer: Observer) -> None:
        self._routes = sorted(routes, key=lambda item: item[0].specificity(), reverse=True)
        self._observer = observer
        # Routes by path alone (most servers) need no look for the Host header.
        self._by_host = any(route.host is not None for route, _ in self._routes)

    def match(self, host: str, path: str) -> WorkerApp | EngineApp | None:
        for route, app in self._routes:
            if route.matches(host, path):
                return app
        return None

    def route(self, scope: Scope) -> WorkerApp | EngineApp | None:
        """The app serving a request, None if no route matches."""
        return self.match(_hostname(scope) if self._by_host else "", scope["path"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        app = self.route(scope)
        if app is not None:
            await app(scope, receive, send)
            return
        await self.not_found(scope, send)

    async def not_found(self, scope: Scope, send: Send) -> None:
        """404, logged as a request no app served."""
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        await answer(scope, send, 404, b"Not Found: no app serves this address\n", "text/plain; charset=utf-8",
                     [(b"x-request-id", request_id.encode())])
        self._observer.unrouted(request_id, scope["method"], scope["path"], 404, time.perf_counter() - started)


async def answer(scope: Scope, send: Send, status: int, body: bytes, content_type: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole response of the server's own (404, health, metrics), without a body for HEAD."""
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *(headers or ())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


class _Dated:
    """An ASGI `send` that adds a Date to a response start without one (http_date.py). A plain
    callable, not a coroutine function: it hands on the server's own awaitable."""

    __slots__ = ("_send", "_date")

    def __init__(self, send: Send, date: HttpDate) -> None:
        self._send = send
        self._date = date

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            headers = message.get("headers", ())
            for name, _ in headers:
                if name == b"date":  # ASGI's header names are lowercase
                    break
            else:
                message = {**message, "headers": [*headers, (b"date", self._date.value())]}
        return self._send(message)


def _origin_form(scope: Scope) -> Scope:
    """A request whose target is in absolute form (`GET http://host/path`, RFC 9112 3.2.2),
    which Hypercorn passes whole as its path, with the path alone, as h1 and Granian pass it:
    the Host header names the authority, for the app's URL as for routing. Other targets
    (`OPTIONS *`) are left as they are."""
    _, sep, rest = scope["path"].partition("://")
    if not sep:
        return scope
    _, sep, raw_rest = (scope.get("raw_path") or b"").partition(b"://")
    slash, raw_slash = rest.find("/"), raw_rest.find(b"/")
    return {**scope, "path": rest[slash:] if slash >= 0 else "/",
            "raw_path": raw_rest[raw_slash:] if sep and raw_slash >= 0 else b"/"}


def _hostname(scope: Scope) -> str:
    """The Host header (or HTTP/2 :authority, which Hypercorn passes as host) without the port."""
    host = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"host"), "").lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


class ServerState:
    """What /healthz reports: ready once every app loaded, not while draining."""

    def __init__(self) -> None:
        self.ready = False
        self.draining = False


class ServerApp:
    """The server's ASGI app: health and metrics first (apps cannot shadow them), then the apps.

    A plain ASGI callable rather than a framework app: every request passes through it, and
    it does no more than compare the path with the server's own paths. `run_crons`: whether
    this process fires the apps' cron triggers (one process per server does).
    """

    def __init__(self, config: ServerConfig, observer: Observer, state: ServerState, reload: bool,
                 run_crons: bool) -> None:
        self.config = config
        self.state = state
        self.observer = observer
        # An app isolated by process runs in an engine process of its own, relayed to by this one.
        self.apps: list[WorkerApp | EngineApp] = [
            EngineApp(app_config, observer) if isolation_of(config, app_config) == "process"
            else WorkerApp.from_config(app_config, observer, framed_by_server=True) for app_config in config.apps]
        self.router = AppRouter([(route, app) for app in self.apps for route in app.config.routes], observer)
        self._reload = reload
        self._run_crons = run_crons
        # The paths the server answers itself, before any app's routes (see __call__).
        self._own_paths = {config.health_path, config.metrics_path} | \
            ({"/__scheduled"} if config.test_scheduled else set())
        self._watcher: asyncio.Task[None] | None = None
        self._serving_started = False
        # Set by an ASGI server that hands over one request per task (Hypercorn, Granian): see js_pass.
        self.js_pass: JsPass | None = None
        # Set by a server that adds no Date of its own (Hypercorn): then this app adds one to each
        # response that has none (http_date.py).
        self.date_responses = False
        self._date = HttpDate()
        # Apps with crons are never process-isolated (config.isolation_of): their pools are here.
        self._scheduler = Scheduler([app for app in self.apps if isinstance(app, WorkerApp)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.date_responses:
                send = _Dated(send, self._date)
            if not scope["path"].startswith("/"):
                scope = _origin_form(scope)
            if scope["path"] in self._own_paths:
                await self._answer_own(scope, send)
                return
            app = self.router.route(scope)
            if app is None:
                await self.router.not_found(scope, send)
            elif self.js_pass is not None and isinstance(app, WorkerApp) and (head := read_head(scope)).bodyless:
                begun = await self.js_pass.begin(app, scope, head)
                if begun is None:  # no idle isolate: the app's ASGI call queues it
                    await app(scope, receive, send)
                else:
                    await begun.serve(scope, receive, send)
            else:
                await app(scope, receive, send)
            if not self._serving_started:
                self.serving()
            return
        elif scope["type"] == "lifespan":
            # An app that fails to load: the server must not start.
            await lifespan(receive, send, self.start, self.shutdown)
            return
        await self.router(scope, receive, send)

    async def _answer_own(self, scope: Scope, send: Send) -> None:
        """/healthz, /metrics and (with --test-scheduled) /__scheduled."""
        path = scope["path"]
        if path == self.config.health_path:
            await self._answer(scope, send, *self._health())
        elif path == self.config.metrics_path:
            self.serving()
            self.observer.publish_counts()
            body, content_type = process_metrics().render()
            await self._answer(scope, send, 200, body, content_type)
        else:
            await self._test_scheduled(scope, send)

    def begin_pass(self, requests: list[tuple[Scope, bytes | None, Head]], frames: list[AnswerFrame] | None = None,
                   date_line: bytes = b"") -> list[Begun | None | Exception]:
        """Requests to worker apps, their whole bodies in hand, begun at once, each app's in one
        run (`WorkerApp.begin_pass`, for h1_server's JS pass, which read each `head` as it
        parsed and gives `frames`); None for the server's own paths, an app in an engine
        process, no route, or when the app cannot begin it now: then the request is this app's ASGI call."""
        begun: list[Begun | None | Exception] = [None] * len(requests)
        by_app: dict[WorkerApp, list[int]] = {}
        for index, (scope, _, _) in enumerate(requests):
            if scope["path"] not in self._own_paths:
                app = self.router.route(scope)
                if isinstance(app, WorkerApp):
                    by_app.setdefault(app, []).append(index)
        for app, indexes in by_app.items():
            states = app.begin_pass([requests[index] for index in indexes],
                                    None if frames is None else [frames[index] for index in indexes], date_line)
            for index, state in zip(indexes, states, strict=True):
                begun[index] = state
        return begun

    def serving(self) -> None:
        """At the first answer (or SERVING_WORK_AFTER_S into serving), not at load: the fetch
        client's warm-up (its imports and CA store) and the metrics (observer.LogObserver) would
        hold the GIL while the server starts, delaying that first answer."""
        if not self._serving_started:
            self._serving_started = True
            warm_fetch_client()
            self.observer.serving()

    def _health(self) -> tuple[int, bytes, str]:
        if self.state.ready and not self.state.draining:
            body: dict[str, object] = {"status": "ok", "apps": [app.name for app in self.apps]}
            status = 200
        else:
            body, status = {"status": "draining" if self.state.draining else "starting"}, 503
        return status, json.dumps(body).encode(), "application/json"

    @staticmethod
    async def _answer(scope: Scope, send: Send, status: int, body: bytes, content_type: str) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await answer(scope, send, 405, b"Method Not Allowed\n", "text/plain; charset=utf-8",
                         [(b"allow", b"GET, HEAD")])
            return
        await answer(scope, send, status, body, content_type)

    async def _test_scheduled(self, scope: Scope, send: Send) -> None:
        """wrangler's dev trigger: runs the scheduled handler of the app serving this address."""
        app = self.router.route(scope)
        if app is None:
            await self._answer(scope, send, 404, b"Not Found: no app serves this address\n",
                               "text/plain; charset=utf-8")
            return
        if not isinstance(app, WorkerApp):
            await self._answer(scope, send, 501, b"Not Implemented: scheduled handlers of process-isolated apps\n",
                               "text/plain; charset=utf-8")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cron = query.get("cron", [app.config.crons[0] if app.config.crons else ""])[0]
        outcome = await run_scheduled(app, cron, datetime.now(UTC))
        await self._answer(scope, send, 200 if outcome == "ok" else 500,
                           f"Ran scheduled event: {outcome}\n".encode(), "text/plain; charset=utf-8")

    async def shutdown(self) -> None:
        """Stops the crons and the reload watch, and disposes every app's isolates."""
        await self._scheduler.stop()
        if self._watcher is not None:
            self._watcher.cancel()
        for app in self.apps:
            await app.shutdown()

    async def start(self) -> None:
        """Loads every app (at lifespan startup, or earlier: see `serving_socket`); once only."""
        if self.state.ready:
            return
        loop = asyncio.get_running_loop()
        # Loads share a few threads. A thread each (a thousand small apps: a thousand threads)
        # would cost their stacks and memory mappings, which V8 reads whenever it makes an
        # isolate. An app whose top-level code awaits a host operation holds no thread meanwhile.
        loading = ThreadPoolExecutor(LOAD_THREADS_PER_CPU * (os.cpu_count() or 1), "pyruntime-load")
        loop.set_default_executor(loading)
        try:
            results = await asyncio.gather(*(app.startup() for app in self.apps), return_exceptions=True)
        finally:
            # A slice off the loop (a heavy app's, a reload) takes a thread: one per isolate,
            # so busy isolates never starve the others.
            threads = sum(pool_bounds(app.config.pool_size, app.config.max_pool_size)[1] for app in self.apps
                          if isinstance(app, WorkerApp)) + 4
            loop.set_default_executor(ThreadPoolExecutor(threads, "pyruntime-js"))
            loading.shutdown(wait=False)
        for app, result in zip(self.apps, results, strict=True):
            if isinstance(result, BaseException):
                raise _load_failure(app.name, result) from None
        self.state.ready = True
        if self._reload:
            self._watcher = asyncio.create_task(_watch(self.apps))
        if self._run_crons:
            self._scheduler.start()


def _load_failure(name: str, exc: BaseException) -> BaseException:
    """An app's load error, naming the app, with the JS stack where there is one."""
    if isinstance(exc, EngineFailed) or not isinstance(exc, Exception):
        return exc  # an engine's error names its app already; cancellation stays what it is
    detail = exc.stack if isinstance(exc, JSError) and exc.stack else str(exc)
    return Error(f"app {name} failed to load: {detail}")


def create_app(config: ServerConfig, *, observer: Observer | None = None, reload: bool = False,
               state: ServerState | None = None, run_crons: bool = True) -> ServerApp:
    """The server's ASGI app, for any ASGI server."""
    return ServerApp(config, observer or LogObserver(), state or ServerState(), reload, run_crons)


def _mtimes(files: list[Path]) -> dict[Path, float | None]:
    stamps: dict[Path, float | None] = {}
    for file in files:
        try:
            stamps[file] = file.stat().st_mtime_ns
        except OSError:
            stamps[file] = None
    return stamps


async def _watch(apps: list[WorkerApp | EngineApp]) -> None:
    """--reload: polls each app's script and modules; reloads an app when one changes."""
    seen = {app.name: _mtimes(app.watched_files()) for app in apps}
    while True:
        await asyncio.sleep(RELOAD_POLL_S)
        for app in apps:
            current = _mtimes(app.watched_files())
            if current != seen[app.name]:
                await app.reload()
                # A failed reload is not retried until the files change again.
                seen[app.name] = _mtimes(app.watched_files())


async def serving_socket(app: ServerApp, listen_channel: int | None) -> ServingSocket | None:
    """The listening socket the supervisor sends over `listen_channel` (None without one: the
    server binds config's address).

    Under the supervisor the apps load first and the worker reports how that went: the port
    is bound only once apps loaded. None: the supervisor sent no socket (a worker could not
    load the apps, and the supervisor reports why), so there is nothing to serve.
    """
    if listen_channel is None:
        return None
    try:
        await app.start()
    except Exception as exc:
        await asyncio.to_thread(report_loaded, listen_channel, str(exc))
        if await asyncio.to_thread(receive_listening_socket, listen_channel) is None:
            return None
        raise
    await asyncio.to_thread(report_loaded, listen_channel, None)
    return await asyncio.to_thread(receive_listening_socket, listen_channel)


def run_event_loop(main: Coroutine[Any, Any, None], *, fast: bool = False) -> None:
    """Runs the server's event loop; `fast`: on uvloop, whose cross-thread wake-ups cost less than
    asyncio's. Granian runs on it; Hypercorn does not, as it misses clients that leave mid-stream there."""
    if fast:
        uvloop.run(main)
    else:
        asyncio.run(main)


def hypercorn_config(config: ServerConfig, logger: JsonLogger, listen_fd: int | None) -> HypercornConfig:
    from hypercorn.config import Config as HypercornConfig

    hc = HypercornConfig()
    hc.bind = [f"fd://{listen_fd}"] if listen_fd is not None else [f"{config.host}:{config.port}"]
    hc.graceful_timeout = config.graceful_timeout_s()
    hc.keep_alive_timeout = HEAD_TIMEOUT_S
    hc.errorlog = stdlib_logger("pyruntime.server", logger)
    hc.accesslog = None  # the apps log one `request` line per request
    hc.include_server_header = False
    # Hypercorn would add its Date beside an app's: ServerApp dates the responses (`date_responses`).
    hc.include_date_header = False
    return hc


def _drain(logger: JsonLogger, state: ServerState, stop: Callable[[], object], level: str, **why: str) -> None:
    """Turns /healthz to draining, calls `stop` (the server drains in-flight requests), then
    logs a `shutdown` line: after stopping, as logging can fail when the log's reader is gone."""
    state.draining = True
    stop()
    logger.emit(level, "shutdown", **why)


def drain_on_signals(logger: JsonLogger, state: ServerState, stop: Callable[[], object]) -> None:
    """SIGTERM and SIGINT drain the server (`_drain`). For the running event loop, on any server."""
    def on_signal(signum: int) -> None:
        _drain(logger, state, stop, "info", signal=signal.Signals(signum).name)

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def stop_when_orphaned(supervisor_pid: int, logger: JsonLogger, state: ServerState,
                             stop: Callable[[], object]) -> None:
    """A supervised worker whose supervisor died (killed with SIGKILL, say) drains and exits,
    as on SIGTERM: else it would keep the port, and a new server could not bind it."""
    while os.getppid() == supervisor_pid:
        await asyncio.sleep(ORPHAN_POLL_S)
    _drain(logger, state, stop, "warn", reason="the supervisor is gone")


# What one HTTP server does once the apps loaded: serve `app` on the listening socket
# (None: bind config's address) until `stop` is set, then drain in-flight requests.
ServeOn = Callable[[ServerApp, "ServingSocket | None", asyncio.Event, JsonLogger], Coroutine[Any, Any, None]]


def run_server(config: ServerConfig, serve_on: ServeOn, *, fast: bool, reload: bool, listen_channel: int | None,
               logger: JsonLogger | None, run_crons: bool) -> None:
    """What every HTTP server shares: the app, SIGTERM/SIGINT handling from before the apps
    load, the socket (see `serving_socket`), the event loop (`fast`: uvloop) and the last log line."""
    logger = logger or JsonLogger()
    use_kept_pid()
    state = ServerState()
    app = create_app(config, observer=LogObserver(logger, defer_metrics=True, publish_every_s=METRICS_PUBLISH_S),
                     reload=reload, state=state, run_crons=run_crons)
    supervisor = None if listen_channel is None else supervisor_pid(listen_channel)

    async def main() -> None:
        stop = asyncio.Event()
        drain_on_signals(logger, state, stop.set)
        orphaned = None if supervisor is None else \
            asyncio.create_task(stop_when_orphaned(supervisor, logger, state, stop.set))
        try:
            serving = await serving_socket(app, listen_channel)
            if (serving is None and listen_channel is not None) or stop.is_set():
                return
            asyncio.get_running_loop().call_later(SERVING_WORK_AFTER_S, app.serving)
            await serve_on(app, serving, stop, logger)
            app.observer.publish_counts()  # the last requests' counts, which METRICS_PUBLISH_S holds back
        finally:
            if orphaned is not None:
                orphaned.cancel()

    run_event_loop(main(), fast=fast)
    logger.emit("info", "stopped")


def serve(config: ServerConfig, *, reload: bool = False, listen_channel: int | None = None,
          logger: JsonLogger | None = None, run_crons: bool = True) -> None:
    """Runs the server on Hypercorn until SIGTERM or SIGINT, then drains in-flight requests and returns."""
    async def on_hypercorn(app: ServerApp, serving: ServingSocket | None, stop: asyncio.Event, log: JsonLogger) -> None:
        # Imported here: a server on Granian (granian_server.py) does not load Hypercorn.
        from hypercorn.asyncio import serve as hypercorn_serve

        app.js_pass = JsPass(asyncio.get_running_loop())
        app.date_responses = True
        listen_fd = None if serving is None else serving.fd
        await hypercorn_serve(app, hypercorn_config(config, log, listen_fd),  # type: ignore[arg-type]
                              shutdown_trigger=stop.wait)

    run_server(config, on_hypercorn, fast=False, reload=reload, listen_channel=listen_channel, logger=logger,
               run_crons=run_crons)
