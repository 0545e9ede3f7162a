"""`WorkerIsolate`: one isolate with a worker app loaded, answering HTTP requests.

The app's code is loaded once (`WorkerScript`, top-level code under the request limits),
then each request goes through `internal.dispatchFetch` in the bootstrap JS. Calls into
V8 run in a worker thread with the GIL released; between slices, this module waits on
asyncio for timers and performs host operations (outbound fetch) with httpx.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import _core
from .errors import TimeLimitExceeded
from .host_ops import AsyncHostOps
from .isolate import ConsoleSink, log_console
from .outcome import check_outcome, complete_op, op_failure
from .scripts import WorkerScript, load_script, raise_load_error

__all__ = ["HttpResult", "Limits", "WorkerIsolate", "WorkerScript", "load_script"]

AsyncOpHandler = Callable[[str, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Limits:
    """Per-request limits of an app (see `Isolate` for the first three)."""

    timeout_ms: float | None = 50
    cpu_limit_ms: float | None = 50
    memory_limit_mb: int = 128
    request_timeout_s: float = 30.0


@dataclass
class HttpResult:
    """What the app's fetch handler answered, with the JS time it took.

    A body the app streams (a ReadableStream whose bytes were not known up front) has a
    non-zero `stream_id`: read it with `WorkerIsolate.read_chunk` until None.
    """

    status: int
    status_text: str
    headers: list[tuple[str, str]]
    body: bytes
    wall_ms: float
    cpu_ms: float
    stream_id: int = 0


class WorkerIsolate:
    """An isolate running one app. One request at a time: pools hold several."""

    def __init__(self, script: WorkerScript, *, env: dict[str, Any] | None = None,
                 limits: Limits = Limits(), console: ConsoleSink | None = None,
                 op_handler: AsyncOpHandler | None = None) -> None:
        self.script = script
        self.env = dict(env or {})
        self.limits = limits
        self.console = console or log_console
        # Outbound fetch by default; pass another handler to restrict or record I/O.
        self.op_handler = op_handler or AsyncHostOps()
        # Set when a host operation completes, to end the wait between slices early.
        self._work_ready = asyncio.Event()
        # Whether the last request left ctx.waitUntil work to finish.
        self._background = False
        self._op_tasks: set[asyncio.Future[None]] = set()
        self._runtime = _core.Runtime(limits.memory_limit_mb * 1024 * 1024,
                                      limits.timeout_ms or 0, limits.cpu_limit_ms or 0)

    @property
    def alive(self) -> bool:
        return self._runtime.alive

    def heap_statistics(self) -> dict[str, int]:
        return self._runtime.heap_statistics()

    def close(self) -> None:
        self._runtime.close()

    async def load(self) -> None:
        """Runs the app's top-level code, under the same limits as a request."""
        rt = self._runtime
        if self.script.kind == "service-worker":
            await self._drive(lambda: rt.eval(self.script.sources[self.script.main], self.script.main, False))
            return
        for name, source in self.script.sources.items():
            outcome = await asyncio.to_thread(rt.compile_module, name, source)
            if outcome.status != "ok":
                raise_load_error(outcome, f"cannot load {name}")
        await self._drive(lambda: rt.evaluate_module(self.script.main, self.script.links))
        await self._drive(lambda: rt.bind_worker_module(self.script.main))

    async def fetch(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None,
                    *, console: ConsoleSink | None = None) -> HttpResult:
        """Runs the app's fetch handler for one request, then its `ctx.waitUntil` work."""
        rt = self._runtime
        # Timers left by the previous request (its response and waitUntil work are done)
        # would run on this request's budget: a request's loose ends end with it. No JS runs
        # in this isolate now, so this quick call needs no worker thread.
        rt.cancel_call()
        header_pairs = [[name, value] for name, value in headers]
        args = (method, url, header_pairs, body or None, self.env)
        started = time.monotonic()
        outcome = await self._drive(lambda: rt.call_internal("dispatchFetch", args), console=console,
                                    started=started)
        status, status_text, response_headers, response_body, stream_id, background = outcome.value
        # A streamed body may still register waitUntil work while it is read.
        self._background = background > 0 or stream_id != 0
        return HttpResult(status, status_text, [(n, v) for n, v in response_headers], response_body or b"",
                          outcome.wall_ms, outcome.cpu_ms, stream_id)

    async def read_chunk(self, stream_id: int, *, console: ConsoleSink | None = None) -> bytes | None:
        """The next chunk of a streamed response body (None at its end); each read is a call
        with the request's limits, so a stream may last longer than one request budget."""
        rt = self._runtime
        outcome = await self._drive(lambda: rt.call_internal("readResponseChunk", (stream_id,)), console=console)
        return outcome.value

    async def cancel_stream(self, stream_id: int) -> None:
        """Cancels a streamed body the client will not read."""
        rt = self._runtime
        await self._drive(lambda: rt.call_internal("cancelResponseStream", (stream_id,)))

    async def wait_until(self, *, console: ConsoleSink | None = None) -> None:
        """Finishes the work handlers passed to `ctx.waitUntil`, within the request limits."""
        if not self._background:
            return
        self._background = False
        rt = self._runtime
        await self._drive(lambda: rt.call_internal("pendingWaitUntil", ()), console=console)

    async def _drive(self, start: Callable[[], _core.Outcome], *, console: ConsoleSink | None = None,
                     started: float | None = None) -> _core.Outcome:
        sink = console or self.console
        deadline = (started or time.monotonic()) + self.limits.request_timeout_s
        outcome = await asyncio.to_thread(start)
        while True:
            for level, text in outcome.console:
                sink(level, text)
            for op_id, name, payload in outcome.ops:
                task = asyncio.ensure_future(self._complete_op(op_id, name, payload))
                self._op_tasks.add(task)  # asyncio keeps only weak references to tasks
                task.add_done_callback(self._op_tasks.discard)
            if outcome.status != "pending":
                check_outcome(outcome)
                return outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await asyncio.to_thread(self._runtime.cancel_call)
                raise TimeLimitExceeded(
                    f"the request did not finish within {self.limits.request_timeout_s} s", "total",
                    self.limits.request_timeout_s * 1000)
            wait = outcome.next_timer_ms / 1000 if outcome.next_timer_ms is not None else remaining
            await self._wait_for_work(min(wait, remaining))
            outcome = await asyncio.to_thread(self._runtime.resume)

    async def _wait_for_work(self, timeout: float) -> None:
        if timeout > 0:
            try:
                await asyncio.wait_for(self._work_ready.wait(), timeout)
            except TimeoutError:
                pass
        self._work_ready.clear()

    async def _complete_op(self, op_id: int, name: str, payload: Any) -> None:
        try:
            ok, value = True, await self.op_handler(name, payload)
        except Exception as exc:  # becomes the JS promise's rejection
            ok, value = False, op_failure(exc)
        await asyncio.to_thread(complete_op, self._runtime, op_id, ok, value)
        self._work_ready.set()
