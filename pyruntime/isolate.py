"""`Isolate`: run JS in one V8 isolate, under limits, from synchronous Python code.

The C++ core (pyruntime._core) returns outcomes as data; this module owns the user-facing
API: the limits' defaults and validation, waiting between slices of a call, and turning
outcomes into values or exceptions.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import _core
from .errors import IsolateClosed, TimeLimitExceeded
from .outcome import check_outcome, complete_op, op_failure
from .scripts import load_script

ConsoleSink = Callable[[str, str], None]
OpHandler = Callable[[str, Any], Any]

_console_logger = logging.getLogger("pyruntime.console")
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "log": logging.INFO,
               "warn": logging.WARNING, "error": logging.ERROR}

# Below this V8 cannot set up a context with the full global scope.
MIN_MEMORY_LIMIT_MB = 16


def log_console(level: str, text: str) -> None:
    """Default console sink: the `pyruntime.console` logger."""
    _console_logger.log(_LOG_LEVELS.get(level, logging.INFO), "%s", text)


def _budget(name: str, value: float | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of milliseconds or None, not {value!r}")
    return float(value)


class Isolate:
    """A V8 isolate with its own heap, global scope, event loop and limits.

    Limits apply to each call (`eval`, `call`): `timeout_ms` is the wall-clock time it may
    spend running JS, `cpu_limit_ms` the CPU time of that JS, `memory_limit_mb` the V8 heap
    plus ArrayBuffer memory. `total_timeout_ms` bounds the whole call including waits for
    timers and host operations. `None` disables a time limit.

    One call runs at a time; calls from several threads wait for each other. The GIL is
    released while JS runs, so isolates in different threads run in parallel.

    `host_functions` exposes Python callables to JS as `host.name(...args)`, which returns a
    Promise: the function runs between slices (never inside the JS time limit) with
    converted arguments, and its return value or exception settles the promise.
    `op_handler(name, payload)` performs other host operations, such as JS `fetch`.
    """

    def __init__(
        self,
        memory_limit_mb: int = 128,
        timeout_ms: float | None = 50,
        cpu_limit_ms: float | None = 50,
        *,
        total_timeout_ms: float | None = 30_000,
        console: ConsoleSink | None = None,
        op_handler: OpHandler | None = None,
        host_functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        if isinstance(memory_limit_mb, bool) or not isinstance(memory_limit_mb, int) \
                or memory_limit_mb < MIN_MEMORY_LIMIT_MB:
            raise ValueError(f"memory_limit_mb must be an integer >= {MIN_MEMORY_LIMIT_MB}, "
                             f"not {memory_limit_mb!r}")
        self.memory_limit_mb = memory_limit_mb
        self.timeout_ms = timeout_ms
        self.cpu_limit_ms = cpu_limit_ms
        self.total_timeout_ms = total_timeout_ms
        self._total_budget_s = _budget("total_timeout_ms", total_timeout_ms) / 1000
        self._console = console or log_console
        self._op_handler = op_handler
        self._lock = threading.Lock()
        self._owner: int | None = None  # the thread whose call holds the lock
        # Set by terminate(): ends a wait between slices at once.
        self._terminating = threading.Event()
        self._runtime = _core.Runtime(memory_limit_mb * 1024 * 1024,
                                      _budget("timeout_ms", timeout_ms),
                                      _budget("cpu_limit_ms", cpu_limit_ms))
        # Promise rejections nothing handled, over the isolate's life (reported on the console).
        self.unhandled_rejections = 0
        self._host_functions = dict(host_functions or {})
        if self._host_functions:
            for name, function in self._host_functions.items():
                if not (isinstance(name, str) and name.isidentifier()) or not callable(function):
                    raise TypeError(f"host_functions maps identifiers to callables; got {name!r}: {function!r}")
            self._drive(self._runtime.call_internal("exposeHostFunctions", (list(self._host_functions),)))

    @property
    def alive(self) -> bool:
        """False once closed, or discarded after hitting the memory limit."""
        return self._runtime.alive

    def eval(self, source: str, filename: str = "<eval>") -> Any:
        """Runs a classic script; returns its completion value (awaited if a Promise)."""
        if not isinstance(source, str):
            raise TypeError(f"source must be str, not {type(source).__name__}")
        with self._exclusive():
            return self._drive(self._runtime.eval(source, filename))

    def call(self, name: str, *args: Any) -> Any:
        """Calls the global function `name` with converted arguments; awaits a Promise result."""
        with self._exclusive():
            return self._drive(self._runtime.call(name, args))

    def run_file(self, path: str | Path) -> None:
        """Runs a script or an ES module file (with its relative imports): its top-level code,
        as a program runs (a module's top-level await is awaited; a script's completion value
        is discarded, not awaited)."""
        with self._exclusive():
            script = load_script(path, runtime=self._runtime)
            if script.kind == "service-worker":
                self._drive(self._runtime.eval(script.sources[script.main], script.main, False))
            else:
                self._drive(self._runtime.evaluate_module(script.main, script.links))

    def run_loop(self) -> None:
        """Runs pending timers until none are left, as a script's process would."""
        with self._exclusive():
            self._drive(self._runtime.run_loop())

    def terminate(self) -> None:
        """Stops the call running in another thread; that call raises `Terminated`.

        Safe from any thread (a signal handler, a watchdog of your own); does nothing while
        no call runs. The isolate stays usable.
        """
        self._terminating.set()
        self._runtime.terminate()

    def heap_statistics(self) -> dict[str, int]:
        """V8 heap numbers plus `array_buffer_bytes` (off-heap) and `memory_limit`."""
        if not self.alive:
            raise IsolateClosed("the isolate is closed")
        return self._runtime.heap_statistics()

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
                self._owner = None

    def _drive(self, outcome: _core.Outcome) -> Any:
        self._terminating.clear()
        deadline = time.monotonic() + self._total_budget_s if self._total_budget_s else None
        while True:
            self.unhandled_rejections += outcome.unhandled_rejections
            for level, text in outcome.console:
                self._console(level, text)
            for op_id, name, payload in outcome.ops:
                self._complete_op(op_id, name, payload)
            if outcome.status != "pending":
                return check_outcome(outcome)
            wait = 0.0 if outcome.ops else (outcome.next_timer_ms or 0.0) / 1000
            out_of_time = deadline is not None and deadline - time.monotonic() <= wait
            if out_of_time:
                wait = max(deadline - time.monotonic(), 0.0)
            if wait > 0:
                self._terminating.wait(wait)
            if out_of_time and not self._terminating.is_set():
                self._runtime.cancel_call()
                raise TimeLimitExceeded(
                    f"the call did not finish within its total time limit of {self.total_timeout_ms} ms",
                    "total", float(self.total_timeout_ms))
            outcome = self._runtime.resume()

    def _complete_op(self, op_id: int, name: str, payload: Any) -> None:
        try:
            if name.startswith("host:"):
                ok, value = True, self._host_functions[name.removeprefix("host:")](*payload)
            elif self._op_handler is None:
                ok, value = False, f"{name} is not available in this isolate"
            else:
                ok, value = True, self._op_handler(name, payload)
        except Exception as exc:  # the JS promise rejects with the host's error message
            ok, value = False, op_failure(exc)
        complete_op(self._runtime, op_id, ok, value)
