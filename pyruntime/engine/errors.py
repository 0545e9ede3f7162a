"""The exceptions pyruntime raises. All derive from `pyruntime.Error`."""

from __future__ import annotations

import re

# Stack frames of the runtime's own bootstrap JS (`at new URL (pyruntime:20_url.js:293:16)`):
# they say nothing to the user about their code, and are left out of the stacks shown.
_RUNTIME_FRAME = re.compile(r"^\s+at .*\bpyruntime:[\w.]+:\d+:\d+\)?$")


def user_stack(stack: str) -> str:
    """`stack` without the runtime's own frames."""
    return "\n".join(line for line in stack.split("\n") if not _RUNTIME_FRAME.match(line))


class Error(Exception):
    """Base class of every pyruntime error."""


class JSError(Error):
    """An uncaught JS exception, a rejected promise or a syntax error.

    `name` and `message` are the JS error's; `stack` is its stack trace (the runtime's own
    frames left out), with the file, line and column in front for syntax errors.
    """

    def __init__(self, name: str, message: str, stack: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message
        self.stack = user_stack(stack)


class UnsettledPromise(Error):
    """The awaited promise can never settle: nothing pending (timers, host operations) could
    settle it. Raised at once instead of waiting out the time limit."""


class LimitExceeded(Error):
    """A limit of the isolate stopped the script."""


class TimeLimitExceeded(LimitExceeded):
    """JS ran past a time budget.

    `limit` says which: "timeout" (wall-clock time running JS), "cpu" (CPU time), or
    "total" (wall-clock time of the whole call, waits for timers and I/O included).
    """

    def __init__(self, message: str, limit: str, elapsed_ms: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.elapsed_ms = elapsed_ms


class MemoryLimitExceeded(LimitExceeded):
    """The isolate ran out of its memory budget; it has been discarded."""


class Terminated(Error):
    """The call was stopped by `Isolate.terminate()` from another thread."""


class IsolateClosed(Error):
    """The isolate was closed, or discarded after a memory-limit hit."""
