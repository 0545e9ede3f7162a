"""`InlineGate`: whether an app's next slice of JS may run on the event loop's own thread.

A slice run in a worker thread costs a hop to that thread and back, and moves V8's lock
between threads (V8 archives and restores the isolate's thread state): about 0.4 ms of CPU
per request, several times what a small handler's JS costs. A slice run on the event
loop's thread (with the GIL released) costs nothing extra, but the loop serves no one
else meanwhile. The gate bounds that share of the loop: slices that used more than
`max_slice_ms` of CPU count as heavy, and once the heavy ones exceed `loop_share` of the
loop's time by more than `burst_ms`, the app's slices go to worker threads until they are
back within it (after a 50 ms slice: 0.95 s with the default 5%). The burst is what lets an
occasional garbage collection of a millisecond or two stay inline: each one sent a hello
app to threads for tens of ms, some 5% of its CPU at full load. An app whose every request
is heavy keeps to threads. One gate serves all isolates of an app, so a bigger pool does
not multiply the share.

What one heavy slice may cost the loop is bounded by the app's limits, so only apps whose
limits keep a slice short get a gate (`InlineGate.for_limits`): an app with its CPU and wall
limits off would otherwise hold the loop, and every other app in the process, for as long
as one request spins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .limits import Limits

# A slice above this much CPU counts: hello-world handlers take ~0.1 ms.
MAX_SLICE_MS = 1.0
# The most of the event loop's time an app's heavy inline slices may take.
LOOP_SHARE = 0.05
# Heavy slices' CPU past that share the loop may carry before the app goes to threads.
BURST_MS = 5.0
# The longest one slice may hold the event loop (`Limits.slice_bound_ms`): the default 50 ms
# CPU limit is within it.
MAX_INLINE_STALL_MS = 100.0


class InlineGate:
    """Shared by the isolates of one app; used from the event loop's thread only."""

    def __init__(self, max_slice_ms: float = MAX_SLICE_MS, loop_share: float = LOOP_SHARE,
                 burst_ms: float = BURST_MS, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < loop_share < 1:
            raise ValueError(f"loop_share must be between 0 and 1, got {loop_share!r}")
        self.max_slice_ms = max_slice_ms
        self._factor = (1 - loop_share) / loop_share
        self._burst_ms = burst_ms
        self._clock = clock
        # Heavy slices' CPU not yet repaid by the loop's other time, as of `_since` (the clock's).
        self._debt_ms = 0.0
        self._since = 0.0
        self._threaded_until = 0.0

    @classmethod
    def for_limits(cls, limits: Limits) -> InlineGate | None:
        """A gate for an app with these limits, or None when they let one slice hold the loop
        longer than MAX_INLINE_STALL_MS: then every slice runs in a worker thread."""
        bound = limits.slice_bound_ms
        return cls() if bound is not None and bound <= MAX_INLINE_STALL_MS else None

    def allows(self) -> bool:
        """Whether the next slice may run inline."""
        return not self._threaded_until or self._clock() >= self._threaded_until

    def record(self, slice_cpu_ms: float) -> None:
        """Reports a finished slice's CPU time (inline or not)."""
        if slice_cpu_ms <= self.max_slice_ms:
            return
        now = self._clock()
        repaid = (now - self._since) * 1000 / self._factor if self._debt_ms else 0.0
        self._debt_ms = max(self._debt_ms - repaid, 0.0) + slice_cpu_ms
        self._since = now
        if self._debt_ms > self._burst_ms:
            self._threaded_until = max(self._threaded_until, now + self._debt_ms / 1000 * self._factor)
