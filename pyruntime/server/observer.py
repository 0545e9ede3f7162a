"""Observers: where request and isolate events go. The server reports to one object, not globals.

`Observer` is the interface (every method a no-op, so a host overrides what it cares
about); `LogObserver` writes the JSON log lines and Prometheus metrics the server documents.
`RequestContext` carries one request's id, timing, CPU and console sink through the app.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _core
from ..engine.host_ops import Subrequest
from .logs import CONSOLE_LEVELS, JsonLogger, head, running_loop, timestamp
from .metrics import Metrics, observe_all, process_metrics
from .pid import process_id

# Metric updates kept before the metrics are made (LogObserver with defer_metrics); past
# this many the metrics are made at once.
MAX_EARLY_UPDATES = 10_000
# Console output one request may write to the log; past it one line says what was dropped.
MAX_CONSOLE_BYTES = 256 * 1024


class Observer:
    """Receives the server's events. Subclass and override; the defaults do nothing."""

    def app_registered(self, app: str) -> None: ...
    def app_loaded(self, app: str, *, script: str, kind: str, isolates: int, reload: bool) -> None: ...
    def app_error(self, app: str, message: str, stack: str | None = None, *, event: str = "error") -> None: ...
    def isolate_created(self, app: str, isolate: int) -> None: ...
    def isolate_disposed(self, app: str, isolate: int, reason: str) -> None: ...
    def heap_changed(self, app: str, delta_bytes: int) -> None: ...
    def background_cpu(self, app: str, cpu_ms: float) -> None: ...
    def queue_full(self, app: str, message: str) -> None: ...
    def request(self, ctx: RequestContext, status: int) -> None: ...
    def unrouted(self, request_id: str, method: str, path: str, status: int, duration_s: float) -> None: ...
    def limit_exceeded(self, ctx: RequestContext, limit: str, message: str, phase: str | None) -> None: ...
    def js_error(self, ctx: RequestContext, name: str, message: str, stack: str | None,
                 phase: str | None) -> None: ...
    def internal_error(self, ctx: RequestContext, message: str, stack: str) -> None: ...
    def console(self, app: str, request_id: str | None, method: str, text: str) -> None: ...
    def scheduled(self, ctx: RequestContext, cron: str, outcome: str, scheduled_time: str) -> None: ...
    def subrequest(self, record: Subrequest) -> None: ...
    def deprecated(self, app: str, message: str) -> None: ...
    def serving(self) -> None:
        """The server answered its first request (or was asked for its metrics): what a cold
        start should not wait for may be made now."""

    def publish_counts(self) -> None:
        """The metrics are about to be read: what the observer holds back goes in them now."""


