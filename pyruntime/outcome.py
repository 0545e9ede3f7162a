"""Turning the core's outcomes (pyruntime._core.Outcome) into values or exceptions, and
settling the host operations they carry."""

from __future__ import annotations

from typing import Any

from . import _core
from .errors import (
    IsolateClosed,
    JSError,
    MemoryLimitExceeded,
    Terminated,
    TimeLimitExceeded,
    UnsettledPromise,
)


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
    promise never waits forever on a value that failed to convert."""
    try:
        runtime.complete_op(op_id, ok, value)
    except TypeError as exc:
        runtime.complete_op(op_id, False, f"TypeError: the host operation's result cannot go to JS: {exc}")
