"""Prometheus metrics of the server.

With `--workers N` each process writes its numbers to PROMETHEUS_MULTIPROC_DIR (set by the
supervisor before the workers start) and `/metrics` sums them over the processes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LIMITS = ("timeout", "cpu", "memory")

REQUESTS = Counter("pyruntime_requests", "HTTP requests answered, by app and status code.",
                   ["app", "status"])
DURATION = Histogram("pyruntime_request_duration_seconds", "Time to answer a request, by app.", ["app"])
ISOLATES = Gauge("pyruntime_isolates", "Live isolates, by app.", ["app"], multiprocess_mode="livesum")
HEAP_USED = Gauge("pyruntime_isolate_heap_used_bytes", "V8 heap in use by the app's isolates.", ["app"],
                  multiprocess_mode="livesum")
LIMIT_EXCEEDED = Counter("pyruntime_limit_exceeded", "Requests stopped by a limit (timeout, cpu, memory).",
                         ["app", "limit"])
ENGINE_EXITS = Counter("pyruntime_engine_exits", "Engine processes of an app that exited unasked (see isolation.py).",
                       ["app"])


def register_app(app: str) -> None:
    """Creates an app's series at zero, so dashboards see them before the first event."""
    for limit in LIMITS:
        LIMIT_EXCEEDED.labels(app, limit)
    ISOLATES.labels(app)
    HEAP_USED.labels(app)
    DURATION.labels(app)
    ENGINE_EXITS.labels(app)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type; summed over processes in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
