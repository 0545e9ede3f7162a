"""The server: a Starlette app routing requests to worker apps, run by Hypercorn.

`create_app` builds a plain ASGI app (any ASGI server can run it); `serve` runs it on
Hypercorn with HTTP/1.1 and h2c, and drains in-flight requests on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from .app import Receive, Scope, Send, WorkerApp, request_id_from
from .config import Route as AppRoute
from .config import ServerConfig
from .isolation import EngineApp, isolation_of
from .logs import JsonLogger, stdlib_logger
from .metrics import process_metrics
from .observer import LogObserver, Observer
from .scheduler import Scheduler, run_scheduled

# How often --reload looks at the apps' files.
RELOAD_POLL_S = 0.3


class AppRouter:
    """ASGI app choosing the worker app by host name and path; 404 when no route matches."""

    def __init__(self, routes: list[tuple[AppRoute, WorkerApp | EngineApp]], observer: Observer) -> None:
        self._routes = sorted(routes, key=lambda item: item[0].specificity(), reverse=True)
        self._observer = observer

    def match(self, host: str, path: str) -> WorkerApp | EngineApp | None:
        for route, app in self._routes:
            if route.matches(host, path):
                return app
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        app = self.match(_hostname(scope), scope["path"])
        if app is not None:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        response = PlainTextResponse("Not Found: no app serves this address\n", status_code=404,
                                     headers={"x-request-id": request_id})
        await response(scope, receive, send)
        self._observer.unrouted(request_id, scope["method"], scope["path"], 404, time.perf_counter() - started)


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


def create_app(config: ServerConfig, *, observer: Observer | None = None, reload: bool = False,
               state: ServerState | None = None, run_crons: bool = True) -> Starlette:
    """The server's ASGI app: health and metrics first (apps cannot shadow them), then the apps.

    `run_crons`: whether this process fires the apps' cron triggers (one process per server does).
    """
    observer = observer or LogObserver()
    state = state or ServerState()
    # An app isolated by process runs in an engine process of its own, relayed to by this one.
    apps = [EngineApp(app_config, observer) if isolation_of(config, app_config) == "process"
            else WorkerApp.from_config(app_config, observer) for app_config in config.apps]
    router = AppRouter([(route, app) for app in apps for route in app.config.routes], observer)

    async def health(_: Request) -> Response:
        if state.ready and not state.draining:
            return JSONResponse({"status": "ok", "apps": [app.name for app in apps]})
        return JSONResponse({"status": "draining" if state.draining else "starting"}, status_code=503)

    async def metrics_endpoint(_: Request) -> Response:
        body, content_type = process_metrics().render()
        return Response(body, media_type=content_type)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Each isolate call takes a thread: size the pool so busy isolates never starve the others.
        threads = sum(app.config.pool_size or os.cpu_count() or 1 for app in apps if isinstance(app, WorkerApp)) + 4
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads, "pyruntime-js"))
        await asyncio.gather(*(app.startup() for app in apps))
        state.ready = True
        watcher = asyncio.create_task(_watch(apps)) if reload else None
        # Apps with crons are never process-isolated (isolation.isolation_of): their pools are here.
        scheduler = Scheduler([app for app in apps if isinstance(app, WorkerApp)])
        if run_crons:
            scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            if watcher is not None:
                watcher.cancel()
            for app in apps:
                await app.shutdown()

    async def test_scheduled(request: Request) -> Response:
        """wrangler's dev trigger: runs the scheduled handler of the app serving this address."""
        app = router.match(_hostname(request.scope), request.url.path)
        if app is None:
            return PlainTextResponse("Not Found: no app serves this address\n", status_code=404)
        if not isinstance(app, WorkerApp):
            return PlainTextResponse("Not Implemented: scheduled handlers of process-isolated apps\n",
                                     status_code=501)
        cron = request.query_params.get("cron", app.config.crons[0] if app.config.crons else "")
        outcome = await run_scheduled(app, cron, datetime.now(UTC))
        return PlainTextResponse(f"Ran scheduled event: {outcome}\n", status_code=200 if outcome == "ok" else 500)

    dev_routes = [Route("/__scheduled", test_scheduled, methods=["GET"])] if config.test_scheduled else []
    return Starlette(routes=[Route(config.health_path, health, methods=["GET", "HEAD"]),
                             Route(config.metrics_path, metrics_endpoint, methods=["GET", "HEAD"]),
                             *dev_routes,
                             Mount("/", app=router)],
                     lifespan=lifespan)


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


def hypercorn_config(config: ServerConfig, logger: JsonLogger, listen_fd: int | None) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"fd://{listen_fd}"] if listen_fd is not None else [f"{config.host}:{config.port}"]
    hc.graceful_timeout = config.graceful_timeout_s()
    hc.errorlog = stdlib_logger("pyruntime.server", logger)
    hc.accesslog = None  # the apps log one `request` line per request
    hc.include_server_header = False
    return hc


def serve(config: ServerConfig, *, reload: bool = False, listen_fd: int | None = None,
          logger: JsonLogger | None = None, run_crons: bool = True) -> None:
    """Runs the server until SIGTERM or SIGINT, then drains in-flight requests and returns."""
    logger = logger or JsonLogger()
    state = ServerState()
    app = create_app(config, observer=LogObserver(logger), reload=reload, state=state, run_crons=run_crons)

    async def main() -> None:
        stop = asyncio.Event()

        def on_signal(signum: int) -> None:
            logger.emit("info", "shutdown", signal=signal.Signals(signum).name)
            state.draining = True
            stop.set()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        await hypercorn_serve(app, hypercorn_config(config, logger, listen_fd),  # type: ignore[arg-type]
                              shutdown_trigger=stop.wait)

    asyncio.run(main())
    logger.emit("info", "stopped")
