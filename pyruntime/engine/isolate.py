"""`Isolate`: run JS in one V8 isolate, under limits, from synchronous Python code.

The C++ core (pyruntime._core) returns outcomes as data; `CallDriver` decides each next
step; this module is the synchronous shell around them (threads and blocking waits).
`AsyncIsolate` (async_isolate.py) is the asyncio shell with the same features.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .. import _core
from . import compile_cache
from .console import ConsoleSink, log_console
from .driver import CallDriver, Step, check_outcome, complete_op, op_failure
from .errors import IsolateClosed
from .handles import make_handle
from .limits import Limits
from .protocol import EXPOSE_HOST_FUNCTIONS
from .scripts import load_script

OpHandler = Callable[[str, Any], Any]
Start = Callable[[_core.Runtime], _core.Outcome]

# Stands for "not given", so that explicit keyword limits override a `limits=` object.
_UNSET: Any = object()


def resolve_limits(limits: Limits | None, **given: Any) -> Limits:
    """`limits` (or the defaults) with the keyword limits that were given."""
    return (limits or Limits()).with_(**{k: v for k, v in given.items() if v is not _UNSET})


class IsolateCore:
    """What both shells share: the runtime, limits, console, host functions and operations."""

    def __init__(
        self,
        memory_limit_mb: int = _UNSET,
        timeout_ms: float | None = _UNSET,
        cpu_limit_ms: float | None = _UNSET,
        *,
        total_timeout_ms: float | None = _UNSET,
        limits: Limits | None = None,
        console: ConsoleSink | None = None,
        op_handler: Callable[[str, Any], Any] | None = None,
        host_functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        limits = resolve_limits(limits, memory_limit_mb=memory_limit_mb, timeout_ms=timeout_ms,
                                cpu_limit_ms=cpu_limit_ms, total_timeout_ms=total_timeout_ms)
        self._init_shell()
        self.limits = limits
        self._console = console or log_console
        self._op_handler = op_handler
        self._host_functions = dict(host_functions or {})
        for name, function in self._host_functions.items():
            if not (isinstance(name, str) and name.isidentifier()) or not callable(function):
                raise TypeError(f"host_functions maps identifiers to callables; got {name!r}: {function!r}")
        # Promise rejections nothing handled, and errors nothing caught (in timers, microtasks,
        # listeners), over the isolate's life; both are reported on the console too.
        self.unhandled_rejections = 0
        self.uncaught_errors = 0
        self._runtime = compile_cache.new_runtime(limits.core_args())
        self._runtime.handles = make_handle(self)
        if self._host_functions:
            check_outcome(self._runtime.call_internal(EXPOSE_HOST_FUNCTIONS, (list(self._host_functions),)))

    def _init_shell(self) -> None:
        """The shell's own state (locks, wake-up events), set up before the isolate exists."""

    @property
    def memory_limit_mb(self) -> int:
        return self.limits.memory_limit_mb

    @property
    def timeout_ms(self) -> float | None:
        return self.limits.timeout_ms

    @property
    def cpu_limit_ms(self) -> float | None:
        return self.limits.cpu_limit_ms

    @property
    def total_timeout_ms(self) -> float | None:
        return self.limits.total_timeout_ms

    @property
    def alive(self) -> bool:
        """False once closed, or discarded after hitting the memory limit."""
        return self._runtime.alive

    def _background_pending(self) -> Callable[[], bool] | None:
        """For CallDriver: whether background work is in flight, if the calls have a CPU limit."""
        if self.limits.cpu_limit_ms is None:
            return None
        runtime = self._runtime
        return lambda: runtime.background_in_flight > 0

    @property
    def background_cpu_ms(self) -> float:
        """CPU that V8's worker threads spent for this isolate: compiling its hot JS and
        WebAssembly, marking and sweeping its heap. A call's CPU limit counts what they spend
        while it runs (ext/background_cpu.h)."""
        return self._runtime.background_cpu_ms

    @property
    def unbilled_background_ms(self) -> float:
        """Background CPU spent since the last call's last slice, which no call counted: work
        the last call set off (a WebAssembly module's tier-up) and left running."""
        return self._runtime.unbilled_background_ms

    @property
    def last_call_cpu_ms(self) -> float:
        """The CPU the last call was charged under its CPU limit: its thread's, and what V8's
        worker threads spent for the isolate while it ran."""
        return self._runtime.last_call_cpu_ms

    @property
    def background_in_flight(self) -> int:
        """Background tasks for this isolate that V8 has not run, and jobs with work left (a
        job V8 keeps between bursts of work, as the concurrent marker's, counts while busy)."""
        return self._runtime.background_in_flight

    def reduce_memory(self) -> None:
        """Collects the isolate's garbage and gives the memory back (a full collection: some ms
        of CPU). V8 collects only when JS allocates, so an isolate that went quiet after a
        burst keeps what the burst left; a pool calls this on isolates idle for a while. Not
        during a call: the caller holds the isolate, as a pool does an idle one."""
        if self.alive:
            self._runtime.reduce_memory()

    def heap_statistics(self) -> dict[str, int]:
        """V8 heap numbers plus `array_buffer_bytes` (off-heap) and `memory_limit`."""
        if not self.alive:
            raise IsolateClosed("the isolate is closed")
        return self._runtime.heap_statistics()

    def _deliver(self, step: Step, console: ConsoleSink | None = None) -> None:
        self._deliver_console(step.console, console)
        self.unhandled_rejections += step.unhandled_rejections

    def _deliver_console(self, lines: list[tuple[str, str]], console: ConsoleSink | None = None) -> None:
        sink = console or self._console
        for level, text in lines:
            if level == "uncaught":  # the bootstrap's tag for an error nothing caught
                self.uncaught_errors += 1
                level = "error"
            sink(level, text)

    def _perform(self, name: str, payload: Any) -> Any:
        """Starts host operation `name`; its result may be awaitable (for AsyncIsolate)."""
        if name.startswith("host:"):
            return self._host_functions[name.removeprefix("host:")](*payload)
        if self._op_handler is None:
            raise LookupError(f"{name} is not available in this isolate (no op_handler)")
        return self._op_handler(name, payload)

    @staticmethod
    def _start_eval(source: str, filename: str) -> Start:
        if not isinstance(source, str):
            raise TypeError(f"source must be str, not {type(source).__name__}")
        return lambda rt: rt.eval(source, filename)

    def _set_deadline(self, driver: CallDriver) -> None:
        """Hands the call's total deadline to the core, which stops a slice running into it (the
        call then expires): with the CPU and wall limits off, nothing else would end a spin."""
        remaining = driver.remaining_s()
        if remaining is not None:
            self._runtime.set_call_deadline(remaining)

    def _handle_call(self, start: Start) -> Any:
        """Runs an operation on a handle as a call of this shell (handles.py)."""
        raise NotImplementedError

    def _start_file(self, path: str | Path) -> Start:
        script = load_script(path, runtime=self._runtime)
        if script.kind == "service-worker":
            return lambda rt: rt.eval(script.sources[script.main], script.main, False)
        return lambda rt: rt.evaluate_module(script.main, script.links)


