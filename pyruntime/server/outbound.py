"""An app's outbound fetch in the server: its egress policy and limits from the config, and the
`subrequest` log line and metrics of every exchange (the one place that observes them)."""

from __future__ import annotations

from ..engine.egress import EgressPolicy
from ..engine.host_ops import AsyncHostOps, FetchLimits, Subrequest
from . import metrics
from .config import AppConfig
from .logs import JsonLogger


def app_host_ops(config: AppConfig, logger: JsonLogger) -> AsyncHostOps:
    """The outbound fetch of one app; logs once if it still uses `outbound_hosts`."""
    if config.outbound_hosts is not None:
        logger.emit("warn", "deprecated", app=config.name,
                    message="outbound_hosts is deprecated: write [apps.egress] allow = [...] (same meaning)")
    egress = config.egress or EgressPolicy.parse(allow=config.outbound_hosts)
    limits = config.limits
    fetch_limits = FetchLimits(max_subrequests=limits.max_subrequests,
                               max_concurrent_subrequests=limits.max_concurrent_subrequests,
                               subrequest_timeout_s=limits.subrequest_timeout_s)

    def observe(record: Subrequest) -> None:
        status = str(record.status) if record.status is not None else record.outcome
        metrics.SUBREQUESTS.labels(record.app, status).inc()
        metrics.SUBREQUEST_DURATION.labels(record.app).observe(record.duration_s)
        logger.emit("info", "subrequest", app=record.app, request_id=record.request_id, method=record.method,
                    host=record.host, status=record.status, outcome=record.outcome,
                    duration_ms=round(record.duration_s * 1000, 3), bytes=record.bytes)

    return AsyncHostOps(egress, fetch_limits, app=config.name, observer=observe)
