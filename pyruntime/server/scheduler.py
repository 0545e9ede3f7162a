"""Cron triggers: each app's `scheduled` handler runs at its cron times, in one process.

With `--workers N` only the worker in slot 0 runs the scheduler (the supervisor passes each
worker its slot), so a cron fires once per server, not once per process; the supervisor
restarts that worker in the same slot if it dies. A run borrows an isolate from the app's
pool, under the same limits as a request, and ends with one `scheduled` log line and
`pyruntime_scheduled_total{app,outcome}`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ..engine.errors import Error, IsolateClosed, MemoryLimitExceeded, TimeLimitExceeded
from .app import WorkerApp, new_request_id
from .observer import RequestContext


def _outcome(exc: BaseException) -> str:
    """Workers' names for how a scheduled run ended."""
    if isinstance(exc, MemoryLimitExceeded | IsolateClosed):
        return "exceededMemory"
    if isinstance(exc, TimeLimitExceeded):
        return "exceededCpu" if exc.limit == "cpu" else "exceededTime"
    return "exception"


async def run_scheduled(app: WorkerApp, cron: str, scheduled_time: datetime) -> str:
    """Runs `app`'s scheduled handler once for `cron` and returns the outcome ("ok", "exception",
    "exceededCpu", "exceededTime", "exceededMemory")."""
    # The run is reported like a request: its own id, console lines and limit/error events.
    ctx = RequestContext(app.name, new_request_id(), "SCHEDULED", cron, app.observer, app.mask)
    loop_started = asyncio.get_running_loop().time()
    outcome = "ok"
    try:
        pool = await app.pool()
        isolate = await pool.acquire()
    except (Error, OSError) as exc:  # the app does not load, is busy, or is shutting down
        outcome = "exception"
        app.observer.js_error(ctx, type(exc).__name__, f"cannot run the scheduled handler: {app.mask(str(exc))}",
                              None, "scheduled")
    else:
        try:
            result = await isolate.scheduled(cron, scheduled_time.timestamp() * 1000, console=ctx.console,
                                             started=loop_started)
            ctx.add_cpu(result.cpu_ms)
            await isolate.wait_until(console=ctx.console)
        except (Error, TypeError) as exc:
            outcome = _outcome(exc)
            app.report_failure(ctx, exc, phase="scheduled")
        finally:
            isolate.end_request()
            pool.release(isolate)
    app.observer.scheduled(ctx, cron, outcome, scheduled_time.isoformat())
    return outcome


class Scheduler:
    """Fires every app's crons (UTC, as Workers does) until stopped. Runs of one app never
    overlap: a run that lasts past the next firing delays it, and missed firings are skipped."""

    def __init__(self, apps: list[WorkerApp]) -> None:
        self._apps = [app for app in apps if app.config.crons]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for app in self._apps:
            self._tasks.append(asyncio.create_task(self._run(app), name=f"scheduler {app.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, app: WorkerApp) -> None:
        from croniter import croniter  # here: servers without crons never load it

        now = datetime.now(UTC)
        iterators = {cron: croniter(cron, now) for cron in app.config.crons}
        upcoming = {cron: iterator.get_next(datetime) for cron, iterator in iterators.items()}
        while True:
            cron = min(upcoming, key=lambda c: upcoming[c])
            when = upcoming[cron]
            await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))
            await run_scheduled(app, cron, when)
            now = datetime.now(UTC)
            for name, iterator in iterators.items():
                while upcoming[name] <= now:
                    upcoming[name] = iterator.get_next(datetime)
