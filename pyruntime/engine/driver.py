"""The call driver: one sans-I/O decision of what to do after each slice of a call.

The core runs a call in slices (ext/runtime.h): when JS waits on timers or host operations
a slice returns "pending", and the host waits, off the isolate, before the next slice.
`CallDriver` decides what follows an outcome (deliver console lines, start operations,
finish with a value or an error, or wait at most N seconds) and owns the call's total
deadline. It does no waiting and no I/O: the sync `Isolate` and the asyncio `AsyncIsolate`
are thin shells that carry out its steps with threads or with asyncio, so both behave alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from .. import _core
from .errors import (
    IsolateClosed,
    JSError,
    MemoryLimitExceeded,
    Terminated,
    TimeLimitExceeded,
    UnsettledPromise,
)

# How long a waiting call with background work in flight (a WebAssembly tier-up it set off)
# waits at most before its next slice, which counts that work against its CPU limit: the call
# ends at its limit while it waits, rather than when its timer or operation is due.
BACKGROUND_POLL_S = 0.25

ConsoleLine = tuple[str, str]
HostOp = tuple[int, str, Any]


class Step(NamedTuple):
    """What the shell does after one slice, in this order: deliver `console`, count
    `unhandled_rejections`, start `ops`; then, if `done`, return `value()`; if `expired`, cancel
    the call and raise `expired_error()`; else wait up to `wait_s` (None: until an operation
    completes), ending the wait early when one does, and run the next slice."""

    console: list[ConsoleLine]
    ops: list[HostOp]
    unhandled_rejections: int
    done: bool
    expired: bool
    wait_s: float | None


class CallDriver:
    """Drives one call: feed it each outcome with `step()`; it tracks the total deadline."""

    def __init__(self, total_timeout_s: float | None, *, what: str = "call",
                 clock: Callable[[], float] = time.monotonic, started: float | None = None,
                 background_pending: Callable[[], bool] | None = None) -> None:
        """`background_pending`: whether work on V8's worker threads for the isolate is in
        flight, which a CPU limit counts (None: the call has no CPU limit)."""
        self._clock = clock
        self._background_pending = background_pending
        self._total_s = total_timeout_s
        self._what = what
        start = clock() if started is None else started
        self._deadline = None if total_timeout_s is None else start + total_timeout_s
        self._outcome: _core.Outcome | None = None
        # The CPU time of the last slice (outcomes count the call's total).
        self.slice_cpu_ms = 0.0

    def step(self, outcome: _core.Outcome) -> Step:
        self.slice_cpu_ms = outcome.cpu_ms - (self._outcome.cpu_ms if self._outcome is not None else 0.0)
        self._outcome = outcome
        return self._decide(outcome)

    def remaining_s(self) -> float | None:
        """Seconds left of the call's total time (None: no total limit). The shells hand it to
        the core (`Runtime.set_call_deadline`), whose watchdog stops a slice still running
        then: with the CPU and wall limits off, nothing else would end a spin."""
        if self._deadline is None:
            return None
        return max(self._deadline - self._clock(), 0.0)

    def _decide(self, outcome: _core.Outcome) -> Step:
        # Once per slice, on every request: positional Steps, no keyword dicts.
        console, ops, rejections = outcome.console, outcome.ops, outcome.unhandled_rejections
        status = outcome.status
        if status == "deadline":  # the core stopped a slice at the call's total deadline
            return Step(console, ops, rejections, False, True, 0.0)
        if status != "pending":
            return Step(console, ops, rejections, True, False, 0.0)
        timer = None if outcome.next_timer_ms is None else outcome.next_timer_ms / 1000
        if self._background_pending is not None and self._background_pending():
            timer = BACKGROUND_POLL_S if timer is None else min(timer, BACKGROUND_POLL_S)
        if self._deadline is None:
            return Step(console, ops, rejections, False, False, timer)
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            return Step(console, ops, rejections, False, True, 0.0)
        return Step(console, ops, rejections, False, False, remaining if timer is None else min(timer, remaining))

    def value(self) -> Any:
        """The finished call's value, or the error it reports."""
        assert self._outcome is not None
        return check_outcome(self._outcome)

    @property
    def outcome(self) -> _core.Outcome:
        assert self._outcome is not None
        return self._outcome

    def expired_error(self) -> TimeLimitExceeded:
        total_ms = (self._total_s or 0) * 1000
        return TimeLimitExceeded(f"the {self._what} did not finish within its total time limit of {total_ms:g} ms",
                                 "total", total_ms)


def check_outcome(outcome: _core.Outcome) -> Any:
    """Returns a finished outcome's value, or raises the error it reports."""
    status = outcome.status
    if status == "ok":
        return outcome.value
    if status == "js_error":
        raise JSError(outcome.error_name, outcome.error_message, outcome.error_stack)
    if status == "timeout":
        raise TimeLimitExceeded(f"{outcome.error_message} (ran {outcome.wall_ms:.1f} ms)", "timeout",
                                outcome.wall_ms)
    if status == "cpu":
        raise TimeLimitExceeded(f"{outcome.error_message} (used {outcome.cpu_ms:.1f} ms of CPU)", "cpu",
                                outcome.cpu_ms)
    if status == "memory":
        raise MemoryLimitExceeded(outcome.error_message)
    if status == "unsettled":
        raise UnsettledPromise(outcome.error_message)
    if status == "terminated":
        raise Terminated(outcome.error_message)
    if status == "deadline":  # a call the shells drive reports its own message (`expired_error`)
        raise TimeLimitExceeded(outcome.error_message, "total", outcome.wall_ms)
    if status == "closed":
        raise IsolateClosed(outcome.error_message)
    if status == "conversion":
        raise TypeError(outcome.error_message)
    raise RuntimeError(f"unexpected outcome {status!r}")


def op_failure(exc: BaseException) -> str:
    """The message a failed host operation's promise rejects with."""
    return f"{type(exc).__name__}: {exc}"


def complete_op(runtime: _core.Runtime, op_id: int, ok: bool, value: Any) -> None:
    """Settles a host operation's promise; a result JS cannot hold rejects it instead, so the
    promise never waits forever on a value that failed to convert. Never blocks on a busy isolate."""
    try:
        runtime.complete_op(op_id, ok, value)
    except TypeError as exc:
        runtime.complete_op(op_id, False, f"TypeError: the host operation's result cannot go to JS: {exc}")
