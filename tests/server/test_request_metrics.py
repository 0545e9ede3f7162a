"""The request metrics, counted once per pass of the event loop (observer.LogObserver._count):
the same numbers as counting each request alone, published before the loop does anything else."""

from __future__ import annotations

import asyncio
import io
import random
import threading

from prometheus_client import Histogram, generate_latest
from prometheus_client.registry import CollectorRegistry

from pyruntime.server.logs import JsonLogger
from pyruntime.server.metrics import Metrics, observe_all
from pyruntime.server.observer import LogObserver, RequestContext, SecretMask


def test_observe_all_gives_the_histogram_observe_gives():
    rng = random.Random(7)
    bounds = Histogram.DEFAULT_BUCKETS
    # Values on every bound exactly, between them, past the last finite one, and zero.
    values = [*bounds[:-1], 0.0, 1e9, *(rng.uniform(0, 12) for _ in range(500)),
              *(rng.choice(bounds[:-1]) for _ in range(100))]
    one_by_one, batched = CollectorRegistry(), CollectorRegistry()
    single = Histogram("d", "durations", ["app"], registry=one_by_one).labels("a")
    for value in values:
        single.observe(value)
    observe_all(Histogram("d", "durations", ["app"], registry=batched).labels("a"), values)
    assert samples(batched) == samples(one_by_one)
    assert f'd_count{{app="a"}} {float(len(values))}' in samples(batched)


def samples(registry: CollectorRegistry) -> list[str]:
    """The exposition's lines but the creation times."""
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def metric(registry: CollectorRegistry, line_start: str) -> float:
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {line_start} in the metrics")


def test_requests_of_one_pass_reach_the_metrics_when_the_loop_moves_on():
    metrics = Metrics()
    observer = LogObserver(JsonLogger(io.StringIO()), metrics)
    observer.app_registered("a")

    def ctx(index: int) -> RequestContext:
        return RequestContext("a", f"id{index}", "GET", "/", observer, SecretMask([]))

    async def main() -> tuple[float, float, float, float]:
        for index in range(30):
            observer.request(ctx(index), 200 if index % 3 else 503)
        before = metric(metrics.registry, 'pyruntime_requests_total{app="a",status="200"}') \
            if b"status=\"200\"" in generate_latest(metrics.registry) else 0.0
        await asyncio.sleep(0)  # the loop's next pass
        return (before, metric(metrics.registry, 'pyruntime_requests_total{app="a",status="200"}'),
                metric(metrics.registry, 'pyruntime_requests_total{app="a",status="503"}'),
                metric(metrics.registry, 'pyruntime_request_duration_seconds_count{app="a"}'))

    before, ok, busy, durations = asyncio.run(main())
    assert (before, ok, busy, durations) == (0.0, 20.0, 10.0, 30.0)
    observer.request(ctx(99), 200)  # no running loop: counted at once
    assert metric(metrics.registry, 'pyruntime_requests_total{app="a",status="200"}') == 21.0


def test_a_request_counted_from_another_thread_goes_in_at_once():
    """Counts held for the loop's pass belong to the loop's thread: a request counted from
    another thread meanwhile is put in the metrics at once, and the held ones at the pass's end."""
    metrics = Metrics()
    observer = LogObserver(JsonLogger(io.StringIO()), metrics)
    ctx = RequestContext("a", "id", "GET", "/", observer, SecretMask([]))

    async def main() -> tuple[float, float]:
        observer.request(ctx, 200)  # held for this pass
        other = threading.Thread(target=observer.request, args=(ctx, 201))
        other.start()
        other.join()
        from_thread = metric(metrics.registry, 'pyruntime_requests_total{app="a",status="201"}')
        await asyncio.sleep(0)
        return from_thread, metric(metrics.registry, 'pyruntime_requests_total{app="a",status="200"}')

    assert asyncio.run(main()) == (1.0, 1.0)


def requests_counted(metrics: Metrics) -> float:
    text = generate_latest(metrics.registry).decode()
    return metric(metrics.registry, 'pyruntime_requests_total{app="a",status="200"}') if 'status="200"' in text else 0.0


def test_with_publish_every_s_the_passes_end_without_publishing():
    """The server's observer (`publish_every_s`) does not publish at each pass's end: three
    passes' requests wait, and go in together when asked (as before a /metrics answer)."""
    metrics = Metrics()
    observer = LogObserver(JsonLogger(io.StringIO()), metrics, publish_every_s=3600)
    ctx = RequestContext("a", "id", "GET", "/", observer, SecretMask([]))

    async def main() -> float:
        for _ in range(3):  # three passes, one request each
            observer.request(ctx, 200)
            await asyncio.sleep(0)
        return requests_counted(metrics)

    assert asyncio.run(main()) == 0.0
    observer.publish_counts()
    assert requests_counted(metrics) == 3.0


def test_with_publish_every_s_the_requests_go_in_that_much_later():
    """The timer's callback comes before a later, longer sleep ends, however busy the machine
    is: the loop runs its timers in the order they are due."""
    metrics = Metrics()
    observer = LogObserver(JsonLogger(io.StringIO()), metrics, publish_every_s=0.05)
    ctx = RequestContext("a", "id", "GET", "/", observer, SecretMask([]))

    async def main() -> float:
        observer.request(ctx, 200)
        observer.request(ctx, 200)
        await asyncio.sleep(0.2)
        return requests_counted(metrics)

    assert asyncio.run(main()) == 2.0
