"""Process isolation: an app served from an engine process of its own, behind the HTTP front.

With `isolation = "process"` the server worker (the *front*) keeps HTTP, routing, /metrics
and /healthz, and relays each request of the app to a child *engine process* that runs the
app's unchanged `WorkerApp` (engine_process.py). The ASGI messages travel over one socket
per engine, many requests multiplexed by number (frames.py).

Why: V8 aborts the whole process on a few fatal paths, and the watchdog `_exit`s a process
whose isolate cannot be stopped. In a shared process that loses every app's in-flight
requests and resets their module state. Here it loses only the engine of the app that
caused it: its in-flight requests get a 502 (or, once their response had started, a closed
connection), one `engine_exited` line says why, and the engine is started again; requests
arriving meanwhile wait for it (bounded; then 503 with Retry-After). Other apps never notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .app import Receive, Scope, Send, lifespan, request_id_from
from .child_output import BATCH_S, READ_BYTES, LineSplitter, pass_on
from .config import AppConfig
from .frames import ChannelClosed, FrameWriter, encode, read_frame, wire_app, wire_scope
from .logs import JsonLogger
from .metrics import mark_process_dead, process_metrics
from .observer import LogObserver, Observer, RequestContext, SecretMask

# How long a request waits for an engine that is (re)starting before it gets a 503.
RESTART_WAIT_S = 10.0
# An engine that dies sooner than this after it started is restarted after a growing pause
# (up to _MAX_BACKOFF_S), so that an app that crashes at once does not become a busy loop.
_MIN_UPTIME_S = 2.0
_FIRST_BACKOFF_S = 0.25
_MAX_BACKOFF_S = 10.0
# A fixed mmap threshold: glibc's adaptive one rises after the first large free, and from then
# on the buffers a request frees (ArrayBuffers of a memory hog, say) stay in the heap, counted
# in the engine's RSS long after the request ended. Past this size they go back to the OS.
_ENGINE_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 * 1024), **os.environ}
# How long a stopping engine gets to exit after its channel closed.
_STOP_WAIT_S = 10.0


class EngineFailed(Exception):
    """The engine process could not load the app."""


class _Relay:
    """The front side of one relayed request: what the engine sent, in order, and what was answered."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.pull_task: asyncio.Task[None] | None = None
        self.status: int | None = None
        self.complete = False

    def pull(self, engine: _Engine, rid: int) -> None:
        async def pull() -> None:
            try:
                message = dict(await self.receive())
            except Exception:  # the server gave up on the connection: to the app, the client left
                message = {"type": "http.disconnect"}
            engine.write(encode("recv", rid, message))
        self.pull_task = asyncio.create_task(pull())


class _Engine:
    """One engine process and its channel."""

    def __init__(self, app: EngineApp) -> None:
        self.app = app
        self.requests: dict[int, _Relay] = {}
        self.watched: list[Path] = []
        self.started = time.monotonic()
        self._next_rid = 0
        self._process: asyncio.subprocess.Process | None = None
        self._writer: FrameWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._output: list[asyncio.Task[None]] = []
        self.dispatching: asyncio.Task[None] | None = None
        self.stopping: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        """Starts the process and waits until it loaded the app; raises EngineFailed if it did not."""
        ours, theirs = socket.socketpair()
        try:
            # -P: the engine imports the installed package even when started from the source tree.
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-P", "-m", "pyruntime.server.engine_process", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL, env=_ENGINE_ENV,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        finally:
            theirs.close()
        fields = {"app": self.app.name, "engine_pid": self._process.pid}
        assert self._process.stdout is not None and self._process.stderr is not None
        self._output = [asyncio.create_task(_copy_output(self._process.stdout, "stdout", fields, self.app.logger)),
                        asyncio.create_task(_copy_output(self._process.stderr, "stderr", fields, self.app.logger))]
        self._reader, writer = await asyncio.open_connection(sock=ours)
        self._writer = FrameWriter(writer)
        self.write(encode("config", wire_app(self.app.config)))
        try:
            frame = await read_frame(self._reader)
        except ChannelClosed:
            reason = await self.wait()
            raise EngineFailed(f"the engine process exited while loading the app ({reason})") from None
        if frame[0] == "failed":
            await self.wait()
            raise EngineFailed(frame[1])
        self.watched = [Path(name) for name in frame[1]]
        self.started = time.monotonic()
        self.dispatching = asyncio.create_task(self.dispatch())

    def write(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    def next_rid(self) -> int:
        self._next_rid += 1
        return self._next_rid

    async def dispatch(self) -> None:
        """Hands the engine's frames to their requests until the channel closes."""
        assert self._reader is not None
        with contextlib.suppress(ChannelClosed):
            while True:
                frame = await read_frame(self._reader)
                relay = self.requests.get(frame[1])
                if frame[0] == "pull":
                    if relay is not None:
                        relay.pull(self, frame[1])
                    else:  # the front gave up on it (its ASGI call was cancelled)
                        self.write(encode("recv", frame[1], {"type": "http.disconnect"}))
                elif relay is not None:
                    relay.inbox.put_nowait((frame[0], *frame[2:]))
                elif frame[0] == "send" and frame[3]:
                    self.write(encode("acked", frame[1], "the request is gone"))

    def close(self) -> None:
        """Closes the channel: the engine finishes what it runs and exits."""
        if self._writer is not None:
            self._writer.close()

    async def wait(self) -> str:
        """Waits for the process to exit (its output copied), marks its metrics dead, says how it ended."""
        assert self._process is not None
        code = await self._process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._output), 2.0)
        self.close()
        mark_process_dead(self._process.pid)
        return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"

    async def stop(self) -> str:
        """Closes the channel, after which the engine exits; one that does not is killed."""
        self.close()
        assert self._process is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._process.wait()), _STOP_WAIT_S)
        except TimeoutError:
            self._process.kill()
        return await self.wait()