class Isolate(IsolateCore):
    """A V8 isolate with its own heap, global scope, event loop and limits (see `Limits`).

    Limits apply to each call (`eval`, `call`, `run_file`, `run_loop`); pass them one by one
    (`Isolate(cpu_limit_ms=200)`) or as `limits=Limits(...)`. A time limit of `None` is off.

    One call runs at a time; calls from several threads wait for each other. The GIL is
    released while JS runs, so isolates in different threads run in parallel.

    `host_functions` exposes Python callables to JS as `host.name(...args)`, which returns a
    Promise: the function runs between slices (never inside the JS time limit) with
    converted arguments, and its return value or exception settles the promise.
    `op_handler(name, payload)` performs other host operations, such as JS `fetch`.
    `console(method, text)` receives `console.*` output (default: `engine.console.log_console`).
    """

    def _init_shell(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None  # the thread whose call holds the lock
        # Orders terminate() against a call's end, so a late request never stops the next call.
        self._stop_lock = threading.Lock()
        # Set by terminate(): ends a wait between slices at once.
        self._wake = threading.Event()

    def eval(self, source: str, filename: str = "<eval>") -> Any:
        """Runs a classic script; returns its completion value (awaited if a Promise)."""
        start = self._start_eval(source, filename)
        with self._exclusive():
            return self._run(start)

    def call(self, name: str, *args: Any) -> Any:
        """Calls the global function `name` with converted arguments; awaits a Promise result."""
        with self._exclusive():
            return self._run(lambda rt: rt.call(name, args))

    def run_file(self, path: str | Path) -> None:
        """Runs a script or an ES module file (with its relative imports): its top-level code,
        as a program runs (a module's top-level await is awaited; a script's completion value
        is discarded, not awaited)."""
        with self._exclusive():
            self._run(self._start_file(path))

    def run_loop(self) -> None:
        """Runs pending timers until none are left, as a script's process would."""
        with self._exclusive():
            self._run(lambda rt: rt.run_loop())

    def _handle_call(self, start: Start) -> Any:
        with self._exclusive():
            return self._run(start)

    def terminate(self) -> None:
        """Stops the call running in another thread; that call raises `Terminated`.

        Safe from any thread (a signal handler, a watchdog of your own); does nothing while
        no call runs. The isolate stays usable.
        """
        with self._stop_lock:
            if self._owner is None:
                return
            self._wake.set()
            self._runtime.terminate()

    def close(self) -> None:
        """Frees the V8 isolate now rather than at garbage collection."""
        with self._exclusive():
            self._runtime.close()

    def __enter__(self) -> Isolate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One call at a time. Host functions and console sinks run inside a call, on its
        thread: calling back into the isolate from them is an error, not a deadlock."""
        if self._owner == threading.get_ident():
            raise RuntimeError("the isolate is busy with this thread's call: a host function or console sink "
                               "cannot call back into it")
        with self._lock:
            self._owner = threading.get_ident()
            try:
                yield
            finally:
                with self._stop_lock:
                    self._runtime.clear_terminate()
                    self._owner = None

    def _run(self, start: Start) -> Any:
        self._wake.clear()
        driver = CallDriver(self.limits.total_timeout_s, background_pending=self._background_pending())
        self._set_deadline(driver)
        outcome = start(self._runtime)
        while True:
            step = driver.step(outcome)
            self._deliver(step)
            for op_id, name, payload in step.ops:
                self._complete(op_id, name, payload)
            if step.done:
                return driver.value()
            if step.expired:
                self._runtime.cancel_call()
                raise driver.expired_error()
            # Operations completed inline: their results are ready for the next slice now.
            if not step.ops and step.wait_s != 0:
                self._wake.wait(step.wait_s)
                self._wake.clear()
            outcome = self._runtime.resume()

    def _complete(self, op_id: int, name: str, payload: Any) -> None:
        """Performs an operation inline; one whose handler returns a `concurrent.futures.Future`
        completes when it does (from its thread), waking the call."""
        try:
            ok, value = True, self._perform(name, payload)
        except Exception as exc:  # the JS promise rejects with the host's error message
            ok, value = False, op_failure(exc)
        if ok and isinstance(value, concurrent.futures.Future):
            value.add_done_callback(lambda future: self._completed(op_id, future))
            return
        complete_op(self._runtime, op_id, ok, value)

    def _completed(self, op_id: int, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():
            complete_op(self._runtime, op_id, False, "AbortError: the operation was cancelled")
        elif (exc := future.exception()) is not None:
            complete_op(self._runtime, op_id, False, op_failure(exc))
        else:
            complete_op(self._runtime, op_id, True, future.result())
        self._wake.set()
