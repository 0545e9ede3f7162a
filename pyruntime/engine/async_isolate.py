"""`AsyncIsolate`: the asyncio shell around an isolate, with the same features as `Isolate`.

Slices run in a worker thread with the GIL released, so the event loop keeps serving while
JS runs; an `InlineGate` (inline_gate.py) lets short slices run on the loop's own thread,
which saves the hop. Between slices the shell waits on asyncio (timers, host operations) and performs
host operations as tasks; an operation's completion never waits on the isolate (the core
queues it), so no thread is held by a busy isolate.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from .. import _core
from .console import ConsoleSink
from .driver import CallDriver, Step, check_outcome, complete_op, op_failure
from .inline_gate import InlineGate
from .isolate import _UNSET, IsolateCore, Start

AsyncOpHandler = Callable[[str, Any], Any]  # may return an awaitable


def ended_in_first_slice(outcome: _core.Outcome) -> bool:
    """Whether a call's first slice ended it with nothing left for the shell but its console
    lines: not waiting, not stopped at a total deadline (the driver gives that error), no host
    operation started, no unhandled rejection to count. The core applies the same rule within
    a server's JS pass (ext/fetch_series.h, LeavesIsolateFree)."""
    status = outcome.status
    return status != "pending" and status != "deadline" and not outcome.ops and not outcome.unhandled_rejections


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
        # Whether a call runs, from the shell's view; with the lock, orders terminate() against
        # a call's end, so a late request never stops the next call.
        self._calling = False
        self._stop_lock = threading.Lock()
        # Set by subclasses that may run short slices on the event loop's thread.
        self._gate: InlineGate | None = None
        # True while a call waits between slices for host operations or timers: its JS uses
        # no CPU meanwhile (a pool may add an isolate for requests queued behind it, told by
        # `on_waiting` as the wait begins).
        self.waiting = False
        self.on_waiting: Callable[[], object] | None = None

    async def eval(self, source: str, filename: str = "<eval>") -> Any:
        """Runs a classic script; returns its completion value (awaited if a Promise)."""
        start = self._start_eval(source, filename)
        async with self._call_lock:
            return check_outcome(await self._drive(start))

    async def call(self, name: str, *args: Any) -> Any:
        """Calls the global function `name`; awaits a Promise result."""
        async with self._call_lock:
            return check_outcome(await self._drive(lambda rt: rt.call(name, args)))

    async def run_file(self, path: str | Path) -> None:
        """Runs a script or ES module file's top-level code (see `Isolate.run_file`)."""
        async with self._call_lock:
            start = await asyncio.to_thread(self._start_file, path)
            check_outcome(await self._drive(start))

    async def run_loop(self) -> None:
        """Runs pending timers until none are left."""
        async with self._call_lock:
            check_outcome(await self._drive(lambda rt: rt.run_loop()))

    async def _handle_call(self, start: Start) -> Any:
        async with self._call_lock:
            return check_outcome(await self._drive(start))

    def terminate(self) -> None:
        """Stops the running call (it raises `Terminated`); safe from any thread."""
        with self._stop_lock:
            if not self._calling:
                return
            self._runtime.terminate()  # the core applies it even before the call's first slice
            if self._loop is not None and self._wake is not None:
                self._loop.call_soon_threadsafe(self._wake.set)

    def cancel_operations(self) -> None:
        """Cancels host operations still in flight (their Python tasks included)."""
        if not self._op_tasks:  # most requests leave none: no copy to make
            return
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
                     total_timeout_s: float | None | Any = _UNSET, what: str = "call",
                     inline: bool = True) -> _core.Outcome:
        """Drives one call to its end and returns its last outcome (`check_outcome` gives its
        value or raises its error); the caller holds the call lock or owns the isolate.
        `inline=False` keeps every slice off the event loop's thread whatever the gate says
        (an app's top-level code)."""
        outcome = self._drive_now(start, console=console, started=started, total_timeout_s=total_timeout_s,
                                  what=what, inline=inline)
        return outcome if isinstance(outcome, _core.Outcome) else await outcome

    def _drive_now(self, start: Start, *, console: ConsoleSink | None = None, started: float | None = None,
                   total_timeout_s: float | None | Any = _UNSET, what: str = "call",
                   inline: bool = True) -> _core.Outcome | Coroutine[Any, Any, _core.Outcome]:
        """`_drive` that runs the first slice at once on this thread when the gate allows: the
        outcome if the call ended there (no task, no await), else a coroutine driving the rest.
        A call that ends in its first slice with nothing to deliver or start, as most requests
        do, makes no driver: the total time limit only matters to a call that waits."""
        gate = self._gate if inline else None
        with self._stop_lock:
            self._calling = True
        try:
            if gate is None or not gate.allows():
                loop = asyncio.get_running_loop()
                driver = self._driver(loop, loop.time() if started is None else started, total_timeout_s, what)
                return self._drive_rest(driver, None, start, console, self._new_wake(loop), gate)
            return self._after_first_slice(start, start(self._runtime), gate, console, started, total_timeout_s,
                                           what)
        except BaseException:
            self._end_call()
            raise

    def _after_first_slice(self, start: Start, outcome: _core.Outcome, gate: InlineGate,
                           console: ConsoleSink | None, started: float | None, total_timeout_s: float | None | Any,
                           what: str) -> _core.Outcome | Coroutine[Any, Any, _core.Outcome]:
        """`_drive_now` once the call's first slice ran inline (`outcome`); the caller ends the
        call if this raises."""
        if ended_in_first_slice(outcome):
            gate.record(outcome.cpu_ms)
            if outcome.console:
                self._deliver_console(outcome.console, console)
            self._end_call()
            return outcome
        # The call began as its first slice did (`wall_ms`, the call's time so far).
        loop = asyncio.get_running_loop()
        begun = loop.time() - outcome.wall_ms / 1000 if started is None else started
        driver = self._driver(loop, begun, total_timeout_s, what)
        step = self._after_slice(driver, outcome, console, gate)
        if step.done:
            self._end_call()
            return outcome
        # Made before the loop runs the operations the slice started: they set it when they complete.
        return self._drive_rest(driver, step, start, console, self._new_wake(loop), gate)

    def _driver(self, loop: asyncio.AbstractEventLoop, begun: float, total_timeout_s: float | None | Any,
                what: str) -> CallDriver:
        """The driver of a call that began at `begun` (`loop`'s time) and goes past its first slice."""
        total = self.limits.total_timeout_s if total_timeout_s is _UNSET else total_timeout_s
        return CallDriver(total, what=what, clock=loop.time, started=begun,
                          background_pending=self._background_pending())

    def _new_wake(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """The event a waiting call wakes on (an operation completed, or terminate(), which sets
        it through `loop`): made only for a call that waits, not for one that ends in its first slice."""
        self._loop = loop
        wake = self._wake = asyncio.Event()
        return wake

    async def _in_thread(self, slice_: Start) -> _core.Outcome:
        """Runs a slice in a worker thread, with the GIL released around V8 there (an isolate
        whose slices usually run inline keeps the GIL for them: see `_core.Runtime.keep_gil`)."""
        return await asyncio.to_thread(self._releasing_gil, slice_)

    def _releasing_gil(self, slice_: Start) -> _core.Outcome:
        runtime = self._runtime
        keep, runtime.keep_gil = runtime.keep_gil, False
        try:
            return slice_(runtime)
        finally:
            runtime.keep_gil = keep

    def _end_call(self) -> None:
        with self._stop_lock:
            self._runtime.clear_terminate()
            self._calling = False
            # No call waits now: a terminate() before the next call's wait has nothing to wake
            # (the loop that waited may have closed since).
            self._wake = None

    async def _drive_rest(self, driver: CallDriver, step: Step | None, start: Start,
                          console: ConsoleSink | None, wake: asyncio.Event, gate: InlineGate | None) -> _core.Outcome:
        """The call's slices after `step` (the first slice's, or None: the first is to run); its last outcome."""
        runtime = self._runtime
        try:
            self._set_deadline(driver)
            if step is None:
                step = self._after_slice(driver, await self._in_thread(start), console, gate)
            while not step.done:
                if not wake.is_set() and step.wait_s != 0:
                    self.waiting = True
                    if self.on_waiting is not None:
                        self.on_waiting()
                    try:
                        await asyncio.wait_for(wake.wait(), step.wait_s)
                    except TimeoutError:
                        pass
                    finally:
                        self.waiting = False
                wake.clear()
                if gate is not None and gate.allows():
                    outcome = runtime.resume()
                else:
                    outcome = await self._in_thread(_core.Runtime.resume)
                step = self._after_slice(driver, outcome, console, gate)
            return driver.outcome
        finally:
            self._end_call()

    def _after_slice(self, driver: CallDriver, outcome: _core.Outcome, console: ConsoleSink | None,
                     gate: InlineGate | None) -> Step:
        """Carries out what follows a slice: console lines, host operations; raises if the call's
        total time is spent."""
        step = driver.step(outcome)
        if gate is not None:
            gate.record(driver.slice_cpu_ms)
        self._deliver(step, console)
        for op_id, name, payload in step.ops:
            task = asyncio.create_task(self._complete(op_id, name, payload))
            self._op_tasks.add(task)  # asyncio keeps only weak references to tasks
            task.add_done_callback(self._op_tasks.discard)
        if step.expired:
            self._runtime.cancel_call()
            raise driver.expired_error()
        return step

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
