"""`Limits`: the one owner of an isolate's limits: defaults, validation, "off", and the core's form.

Every entry point (the `Isolate` API, served apps, `pyruntime run`, the TOML config) builds
a `Limits`, so a default or a rule is written once. In Python a limit that is off is `None`;
text forms (CLI flags, TOML) spell it `off` (TOML also takes `false`, having no null).

The defaults follow Cloudflare's model: a CPU budget per call (50 ms, what stops `for(;;){}`),
and a wall-clock bound on running JS that is loose enough for a busy machine, where a call
needing a few ms of CPU can take many times that in wall time.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace
from typing import Any

# Below this V8 cannot set up a context with the full global scope.
MIN_MEMORY_MB = 16
MAX_MEMORY_MB = 16 * 1024
# Time limits above these are not limits: they are refused rather than silently capped.
MAX_CALL_MS = 3_600_000.0
MAX_TOTAL_MS = 86_400_000.0


class LimitError(ValueError):
    """A limit value that is not finite, positive and within its range; `limit` names it."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


def _time(name: str, value: Any, maximum: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 < value <= maximum:
        raise LimitError(name, f"{name} must be a number of milliseconds in (0, {maximum:g}], or None for no limit; "
                         f"got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Limits:
    """What one call into an isolate may spend.

    - `cpu_limit_ms`: CPU time of the thread running the call's JS.
    - `timeout_ms`: wall-clock time the call spends running JS (waits for timers and I/O excluded).
    - `total_timeout_ms`: wall-clock time of the whole call, waits included.
    - `memory_limit_mb`: the isolate's V8 heap plus ArrayBuffer and WebAssembly memory, and what
      the host holds for it. Past it the isolate is discarded.

    A time limit of `None` is off. Construction validates every field.
    """

    cpu_limit_ms: float | None = 50.0
    timeout_ms: float | None = 1000.0
    total_timeout_ms: float | None = 30_000.0
    memory_limit_mb: int = 128

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpu_limit_ms", _time("cpu_limit_ms", self.cpu_limit_ms, MAX_CALL_MS))
        object.__setattr__(self, "timeout_ms", _time("timeout_ms", self.timeout_ms, MAX_CALL_MS))
        object.__setattr__(self, "total_timeout_ms",
                           _time("total_timeout_ms", self.total_timeout_ms, MAX_TOTAL_MS))
        memory = self.memory_limit_mb
        if isinstance(memory, bool) or not isinstance(memory, int) or not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB:
            raise LimitError("memory_limit_mb", f"memory_limit_mb must be an integer from {MIN_MEMORY_MB} "
                             f"to {MAX_MEMORY_MB}; got {memory!r}")

    def with_(self, **changes: Any) -> Limits:
        """A copy with some fields changed (validated like the original)."""
        return replace(self, **changes)

    @property
    def memory_limit_bytes(self) -> int:
        return self.memory_limit_mb * 1024 * 1024

    @property
    def total_timeout_s(self) -> float | None:
        return None if self.total_timeout_ms is None else self.total_timeout_ms / 1000

    @functools.cached_property
    def slice_bound_ms(self) -> float | None:
        """The longest one slice of a call can run: the CPU or the wall-clock limit, whichever
        is smaller (JS cannot wait without using CPU: Atomics.wait is refused); None when both
        are off."""
        bounds = [ms for ms in (self.cpu_limit_ms, self.timeout_ms) if ms is not None]
        return min(bounds) if bounds else None

    def core_args(self) -> tuple[int, float, float]:
        """The core's form (pyruntime._core.Runtime): bytes, and milliseconds with 0 for off."""
        return self.memory_limit_bytes, self.timeout_ms or 0.0, self.cpu_limit_ms or 0.0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def parse_text(cls, name: str, text: str) -> float | int | None:
        """A limit's value from text (a CLI flag): a number, or `off`."""
        if text.strip().lower() == "off":
            if name == "memory_limit_mb":
                raise LimitError(name, "memory_limit_mb cannot be off")
            return None
        try:
            return int(text) if name == "memory_limit_mb" else float(text)
        except ValueError:
            raise LimitError(name, f"{name} must be a number or 'off', not {text!r}") from None
