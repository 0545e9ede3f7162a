"""`DeadlineWatch`: one thread per process that calls back at deadlines, for the sync shell.

A sync `Isolate` whose CPU and wall limits are off (or longer than the call's total time)
must have each slice terminated at the call's total deadline (isolate.py `_slice`). A
`threading.Timer` per slice did that by starting a thread per slice: some 200 µs, more than
the call itself (an `eval("1+1")` cost 230 µs instead of 15). Here one thread, started on
first use, waits for the earliest deadline armed; arming and cancelling are a lock and a
dict operation. Only the armed deadlines are kept (one per running slice), so a cancelled
deadline holds nothing until its time comes.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable


class DeadlineWatch:
    """Calls `callback()` on its own thread once `delay_s` have passed, unless cancelled first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._armed: dict[int, tuple[float, Callable[[], object]]] = {}
        self._ids = itertools.count(1)
        # When the thread will next look (None: it waits for an arm); an earlier arm wakes it.
        self._planned: float | None = None
        self._thread: threading.Thread | None = None

    def arm(self, delay_s: float, callback: Callable[[], object]) -> int:
        """Arms a deadline; returns its id for `cancel`."""
        when = time.monotonic() + delay_s
        with self._lock:
            deadline_id = next(self._ids)
            self._armed[deadline_id] = (when, callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="pyruntime-deadlines", daemon=True)
                self._thread.start()
            elif self._planned is None or when < self._planned:
                self._changed.notify()
        return deadline_id

    def cancel(self, deadline_id: int) -> None:
        """Disarms a deadline (nothing if it has fired already)."""
        with self._lock:
            self._armed.pop(deadline_id, None)

    def _watch(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                due = [key for key, (when, _) in self._armed.items() if when <= now]
                callbacks = [self._armed.pop(key)[1] for key in due]
                if callbacks:
                    self._lock.release()
                    try:
                        for callback in callbacks:
                            try:
                                callback()
                            except Exception:  # one failing callback must not end every isolate's deadlines
                                sys.excepthook(*sys.exc_info())
                    finally:
                        self._lock.acquire()
                    continue
                self._planned = min((when for when, _ in self._armed.values()), default=None)
                self._changed.wait(None if self._planned is None else self._planned - now)


_watch = DeadlineWatch()


def _forked() -> None:
    # The child has no watcher thread (threads do not survive fork): it starts its own.
    global _watch
    _watch = DeadlineWatch()


os.register_at_fork(after_in_child=_forked)


def arm(delay_s: float, callback: Callable[[], object]) -> int:
    """Arms a deadline on this process's watch: `callback()` runs on its thread after `delay_s`."""
    return _watch.arm(delay_s, callback)


def cancel(deadline_id: int) -> None:
    _watch.cancel(deadline_id)