class LogObserver(Observer):
    """JSON log lines (logs.py) and Prometheus metrics (metrics.py), as the README documents them.

    With `defer_metrics` (the server's), the metrics are made when the server starts serving
    (`serving`) or when first asked for: updates before then (the apps' loads, the first
    request) wait in order and are applied then. A host that embeds `WorkerApp` and never
    says it serves gets its metrics at once.

    Requests are counted in the metrics at the end of the event loop's pass, or with
    `publish_every_s` (the server's) once in that many seconds: see `_count`.
    """

    def __init__(self, logger: JsonLogger | None = None, metrics: Metrics | None = None, *,
                 defer_metrics: bool = False, publish_every_s: float | None = None) -> None:
        self.logger = logger or JsonLogger()
        self._publish_every_s = publish_every_s
        self._metrics = metrics if metrics is not None or defer_metrics else process_metrics()
        self._early: list[Callable[[Metrics], None]] = []
        self._request_series: dict[tuple[str, int], tuple[Any, Any]] = {}
        # Requests answered in this pass of the event loop, not yet in the metrics: their
        # durations by (app, status); and the thread of that loop.
        self._counted: dict[tuple[str, int], list[float]] = {}
        self._counting_thread = 0

    @property
    def metrics(self) -> Metrics:
        return self._metrics or self._start_metrics()

    def serving(self) -> None:
        if self._metrics is None:
            self._start_metrics()

    def _start_metrics(self) -> Metrics:
        self._metrics = metrics = process_metrics()
        for change in self._early:
            change(metrics)
        self._early.clear()
        return metrics

    def _update(self, change: Callable[[Metrics], None]) -> None:
        if self._metrics is not None:
            change(self._metrics)
        elif len(self._early) < MAX_EARLY_UPDATES:
            self._early.append(change)
        else:  # nobody said the server serves: the updates are not kept past a bound
            change(self._start_metrics())

    def app_registered(self, app: str) -> None:
        self._update(lambda metrics: metrics.register_app(app))

    def app_loaded(self, app: str, *, script: str, kind: str, isolates: int, reload: bool) -> None:
        self.logger.emit("info", "app_loaded", app=app, script=script, kind=kind, isolates=isolates,
                         reload=reload or None)

    def app_error(self, app: str, message: str, stack: str | None = None, *, event: str = "error") -> None:
        self.logger.emit("error", event, app=app, message=message, stack=stack)

    def isolate_created(self, app: str, isolate: int) -> None:
        self._update(lambda metrics: metrics.isolates.labels(app).inc())
        self.logger.emit("info", "isolate_created", app=app, isolate=isolate)

    def isolate_disposed(self, app: str, isolate: int, reason: str) -> None:
        self._update(lambda metrics: metrics.isolates.labels(app).dec())
        self.logger.emit("info", "isolate_disposed", app=app, isolate=isolate, reason=reason)

    def heap_changed(self, app: str, delta_bytes: int) -> None:
        self._update(lambda metrics: metrics.heap_used.labels(app).inc(delta_bytes))

    def background_cpu(self, app: str, cpu_ms: float) -> None:
        self._update(lambda metrics: metrics.background_cpu.labels(app).inc(cpu_ms / 1000))

    def queue_full(self, app: str, message: str) -> None:
        self.logger.emit("warn", "queue_full", app=app, message=message)

    def request(self, ctx: RequestContext, status: int) -> None:
        duration = ctx.elapsed_s()
        self._count(ctx.app, status, duration)
        self._request_line(ctx.app, ctx.request_id, ctx.method, ctx.path, status, duration, ctx.cpu_ms)

    def _count(self, app: str, status: int, duration: float) -> None:
        """Counts a request in the metrics once per pass of the event loop (`publish_counts`),
        with the others of that pass: in multiprocess mode each update is a locked write to a
        mapped file, and a busy server ends many requests per pass (on h1 the per-request
        updates were some 8 µs of a 115 µs hello request). With `publish_every_s`, once in
        that many seconds: a server answering one client at a time ends one request per pass,
        and publishing each cost a tenth of an h1 hello request's CPU there (at full load a
        pass holds several requests, and the difference was within the machine's noise).
        Without a running loop, or from another thread than the loop's that holds counts, at once."""
        counted = self._counted
        if not counted:
            loop = running_loop()
            if loop is None:
                self._update(lambda metrics: self._count_requests(metrics, app, status, [duration]))
                return
            self._counting_thread = threading.get_ident()
            if self._publish_every_s is None:
                loop.call_soon(self.publish_counts)
            else:
                loop.call_later(self._publish_every_s, self.publish_counts)
        elif threading.get_ident() != self._counting_thread:
            self._update(lambda metrics: self._count_requests(metrics, app, status, [duration]))
            return
        durations = counted.get((app, status))
        if durations is None:
            counted[(app, status)] = [duration]
        else:
            durations.append(duration)

    def publish_counts(self) -> None:
        """Puts the requests counted since the last call in the metrics (at the end of the
        loop's pass or `publish_every_s` later, before /metrics is rendered, and when the
        server stops)."""
        counted, self._counted = self._counted, {}
        for (app, status), durations in counted.items():
            self._update(functools.partial(self._count_requests, app=app, status=status, durations=durations))

    def _count_requests(self, metrics: Metrics, app: str, status: int, durations: list[float]) -> None:
        # labels() costs more than the update itself: looked up once per app and status
        series = self._request_series.get((app, status))
        if series is None:
            series = self._request_series[(app, status)] = (metrics.requests.labels(app, str(status)),
                                                            metrics.duration.labels(app))
        series[0].inc(len(durations))
        observe_all(series[1], durations)

    def unrouted(self, request_id: str, method: str, path: str, status: int, duration_s: float) -> None:
        self._request_line(None, request_id, method, path, status, duration_s, None)

    def _request_line(self, app: str | None, request_id: str, method: str, path: str, status: int,
                      duration_s: float, cpu_ms: float | None) -> None:
        # Every request line has the same fields; `app` and `cpu_ms` are null when no app ran.
        # Written by the core (ext/request_line.h) in one call; what it does not write (a lone
        # surrogate) as this dict, in head()'s order, times in whole µs as ms: the same bytes.
        line = _core.request_line(timestamp(), process_id(), app, request_id, method, path, status, duration_s,
                                  cpu_ms)
        if line is not None:
            self.logger.write_line_soon(line)
            return
        self.logger.write_record_soon({
            "timestamp": timestamp(), "level": "info", "event": "request", "pid": process_id(), "app": app,
            "request_id": request_id, "method": method, "path": path, "status": status,
            "duration_ms": int(duration_s * 1_000_000) / 1000,
            "cpu_ms": None if cpu_ms is None else int(cpu_ms * 1000) / 1000})

    def limit_exceeded(self, ctx: RequestContext, limit: str, message: str, phase: str | None) -> None:
        self._update(lambda metrics: metrics.limit_exceeded.labels(ctx.app, limit).inc())
        self.logger.emit("warn", "limit_exceeded", app=ctx.app, request_id=ctx.request_id, limit=limit,
                         message=message, phase=phase)

    def js_error(self, ctx: RequestContext, name: str, message: str, stack: str | None,
                 phase: str | None) -> None:
        self.logger.emit("error", "error", app=ctx.app, request_id=ctx.request_id, phase=phase, name=name,
                         message=message, stack=stack)

    def internal_error(self, ctx: RequestContext, message: str, stack: str) -> None:
        self.logger.emit("error", "error", app=ctx.app, request_id=ctx.request_id, message=message, stack=stack)

    def scheduled(self, ctx: RequestContext, cron: str, outcome: str, scheduled_time: str) -> None:
        self._update(lambda metrics: metrics.scheduled.labels(ctx.app, outcome).inc())
        self.logger.emit("info", "scheduled", app=ctx.app, request_id=ctx.request_id, cron=cron, outcome=outcome,
                         scheduled_time=scheduled_time, duration_ms=round(ctx.elapsed_s() * 1000, 3),
                         cpu_ms=None if ctx.cpu_ms is None else round(ctx.cpu_ms, 3))

    def console(self, app: str, request_id: str | None, method: str, text: str) -> None:
        # With the request lines, one write per pass of the event loop: a write of its own for
        # each line cost a handler that logs once per request a fifth of its CPU.
        record = head(CONSOLE_LEVELS.get(method, "info"), "console")
        record["app"] = app
        if request_id is not None:
            record["request_id"] = request_id
        record["message"] = text
        self.logger.write_record_soon(record)

    def subrequest(self, record: Subrequest) -> None:
        # Never the URL's query string nor the headers: they carry credentials.
        status = str(record.status) if record.status is not None else record.outcome
        self._update(lambda metrics: (metrics.subrequests.labels(record.app, status).inc(),
                                      metrics.subrequest_duration.labels(record.app).observe(record.duration_s)))
        self.logger.emit("info", "subrequest", app=record.app, request_id=record.request_id, method=record.method,
                         host=record.host, status=record.status, outcome=record.outcome,
                         duration_ms=round(record.duration_s * 1000, 3), bytes=record.bytes)

    def deprecated(self, app: str, message: str) -> None:
        self.logger.emit("warn", "deprecated", app=app, message=message)


