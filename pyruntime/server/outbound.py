"""An app's outbound fetch in the server: its egress policy and limits from the config; every
exchange is reported to the server's observer (the `subrequest` log line and metrics)."""

from __future__ import annotations

from ..engine.egress import EgressPolicy
from ..engine.host_ops import AsyncHostOps, FetchLimits
from .config import AppConfig
from .observer import Observer


def app_host_ops(config: AppConfig, observer: Observer) -> AsyncHostOps:
    """The outbound fetch of one app; reports once if it still uses `outbound_hosts`."""
    if config.outbound_hosts is not None:
        observer.deprecated(config.name, "outbound_hosts is deprecated: write [apps.egress] allow = [...] "
                                         "(same meaning)")
    egress = config.egress or EgressPolicy.parse(allow=config.outbound_hosts)
    limits = config.limits
    fetch_limits = FetchLimits(max_subrequests=limits.max_subrequests,
                               max_concurrent_subrequests=limits.max_concurrent_subrequests,
                               subrequest_timeout_s=limits.subrequest_timeout_s)
    return AsyncHostOps(egress, fetch_limits, app=config.name, observer=observer.subrequest)
