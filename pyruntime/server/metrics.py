"""Prometheus metrics of the server, created on first use (importing this module registers nothing).

With `--workers N` each process writes its numbers to PROMETHEUS_MULTIPROC_DIR (set by the
supervisor before the workers start) and `/metrics` in any of them reports the sum.

prometheus_client is imported when the metrics are made, not with this module: its import
(HTTP server, WSGI and URL modules for its exposition helpers) is a tenth of a worker's cold
start, which the server makes after its first answer (observer.LogObserver.serving).
"""

from __future__ import annotations

import functools
import os
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from .pid import process_id

LIMITS = ("timeout", "cpu", "memory")
# How a scheduled (cron) run ended, in Workers' words.
SCHEDULED_OUTCOMES = ("ok", "exception", "exceededCpu", "exceededTime", "exceededMemory")


# Set by the server's own processes (use_kept_pid).
_kept_pid = False


def use_kept_pid() -> None:
    """For the server's worker processes, where the server makes the only metrics: their
    multiprocess values take the process id kept by pid.py. prometheus_client's default asks
    for it (a system call) on every update, four per request, to notice a fork; pid.py renews
    it at fork. Not for a host embedding the apps: metrics it made with the default would
    share files with ours. Takes effect when the metrics are made (after the first answer)."""
    global _kept_pid
    _kept_pid = True


@functools.cache
def _kept_pid_values() -> None:
    """Once per process (and its forks): a second value class would open the same files anew."""
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue(process_identifier=process_id)


class Metrics:
    """The server's collectors, in a registry of their own (one instance per process)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        if _kept_pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            _kept_pid_values()

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pyruntime_requests", "HTTP requests answered, by app and status code.",
                                ["app", "status"], registry=r)
        self.duration = Histogram("pyruntime_request_duration_seconds", "Time to answer a request, by app.",
                                  ["app"], registry=r)
        self.isolates = Gauge("pyruntime_isolates", "Live isolates, by app.", ["app"],
                              multiprocess_mode="livesum", registry=r)
        self.heap_used = Gauge("pyruntime_isolate_heap_used_bytes", "V8 heap in use by the app's isolates.",
                               ["app"], multiprocess_mode="livesum", registry=r)
        self.limit_exceeded = Counter("pyruntime_limit_exceeded",
                                      "Requests stopped by a limit (timeout, cpu, memory).", ["app", "limit"],
                                      registry=r)
        self.engine_exits = Counter("pyruntime_engine_exits",
                                    "Engine processes of an app that exited unasked (see isolation.py).", ["app"],
                                    registry=r)
        self.scheduled = Counter("pyruntime_scheduled", "Runs of scheduled (cron) handlers, by app and outcome.",
                                 ["app", "outcome"], registry=r)
        self.subrequests = Counter("pyruntime_subrequests", "Outbound fetch exchanges, by app and HTTP status "
                                   "(or error, aborted).", ["app", "status"], registry=r)
        self.background_cpu = Counter("pyruntime_background_cpu_seconds",
                                      "CPU V8's worker threads spent for the app's isolates (compiling hot code, "
                                      "WebAssembly tier-up, garbage collection), by app.", ["app"], registry=r)
        self.subrequest_duration = Histogram("pyruntime_subrequest_duration_seconds",
                                             "Outbound fetch exchanges, from request to the end of the body, by app.",
                                             ["app"], registry=r)

    def register_app(self, app: str) -> None:
        """Creates an app's series at zero, so dashboards see them before the first event."""
        for limit in LIMITS:
            self.limit_exceeded.labels(app, limit)
        self.isolates.labels(app)
        self.heap_used.labels(app)
        self.duration.labels(app)
        self.engine_exits.labels(app)
        for outcome in SCHEDULED_OUTCOMES:
            self.scheduled.labels(app, outcome)
        self.subrequest_duration.labels(app)
        self.background_cpu.labels(app)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type; summed over processes in multiprocess mode."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            registry = CollectorRegistry()
            registry.register(_WrittenFiles(folder))  # type: ignore[arg-type]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _WrittenFiles:
    """The metrics of every process's multiprocess files, as prometheus_client's own collector
    sums them, but without a file that a process is creating at this instant: the library
    makes it empty, then sizes it, and its collector fails on an empty file. A worker that
    makes its metrics while another answers /metrics (a new worker, half a second into
    serving) turned that /metrics into an error."""

    def __init__(self, folder: str) -> None:
        self._folder = folder

    def collect(self) -> Iterable[Any]:
        from prometheus_client.multiprocess import MultiProcessCollector

        files = []
        with os.scandir(self._folder) as entries:
            for entry in entries:
                try:
                    if entry.name.endswith(".db") and entry.stat().st_size:
                        files.append(entry.path)
                except FileNotFoundError:  # a dead process's live gauges, just removed (mark_process_dead)
                    continue
        return MultiProcessCollector.merge(files, accumulate=True)


def observe_all(histogram: Any, values: list[float]) -> None:
    """`histogram.observe` of each value, as one update per bucket the values fall in and one
    of the sum: in multiprocess mode each update is a locked write to a mapped file. Reads
    prometheus_client's Histogram fields (`_upper_bounds`, `_buckets`, `_sum`); a test
    compares the result with `observe`'s."""
    bounds = histogram._upper_bounds
    counts: dict[int, int] = {}
    for value in values:
        index = bisect_left(bounds, value)  # the first bound >= value, as `observe` picks it
        counts[index] = counts.get(index, 0) + 1
    buckets = histogram._buckets
    for index, count in counts.items():
        buckets[index].inc(count)
    histogram._sum.inc(sum(values))


def mark_process_dead(pid: int, metrics_dir: str | None = None) -> None:
    """Drops a process's live gauges from the multiprocess files (`metrics_dir`, else the
    process's PROMETHEUS_MULTIPROC_DIR; nothing outside multiprocess mode)."""
    metrics_dir = metrics_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, metrics_dir)


@functools.cache
def process_metrics() -> Metrics:
    """The process's one `Metrics` (multiprocess files are per process, so there is one writer)."""
    return Metrics()
