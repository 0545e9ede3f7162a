"""`IdleTimer`: things with when each went idle, and one event-loop timer for the first of them
to have been idle long enough.

An isolate pool keeps two: the isolates beyond its warm size, disposed after a while idle, and
the isolates that served requests, collected after a while idle (pool.py). One timer per pool
and purpose, not one per isolate: a thousand apps' pools stay a thousand timers at most.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable


class IdleTimer:
    """When each item went idle, and one timer due when the first has been idle `after_s`.

    Then `on_due(now)` runs (the owner checks `idle_long_enough` and `forget`s what it acts
    on); if it returns True, the timer is set again for the next item still timed, else the
    next `start` sets it. Times are `time.monotonic`,
    not the loop's time: `asyncio.get_running_loop()` makes a getpid system call, and `start`
    runs once per request.
    """

    def __init__(self, after_s: float, on_due: Callable[[float], bool]) -> None:
        self.after_s = after_s
        self._on_due = on_due
        self._since: dict[Hashable, float] = {}
        self._due: asyncio.TimerHandle | None = None
        self._stopped = False

    def start(self, item: Hashable) -> None:
        """`item` goes idle now; on the running loop."""
        self._since[item] = time.monotonic()
        if self._due is None and not self._stopped:
            self._due = asyncio.get_running_loop().call_later(self.after_s, self._fire)

    def forget(self, item: Hashable) -> None:
        """`item` is no longer timed (taken, disposed, or acted on)."""
        self._since.pop(item, None)

    def idle_long_enough(self, item: Hashable, now: float) -> bool:
        since = self._since.get(item)
        return since is not None and now - since >= self.after_s

    def stop(self) -> None:
        """No timer from now on (the owner retired)."""
        self._stopped = True
        if self._due is not None:
            self._due.cancel()
            self._due = None

    def _fire(self) -> None:
        self._due = None
        now = time.monotonic()
        # `on_due` may `start` items again, which sets the timer: one timer, never two.
        if self._on_due(now) and self._due is None and self._since and not self._stopped:
            next_due = min(self._since.values()) + self.after_s
            self._due = asyncio.get_running_loop().call_later(max(next_due - now, 0.001), self._fire)
