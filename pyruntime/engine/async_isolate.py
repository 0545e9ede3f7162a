"""`AsyncIsolate`: the asyncio shell around an isolate, with the same features as `Isolate`.

Slices run in a worker thread with the GIL released, so the event loop keeps serving while
JS runs. Between slices the shell waits on asyncio (timers, host operations) and performs
host operations as tasks; an operation's completion never waits on the isolate (the core
queues it), so no thread is held by a busy isolate.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .console import ConsoleSink
from .driver import CallDriver, complete_op, op_failure
from .errors import Terminated
from .isolate import _UNSET, IsolateCore, Start

AsyncOpHandler = Callable[[str, Any], Any]  # may return an awaitable


class AsyncIsolate(IsolateCore):
    """An isolate driven from asyncio. Calls are coroutines; one runs at a time.

    Host functions and `op_handler` may be plain or async callables. `terminate()` is safe
    from any thread. Operations a call started keep running after it returns (a later call
    may await their promises) until `cancel_operations()` or `close()`.
    """

    def _init_shell(self) -> None:
        self._call_lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._op_tasks: set[asyncio.Task[None]] = set()
        # terminate() calls so far: a call that sees this change stops, even when the request
        # to stop arrived before its first slice reached the core.
        self._stops = 0

    async def eval(self, source: str, filename: str = "<eval>") -> Any:
        """Runs a classic script; returns its completion value (awaited if a Promise)."""
        start = self._start_eval(source, filename)
        async with self._call_lock:
            return (await self._drive(start)).value()

    async def call(self, name: str, *args: Any) -> Any:
        """Calls the global function `name`; awaits a Promise result."""
        async with self._call_lock:
            return (await self._drive(lambda rt: rt.call(name, args))).value()

    async def run_file(self, path: str | Path) -> None:
        """Runs a script or ES module file's top-level code (see `Isolate.run_file`)."""
        async with self._call_lock:
            start = await asyncio.to_thread(self._start_file, path)
            (await self._drive(start)).value()

    async def run_loop(self) -> None:
        """Runs pending timers until none are left."""
        async with self._call_lock:
            (await self._drive(lambda rt: rt.run_loop())).value()

    async def _handle_call(self, start: Start) -> Any:
        async with self._call_lock:
            return (await self._drive(start)).value()

    def terminate(self) -> None:
        """Stops the running call (it raises `Terminated`); safe from any thread."""
        self._stops += 1
        self._runtime.terminate()
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def cancel_operations(self) -> None:
        """Cancels host operations still in flight (their Python tasks included)."""
        for task in list(self._op_tasks):
            task.cancel()

    def close(self) -> None:
        """Frees the isolate; in-flight operations are cancelled."""
        self.cancel_operations()
        self._runtime.close()

    async def __aenter__(self) -> AsyncIsolate:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    async def _drive(self, start: Start, *, console: ConsoleSink | None = None, started: float | None = None,
                     total_timeout_s: float | None | Any = _UNSET, what: str = "call") -> CallDriver:
        """Drives one call to its end and returns its driver (`value()`, `outcome`); the caller
        holds the call lock or owns the isolate."""
        self._loop = asyncio.get_running_loop()
        wake = self._wake = asyncio.Event()
        total = self.limits.total_timeout_s if total_timeout_s is _UNSET else total_timeout_s
        driver = CallDriver(total, what=what, clock=self._loop.time, started=started)
        runtime = self._runtime
        stops = self._stops
        outcome = await asyncio.to_thread(start, runtime)
        while True:
            step = driver.step(outcome)
            self._deliver(step, console)
            for op_id, name, payload in step.ops:
                task = asyncio.create_task(self._complete(op_id, name, payload))
                self._op_tasks.add(task)  # asyncio keeps only weak references to tasks
                task.add_done_callback(self._op_tasks.discard)
            if step.done:
                return driver
            if step.expired:
                runtime.cancel_call()
                raise driver.expired_error()
            if self._stops != stops:  # terminate() came before the call's first slice began
                runtime.cancel_call()
                raise Terminated("the call was stopped by terminate()")
            if not wake.is_set() and step.wait_s != 0:
                try:
                    await asyncio.wait_for(wake.wait(), step.wait_s)
                except TimeoutError:
                    pass
            wake.clear()
            outcome = await asyncio.to_thread(runtime.resume)

    async def _complete(self, op_id: int, name: str, payload: Any) -> None:
        try:
            result = self._perform(name, payload)
            if inspect.isawaitable(result):
                result = await result
            ok, value = True, result
        except asyncio.CancelledError:
            complete_op(self._runtime, op_id, False, "AbortError: the operation was cancelled")
            raise
        except Exception as exc:  # becomes the JS promise's rejection
            ok, value = False, op_failure(exc)
        complete_op(self._runtime, op_id, ok, value)
        if self._wake is not None:  # the call waiting now, whichever started the operation
            self._wake.set()
