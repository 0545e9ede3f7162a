"""The worker protocol: the bootstrap functions the host calls on `internal`, and what they return.

These names and shapes are the contract with ext/js/90_worker.js (and 45_host_functions.js);
nothing else in Python calls the bootstrap by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# internal.* functions the host calls.
# (method, url, headers [name0, value0, ...], body) -> [status, statusText, headers (flat), body,
#  streamId, waitUntil]: FetchResult.from_js
DISPATCH_FETCH = "dispatchFetch"
READ_RESPONSE_CHUNK = "readResponseChunk"   # (stream_id) -> bytes; at the end, pending waitUntil count
CANCEL_RESPONSE_STREAM = "cancelResponseStream"  # (stream_id) -> None
PENDING_WAIT_UNTIL = "pendingWaitUntil"     # () -> settles when ctx.waitUntil work has
EXPOSE_HOST_FUNCTIONS = "exposeHostFunctions"  # (names) -> None
DISPATCH_SCHEDULED = "dispatchScheduled"    # (cron, scheduled_time_ms) -> ScheduledResult
SET_WORKER_ENV = "setWorkerEnv"             # (env) -> None: the env handlers get, set once at load
DEFINE_ENV_GLOBALS = "defineEnvGlobals"     # (env) -> None: a service worker's env as globals
RELAY_UPSTREAM_BODIES = "relayUpstreamBodies"  # (enabled) -> None: unread fetch() bodies go back to the host


@dataclass(slots=True)
class FetchResult:
    """What the app's fetch handler answered, with the JS time it took.

    A body the app streams (a ReadableStream whose bytes were not known up front) has a
    non-zero `stream_id`: read it with `AppIsolate.read_chunk` until None. A negative one is
    the body of the app's own fetch() that no JS read, which the host reads from the upstream
    without JS (`AppIsolate.take_upstream`; `read_chunk` reads it too). `wait_until` is
    how many `ctx.waitUntil` promises had not settled when the handler's slice ended (0: no
    waitUntil call is needed).
    """

    status: int
    status_text: str
    headers: list[tuple[str, str]]
    body: bytes
    stream_id: int
    wait_until: int
    wall_ms: float = 0.0
    cpu_ms: float = 0.0

    @classmethod
    def from_js(cls, value: list[Any], wall_ms: float, cpu_ms: float) -> FetchResult:
        status, status_text, flat, body, stream_id, wait_until = value
        if len(flat) % 2:
            raise ValueError(f"the fetch result's headers are not name-value pairs: {flat!r}")
        pairs = iter(flat)  # zipped with itself: name, value (zip's strict check costs more than the count's)
        headers = list(zip(pairs, pairs, strict=False))
        return cls(status, status_text, headers, body or b"", stream_id, wait_until, wall_ms, cpu_ms)


@dataclass
class ScheduledResult:
    """What a `scheduled` handler's run left: whether it called `controller.noRetry()`, how
    many `waitUntil` promises it registered, and the JS time it took."""

    no_retry: bool
    wait_until: int
    wall_ms: float = 0.0
    cpu_ms: float = 0.0

    @classmethod
    def from_js(cls, value: dict[str, Any], wall_ms: float, cpu_ms: float) -> ScheduledResult:
        return cls(no_retry=bool(value["noRetry"]), wait_until=value["waitUntil"], wall_ms=wall_ms, cpu_ms=cpu_ms)