class SecretMask:
    """Replaces an app's secret values with `***` in anything bound for the log."""

    def __init__(self, secrets: list[str]) -> None:
        # Longest first, so that a secret containing another is masked whole.
        self._values = sorted({value for value in secrets if value}, key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if text is None or not self._values:
            return text
        for value in self._values:
            text = text.replace(value, "***")
        return text


@dataclass(slots=True)
class RequestContext:
    """One request as the app sees it: ids, timing, CPU spent, and its capped, masked console."""

    app: str
    request_id: str
    method: str
    path: str
    observer: Observer
    mask: SecretMask
    started: float = field(default_factory=time.perf_counter)
    cpu_ms: float | None = None
    console_bytes: int = 0
    console_dropped: int = 0

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def add_cpu(self, cpu_ms: float) -> None:
        self.cpu_ms = (self.cpu_ms or 0.0) + cpu_ms

    def console(self, method: str, text: str) -> None:
        """The console sink of this request's JS: masked, and capped at MAX_CONSOLE_BYTES."""
        if self.console_bytes >= MAX_CONSOLE_BYTES:
            self.console_dropped += 1
            return
        self.console_bytes += len(text)
        if self.console_bytes > MAX_CONSOLE_BYTES:
            text = text[: max(0, len(text) - (self.console_bytes - MAX_CONSOLE_BYTES))]
            self.observer.console(self.app, self.request_id, method, self.mask(text) or "")
            self.observer.console(self.app, self.request_id, "warn",
                                  f"console output of this request passed {MAX_CONSOLE_BYTES} bytes: "
                                  "the rest is dropped")
            return
        self.observer.console(self.app, self.request_id, method, self.mask(text) or "")