async def _copy_output(stream: asyncio.StreamReader, name: str, fields: dict[str, Any],
                       logger: JsonLogger) -> None:
    """Passes an engine's output on as log lines, the lines of one read in one write (see BATCH_S)."""
    splitter = LineSplitter()
    while data := await stream.read(READ_BYTES):
        pass_on(splitter.feed(data), name, fields, logger)
        if len(data) < READ_BYTES:  # else more is waiting: no sleep
            await asyncio.sleep(BATCH_S)
    pass_on(splitter.rest(), name, fields, logger)


class EngineApp:
    """ASGI app serving one app from an engine process; same surface as `WorkerApp` for the router.

    The engine reports its own events (it logs JSON lines on stdout, passed on through
    `logger`, and writes its metrics); the front reports the requests it answers itself
    to `observer`, and the engines' comings and goings to `logger`.
    """

    def __init__(self, config: AppConfig, observer: Observer) -> None:
        self.config = config
        self.observer = observer
        self.logger = observer.logger if isinstance(observer, LogObserver) else JsonLogger()
        self._no_secrets = SecretMask([])
        self._engine: _Engine | None = None
        self._ready: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._retired: set[_Engine] = set()
        observer.app_registered(config.name)

    @property
    def name(self) -> str:
        return self.config.name

    def watched_files(self) -> list[Path]:
        return self._engine.watched if self._engine and self._engine.watched else [self.config.script]

    async def startup(self) -> None:
        """Starts the engine; raises if the app fails to load."""
        if self._supervisor is not None:
            return
        self._ready = asyncio.Event()
        engine = _Engine(self)
        try:
            await engine.start()
        except EngineFailed as exc:
            raise EngineFailed(f"app {self.name} failed to load: {exc}") from None
        self._use(engine)
        self._supervisor = asyncio.create_task(self._supervise())

    def _use(self, engine: _Engine) -> None:
        self._engine = engine
        self.logger.emit("info", "engine_started", app=self.name, engine_pid=engine.pid)
        assert self._ready is not None
        self._ready.set()

    async def _supervise(self) -> None:
        """Watches the current engine; when it dies, answers its requests and starts another."""
        backoff = 0.0
        while not self._stopping:
            engine = self._engine
            assert engine is not None and engine.dispatching is not None and self._ready is not None
            # Shielded: cancelling the supervisor (reload, shutdown) must not cut the engine's channel.
            await asyncio.shield(engine.dispatching)
            if self._stopping:
                return
            self._ready.clear()
            # The channel ended: the engine died, or broke the protocol and is ended now.
            reason = await engine.stop()
            self._fail_requests(engine)
            self.logger.emit("error", "engine_exited", app=self.name, engine_pid=engine.pid, reason=reason,
                             in_flight=len(engine.requests))
            process_metrics().engine_exits.labels(self.name).inc()
            lived = time.monotonic() - engine.started
            backoff = 0.0 if lived >= _MIN_UPTIME_S else min(max(backoff * 2, _FIRST_BACKOFF_S), _MAX_BACKOFF_S)
            while not self._stopping:
                await asyncio.sleep(backoff)
                replacement = _Engine(self)
                try:
                    await replacement.start()
                except EngineFailed as exc:
                    self.logger.emit("error", "engine_failed", app=self.name, message=str(exc))
                    backoff = min(max(backoff * 2, _FIRST_BACKOFF_S), _MAX_BACKOFF_S)
                    continue
                if self._stopping:
                    await replacement.stop()
                else:
                    self._use(replacement)
                break

    @staticmethod
    def _fail_requests(engine: _Engine) -> None:
        for relay in engine.requests.values():
            relay.inbox.put_nowait(("exited",))

    async def shutdown(self) -> None:
        """Stops the engine (after the front drained its requests) and any retired ones."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        engines = [e for e in (self._engine, *self._retired) if e is not None and e.pid is not None]
        await asyncio.gather(*(engine.stop() for engine in engines))

    async def reload(self) -> bool:
        """Starts an engine with the app's current files; the old one finishes its requests, then exits."""
        engine = _Engine(self)
        try:
            await engine.start()
        except EngineFailed as exc:
            self.logger.emit("error", "reload_failed", app=self.name, message=str(exc))
            return False
        if self._supervisor is not None:  # a new one watches the new engine
            self._supervisor.cancel()
        old = self._engine
        self._use(engine)
        self._supervisor = asyncio.create_task(self._supervise())
        self.logger.emit("info", "app_reloaded", app=self.name, engine_pid=engine.pid)
        if old is not None:
            self._retire(old)
        return True

    def _retire(self, engine: _Engine) -> None:
        """The old engine still relays its requests' frames until they are done, then stops."""
        self._retired.add(engine)

        async def stop_when_idle() -> None:
            while engine.requests:
                await asyncio.sleep(0.1)
            await engine.stop()
            self._retired.discard(engine)
        engine.stopping = asyncio.create_task(stop_when_idle())

    async def _current_engine(self) -> _Engine | None:
        """The engine to relay to; waits (bounded) while it restarts, None past that."""
        if self._supervisor is None:
            await self.startup()
        assert self._ready is not None
        if not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), RESTART_WAIT_S)
        return self._engine if self._ready.is_set() else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.startup, self.shutdown)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        ctx = RequestContext(self.name, request_id_from(scope["headers"]), scope["method"], scope["path"],
                             self.observer, self._no_secrets)
        engine = await self._current_engine()
        if engine is None:
            await self._answer(scope, send, ctx, 503, "Service Unavailable: the app is restarting, retry later",
                               retry_after=True)
            return
        # The engine logs under the front's request id, so that both log the same one.
        wire = wire_scope(scope)
        wire["headers"] = [(n, v) for n, v in wire["headers"] if n.lower() != b"x-request-id"]
        wire["headers"].append((b"x-request-id", ctx.request_id.encode()))
        rid = engine.next_rid()
        relay = engine.requests[rid] = _Relay(receive)
        engine.write(encode("start", rid, wire))
        relay.pull(engine, rid)
        try:
            await self._relay(scope, send, ctx, engine, rid, relay)
        finally:
            del engine.requests[rid]
            if relay.pull_task is not None:
                relay.pull_task.cancel()

    async def _relay(self, scope: Scope, send: Send, ctx: RequestContext, engine: _Engine, rid: int,
                     relay: _Relay) -> None:
        while True:
            item = await relay.inbox.get()
            if item[0] == "send":
                message, wants_ack = item[1], item[2]
                if message["type"] == "http.response.start":
                    relay.status = message["status"]
                elif not message.get("more_body"):
                    relay.complete = True
                error = None
                try:
                    await send(message)
                except OSError as exc:
                    error = str(exc) or "the client went away"
                if wants_ack:
                    engine.write(encode("acked", rid, error))
            elif item[0] == "done":
                if item[1] is not None:  # the app ended the response abnormally: close the connection
                    raise ConnectionAbortedError(f"app {self.name}: {item[1]}")
                return
            else:  # the engine exited
                if relay.status is None:
                    await self._answer(scope, send, ctx, 502, "Bad Gateway: the app's engine process exited")
                elif not relay.complete:
                    # The engine died before it could log this request: the front does, then closes.
                    self.observer.request(ctx, relay.status)
                    raise ConnectionAbortedError(f"app {self.name}: the engine process exited mid-response")
                return

    async def _answer(self, scope: Scope, send: Send, ctx: RequestContext, status: int, text: str,
                      retry_after: bool = False) -> None:
        body = (text + "\n").encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                   (b"x-request-id", ctx.request_id.encode())]
        if retry_after:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        self.observer.request(ctx, status)
