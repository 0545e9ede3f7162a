"""`InlineGate`: whether an app's next slice of JS may run on the event loop's own thread.

A slice run in a worker thread costs a hop to that thread and back, and moves V8's lock
between threads (V8 archives and restores the isolate's thread state): about 0.4 ms of CPU
per request, several times what a small handler's JS costs. A slice run on the event
loop's thread (with the GIL released) costs nothing extra, but the loop serves no one
else meanwhile. The gate bounds that: an app's slices run inline while they stay short,
and a slice that used more than `max_slice_ms` of CPU sends the app's slices to worker
threads for the next `cooldown_s` seconds (renewed by every heavy slice). Every slice is
bounded by the CPU limit anyway, so an app that mixes cheap and heavy requests holds the
loop for at most one CPU limit per `cooldown_s`: with the defaults (50 ms, 1 s), under 5%
of it. One gate serves all isolates of an app, so a bigger pool does not multiply that.
"""

from __future__ import annotations

import time

# A slice above this much CPU is "heavy": hello-world handlers take ~0.1 ms.
MAX_SLICE_MS = 2.0
# How long slices go to worker threads after a heavy one.
COOLDOWN_S = 1.0


class InlineGate:
    """Shared by the isolates of one app; used from the event loop's thread only."""

    def __init__(self, max_slice_ms: float = MAX_SLICE_MS, cooldown_s: float = COOLDOWN_S) -> None:
        self.max_slice_ms = max_slice_ms
        self.cooldown_s = cooldown_s
        self._threaded_until = 0.0

    def allows(self) -> bool:
        """Whether the next slice may run inline."""
        return not self._threaded_until or time.monotonic() >= self._threaded_until

    def record(self, slice_cpu_ms: float) -> None:
        """Reports a finished slice's CPU time (inline or not)."""
        if slice_cpu_ms > self.max_slice_ms:
            self._threaded_until = time.monotonic() + self.cooldown_s
