"""`IsolatePool`: warm isolates for one app, lent to one request at a time.

Requests beyond the free isolates wait in a bounded queue; past its bound the pool
refuses at once (`PoolFull`) so that latency cannot grow without limit. An isolate that
died (memory limit) is disposed and replaced in the background.

An isolate is held for the whole request, waits for its subrequests included: with a pool of
one isolate per core, an app that proxies a 50 ms upstream answered 34 requests a second on
one worker, its CPU idle. So when requests queue while isolates wait for host operations or
timers (`AsyncIsolate.waiting`), the pool grows, one isolate per such waiting isolate and
queued request, up to `max_size` (`pool_bounds`), made in the background; the isolates beyond
`size` that stay idle for `IDLE_RETIRE_S` are disposed again. Isolates busy with JS or with
sending do not count: there more isolates would share the same CPU, and cost more per request
(a streamed response: 1,080-1,163 us of CPU per request with 2 isolates, 1,175-1,553 with 8).

V8 compiles hot code and marks an isolate's heap on its worker threads, and that work goes on
after the call that set it off: a WebAssembly module's tier-up took seconds of CPU after a
call of some ms. A call's CPU limit counts what those threads spend for its isolate while it
runs (ext/background_cpu.h); an idle isolate whose background work goes past what one call may
use (`cpu_limit_ms`) is disposed, which ends that work, and replaced; so is one given back
from a call that went past its CPU limit while such work is still in flight. Idle isolates with
background work in flight, or whose background CPU grew, are looked at every
`BACKGROUND_CHECK_S` until neither holds; what they spend is counted per app
(`pyruntime_background_cpu_seconds`).

V8 collects an isolate's garbage only when its JS allocates, so an isolate that went quiet
after a burst kept what the burst left: about 10 MB after 20,000 small requests, 0.7 MB after
300. An isolate idle for `IDLE_COLLECT_S` after serving requests gets one full collection in a
worker thread (some ms of CPU), held out of the idle list meanwhile (10 MB to 4.9 MB, 0.7 to
0.1 MB).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from collections import deque
from typing import Any

from ..engine import AppIsolate, Limits, WorkerScript
from ..engine.errors import Error
from ..engine.host_ops import AsyncHostOps
from ..engine.inline_gate import InlineGate
from .idle_timer import IdleTimer
from .observer import Observer

_isolate_ids = itertools.count(1)
# Pause between attempts to replace an isolate whose script failed to load again.
_RETRY_S = 1.0
# How long an isolate beyond the pool's warm size may stay idle before it is disposed.
IDLE_RETIRE_S = 30.0
# How long an isolate that served requests stays idle before it is collected (`reduce_memory`).
IDLE_COLLECT_S = 10.0
# How often an idle isolate whose background work goes on is checked against its CPU limit.
BACKGROUND_CHECK_S = 0.1
# The default most isolates of a pool, per core: what a pool may grow to while requests queue.
MAX_ISOLATES_PER_CPU = 4
# Heap changes smaller than this are not reported (each report writes the metrics file).
_HEAP_STEP = 64 * 1024
# An isolate's heap is read after one of its requests in this many (reading it walks V8's
# heap spaces): the gauge lags by some requests, never by a change the limits act on (those
# are V8's own). Counted per isolate: a count per pool could always land on the same one.
_HEAP_EVERY = 128


def pool_bounds(size: int | None, max_size: int | None) -> tuple[int, int]:
    """The warm size (default one isolate per core) and the most a pool grows to: `max_size`,
    else a pool of the default size grows to MAX_ISOLATES_PER_CPU per core, and a pool whose
    size was given keeps it (as before growth existed: one isolate may be what the app needs)."""
    cpus = os.cpu_count() or 1
    if max_size is not None:
        return size or min(cpus, max_size), max_size
    if size is not None:
        return size, size
    return cpus, MAX_ISOLATES_PER_CPU * cpus


class PoolFull(Error):
    """Every isolate is busy and the wait queue is full."""


class PoolClosed(Error):
    """The pool was closed while the request waited for an isolate."""


class Abandoned(Error):
    """The request stopped waiting for an isolate (`IsolatePool.acquire`'s `until` completed)."""


def _above(ms: float) -> str:
    """`ms` rounded up to a tenth: a figure past a limit never reads as the limit itself (700.04
    ms of a 700 ms limit read "700" at whole ms)."""
    return f"{math.ceil(ms * 10) / 10:.1f}"


class IsolatePool:
    """Loaded isolates of one script (`size` kept warm, up to `max_size` while requests queue),
    with a bounded queue of waiting requests."""

    def __init__(self, app: str, script: WorkerScript, *, env: dict[str, Any], limits: Limits,
                 size: int | None = None, max_size: int | None = None, max_queue: int = 64, observer: Observer,
                 host_ops: AsyncHostOps | None = None, idle_retire_s: float = IDLE_RETIRE_S,
                 idle_collect_s: float = IDLE_COLLECT_S) -> None:
        self.app = app
        self.script = script
        self.env = env
        self.limits = limits
        self.size, self.max_size = pool_bounds(size, max_size)
        if self.max_size < self.size:
            raise ValueError(f"{app}: max_size ({self.max_size}) is below size ({self.size})")
        self.max_queue = max_queue
        # Isolates being made for waiting requests, and when each idle isolate was given back.
        self._growing = 0
        # After an isolate failed to load, no other is tried before then (the loop's time): each
        # try costs a load, and a script whose load fails would otherwise be loaded per queued request.
        self._grow_after = 0.0
        # Idle isolates beyond the warm size, to dispose; idle ones that served requests since
        # their last collection, to collect.
        self._extras = IdleTimer(idle_retire_s, self._shrink)
        self._used = IdleTimer(idle_collect_s, self._collect_idle)
        # Idle isolates with background work going on, and each isolate's background CPU counted.
        self._background = IdleTimer(BACKGROUND_CHECK_S, self._check_background)
        self._background_seen: dict[AppIsolate, float] = {}
        # Isolates being collected now, and collections finished.
        self.collecting = 0
        self.collections = 0
        self._observer = observer
        # One client for the pool's outbound fetches (connections are reused across isolates).
        self._host_ops = host_ops or AsyncHostOps()
        # One gate for the app's isolates: short slices run on the event loop's thread, if the
        # app's limits keep every slice short.
        self._inline = InlineGate.for_limits(limits)
        self._idle: list[AppIsolate] = []
        self._waiters: deque[asyncio.Future[bool]] = deque()
        # Waiters woken for a freed isolate that have not run yet: out of the queue, still owed one.
        self._woken = 0
        self._ids: dict[AppIsolate, int] = {}
        self._heap: dict[AppIsolate, int] = {}
        self._releases: dict[AppIsolate, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._retired = False
        self._retire_reason = "shutdown"

    async def start(self) -> None:
        """Creates and loads every isolate, side by side (each is made in a thread, without the
        GIL, so a server with cores to spare starts sooner); on a load error disposes what was
        made and raises the first error."""
        made = await asyncio.gather(*(self._create() for _ in range(self.size)), return_exceptions=True)
        failures = [result for result in made if isinstance(result, BaseException)]
        isolates = [result for result in made if not isinstance(result, BaseException)]
        if failures:
            for isolate in isolates:
                self._dispose(isolate, "startup_failed")
            raise failures[0]
        self._idle.extend(isolates)

    def retire(self, reason: str) -> None:
        """Stops handing out new work: idle isolates go now, busy ones when their request ends.

        Requests already waiting are still served, so a reload drops nothing in flight.
        """
        self._retired = True
        self._retire_reason = reason
        self._extras.stop()
        self._used.stop()
        self._background.stop()
        while self._idle and not self._waiters and not self._woken:
            self._dispose(self._idle.pop(), reason)
        for task in self._tasks:
            task.cancel()

    def try_acquire(self) -> AppIsolate | None:
        """A free isolate at once, or None: then `acquire` queues for one."""
        return self._take_idle() if self._idle else None

    def _take_idle(self) -> AppIsolate:
        isolate = self._idle.pop()
        self._extras.forget(isolate)
        self._used.forget(isolate)  # timed again when given back
        self._background.forget(isolate)
        return isolate

    async def acquire(self, until: asyncio.Future[Any] | None = None) -> AppIsolate:
        """A free isolate for one request (give it back with `release`); waits or raises PoolFull.
        Raises `Abandoned` if `until` (a client's departure, say) completes while it waits.

        A freed isolate goes to whoever asks first: a request arriving while others wait
        takes it at once rather than queueing behind them. Handing it to the oldest waiter
        would cost that waiter a trip through the event loop, and every request arriving
        meanwhile would queue too, so that once formed the queue never drains. For the same
        reason a waiter takes its isolate in its own task when it runs, never in a helper
        task that it then waits on: an isolate held between the two would send every request
        arriving meanwhile to the queue.
        """
        if self._retired and not self._idle and not self._ids:
            raise PoolClosed(f"the pool of {self.app} is closed")
        if self._idle:
            return self._take_idle()
        if len(self._waiters) >= self.max_queue:
            raise PoolFull(f"{self.app}: all {len(self._ids)} isolates are busy and "
                           f"{len(self._waiters)} requests wait")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        self._grow()

        def abandon(_: asyncio.Future[Any]) -> None:
            if not waiter.done():
                waiter.set_result(False)

        if until is not None:
            until.add_done_callback(abandon)
        try:
            while True:
                try:
                    woken = await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled() and waiter.result():
                        self._woken -= 1
                        self._settle()  # woken just as the request was cancelled: wake the next
                    else:
                        self._discard(waiter)
                    raise
                if not woken:
                    self._discard(waiter)
                    raise Abandoned(f"{self.app}: the request was abandoned while it waited for an isolate")
                self._woken -= 1
                if self._idle:
                    isolate = self._take_idle()
                    self._settle()
                    return isolate
                if self._retired and not self._ids:
                    raise PoolClosed(f"the pool of {self.app} is closed")
                waiter = loop.create_future()
                self._waiters.appendleft(waiter)  # taken by a newcomer: still first in line
        finally:
            if until is not None:
                until.remove_done_callback(abandon)

    def _discard(self, waiter: asyncio.Future[bool]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def release(self, isolate: AppIsolate, requests: int = 1) -> None:
        """Takes an isolate back after `requests` requests (a JS pass may run several on it
        in a row); a dead one is replaced by a fresh one."""
        if not isolate.alive:
            self._dispose_and_replace(isolate, "memory_limit")
            return
        limit = self.limits.cpu_limit_ms
        if limit is not None and isolate.background_in_flight and isolate.last_call_cpu_ms > limit:
            # Stopped at its limit with work it set off still running: a compile that has
            # already cost the call its budget would go on for nothing (disposal ends it).
            self._dispose_for_background(
                isolate, f"its last call used {_above(isolate.last_call_cpu_ms)} ms of CPU, more than one request may "
                         f"use (cpu_limit_ms = {limit:g}), and V8 still had work for it on its worker threads")
            return
        served = self._releases.get(isolate, 0)
        self._releases[isolate] = served + requests
        self._used.start(isolate)
        self._put(isolate)
        # Only reports from here, once the isolate is back: a failing observer must not lose
        # it. Read before a waiter woken for it runs (later, on this loop); a retired pool
        # may have disposed of it already.
        if isolate in self._ids:
            if (served + requests) // _HEAP_EVERY != served // _HEAP_EVERY:
                self._track_heap(isolate)
            self._watch_background(isolate)

    def _put(self, isolate: AppIsolate) -> None:
        self._idle.append(isolate)
        if len(self._ids) > self.size:
            self._extras.start(isolate)
        self._settle()

    def _grow(self) -> None:
        """Starts making isolates for the requests that wait behind isolates waiting for I/O,
        within `max_size`."""
        if not self._waiters or self._retired or len(self._ids) + self._growing >= self.max_size:
            return
        if self._grow_after and asyncio.get_running_loop().time() < self._grow_after:
            return
        waiting_on_io = sum(1 for isolate in self._ids if isolate.waiting)
        while self._growing < min(len(self._waiters), waiting_on_io) \
                and len(self._ids) + self._growing < self.max_size:
            self._growing += 1
            task = asyncio.create_task(self._grown())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _grown(self) -> None:
        try:
            isolate = await self._create()
        except Error as exc:  # the requests keep the isolates there are
            self._grow_after = asyncio.get_running_loop().time() + _RETRY_S
            self._observer.app_error(self.app, f"cannot add an isolate: {exc}", getattr(exc, "stack", None))
            return
        finally:
            self._growing -= 1
        self._put(isolate)

    def _shrink(self, now: float) -> bool:
        """Disposes the isolates beyond the warm size that stayed idle for `idle_retire_s`; the
        oldest-idle first (the idle list's bottom: requests take from its top). Whether any
        is still beyond the warm size, to time."""
        for isolate in list(self._idle):
            if len(self._ids) <= self.size:
                break
            if self._extras.idle_long_enough(isolate, now):
                self._idle.remove(isolate)
                self._dispose(isolate, "idle")
        return len(self._ids) > self.size

    def _check_background(self, now: float) -> bool:
        """Disposes and replaces each idle isolate whose background CPU since its last request
        is past the CPU limit; stops watching those whose background work is over."""
        limit = self.limits.cpu_limit_ms
        for isolate in list(self._idle):
            if not self._background.idle_long_enough(isolate, now):
                continue
            self._background.forget(isolate)
            spent = isolate.unbilled_background_ms
            if limit is not None and spent > limit:
                self._idle.remove(isolate)
                self._dispose_for_background(
                    isolate, f"V8 spent {_above(spent)} ms of CPU on its worker threads for it after its last request "
                             f"(compiling its hot code, a WebAssembly module's tier-up), more than one request may "
                             f"use (cpu_limit_ms = {limit:g})")
                continue
            self._watch_background(isolate)
        return True

    def _watch_background(self, isolate: AppIsolate) -> None:
        """Counts an idle isolate's new background CPU, and watches it while background work
        for it is in flight or its CPU grew."""
        if self._count_background(isolate) or isolate.background_in_flight:
            self._background.start(isolate)

    def _count_background(self, isolate: AppIsolate) -> float:
        """Reports the background CPU the isolate spent since last counted; how much that was."""
        total = isolate.background_cpu_ms
        new = total - self._background_seen.get(isolate, 0.0)
        if new > 0:
            self._background_seen[isolate] = total
            self._observer.background_cpu(self.app, new)
        return new

    def _dispose_for_background(self, isolate: AppIsolate, why: str) -> None:
        isolate_id = self._ids.get(isolate)
        self._dispose_and_replace(isolate, "background_cpu")
        self._observer.app_error(self.app, f"isolate {isolate_id} disposed: {why}", event="background_cpu")

    def _dispose_and_replace(self, isolate: AppIsolate, reason: str) -> None:
        try:
            self._dispose(isolate, reason)
        finally:  # a failing report still gets the pool its isolate back
            if not self._retired:
                task = asyncio.create_task(self._replace())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _collect_idle(self, now: float) -> bool:
        """Collects each isolate idle for `idle_collect_s` since it last served a request, in a
        worker thread, out of the idle list meanwhile: requests take the others or wait for it."""
        for isolate in list(self._idle):
            if self._used.idle_long_enough(isolate, now):
                self._used.forget(isolate)
                self._idle.remove(isolate)
                self.collecting += 1
                task = asyncio.create_task(self._collect(isolate))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return True  # the isolates still timed are due later

    async def _collect(self, isolate: AppIsolate) -> None:
        collected = asyncio.get_running_loop().run_in_executor(None, isolate.reduce_memory)
        try:
            await asyncio.shield(collected)
        finally:
            # Cancelled (the pool retired): the thread still holds the isolate until V8 is done.
            if collected.done():
                self._collected(isolate)
            else:
                collected.add_done_callback(lambda _: self._collected(isolate))

    def _collected(self, isolate: AppIsolate) -> None:
        self.collecting -= 1
        self.collections += 1
        self._track_heap(isolate)
        self._put(isolate)

    def _settle(self) -> None:
        """Wakes the first waiter if an isolate is free; a retired pool with no one waiting
        disposes its free isolates."""
        while self._idle and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                self._woken += 1
                return
        if self._retired and not self._waiters and not self._woken:
            while self._idle:
                self._dispose(self._idle.pop(), self._retire_reason)

    async def _replace(self) -> None:
        while not self._retired:
            try:
                isolate = await self._create()
            except Error as exc:
                self._observer.app_error(self.app, f"cannot replace an isolate: {exc}", getattr(exc, "stack", None))
                await asyncio.sleep(_RETRY_S)
            else:
                self._put(isolate)
                return

    async def _create(self) -> AppIsolate:
        app, observer = self.app, self._observer
        # Made in a worker thread: a new isolate takes milliseconds of CPU (V8 deserialises the
        # snapshot), which the event loop and other apps' requests must not wait for.
        isolate = await asyncio.to_thread(
            AppIsolate, self.script, env=self.env, limits=self.limits,
            console=lambda method, text: observer.console(app, None, method, text), op_handler=self._host_ops,
            inline=self._inline)
        try:
            await isolate.load()
        except BaseException:
            isolate.close()
            raise
        isolate.on_waiting = self._grow  # requests may queue behind it while it waits for I/O
        isolate_id = next(_isolate_ids)
        self._ids[isolate] = isolate_id
        self._observer.isolate_created(self.app, isolate_id)
        self._track_heap(isolate)
        return isolate

    def _track_heap(self, isolate: AppIsolate) -> None:
        """Heap use is read between requests only, while no thread runs JS in the isolate. The
        observer hears of changes of `_HEAP_STEP` or more: a gauge, not a per-request event."""
        used = isolate.heap_statistics()["used_heap_size"]
        delta = used - self._heap.get(isolate, 0)
        if abs(delta) >= _HEAP_STEP or isolate not in self._heap:
            self._observer.heap_changed(self.app, delta)
            self._heap[isolate] = used

    def _dispose(self, isolate: AppIsolate, reason: str) -> None:
        isolate_id = self._ids.pop(isolate, None)
        self._extras.forget(isolate)
        self._used.forget(isolate)
        self._background.forget(isolate)
        self._releases.pop(isolate, None)
        try:
            self._count_background(isolate)
            self._observer.heap_changed(self.app, -self._heap.pop(isolate, 0))
            if isolate_id is not None:
                self._observer.isolate_disposed(self.app, isolate_id, reason)
        finally:  # closed whatever the reports do: its memory and V8's work for it end here
            self._background_seen.pop(isolate, None)
            self._heap.pop(isolate, None)
            isolate.close()
