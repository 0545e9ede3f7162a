"""Short slices run on the event loop's thread (no thread hop), and the gate keeps a CPU-heavy
app from holding the loop: after a heavy slice, the app's next slices run in worker threads.

Where a slice ran is observed by a ticker task: a slice on the loop's thread lets it run
not at all during the request, a slice in a worker thread lets it run meanwhile. That
count does not depend on how fast or busy the machine is.
"""

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pyruntime.engine import AppIsolate, Limits, load_script
from pyruntime.engine.errors import Terminated, TimeLimitExceeded
from pyruntime.engine.inline_gate import MAX_INLINE_STALL_MS, InlineGate

APP = """
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const ms = Number(url.searchParams.get("burn") ?? 0);
    const end = Date.now() + ms;
    while (Date.now() < end) {}
    if (url.searchParams.has("wait")) {
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get("wait")) || 5));
    }
    return new Response(`burned ${ms}`);
  },
};
"""


async def ticks_during(isolate: AppIsolate, query: str) -> tuple[int, bytes]:
    """How often another task ran while the request ran, and the response body."""
    ticks = 0
    stop = False

    async def ticker() -> None:
        nonlocal ticks
        while not stop:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)  # the ticker is running
    before = ticks
    result = await isolate.fetch("GET", f"http://localhost/?{query}", [], None)
    during = ticks - before
    isolate.end_request()
    stop = True
    await task
    return during, result.body


def make_app(tmp_path: Path, gate: InlineGate | None) -> AppIsolate:
    (tmp_path / "worker.js").write_text(APP)
    return AppIsolate(load_script(tmp_path / "worker.js"), limits=Limits(cpu_limit_ms=2000, timeout_ms=5000),
                      inline=gate)


def test_short_slices_run_on_the_loop_and_a_heavy_one_sends_the_next_to_threads(tmp_path: Path):
    async def main() -> None:
        gate = InlineGate(max_slice_ms=5, loop_share=0.001)  # a heavy slice: threads for a long while
        isolate = make_app(tmp_path, gate)
        await isolate.load()
        assert await ticks_during(isolate, "burn=0") == (0, b"burned 0")  # inline: nothing else ran
        assert (await ticks_during(isolate, "burn=60"))[0] == 0  # heavy, but the gate did not know yet
        for query in ("burn=60", "burn=0", "burn=0"):  # cooling down: in worker threads, cheap or not
            ticks, body = await ticks_during(isolate, query)
            assert body == f"burned {query[5:]}".encode() and ticks > 0
        isolate.close()

    asyncio.run(main())


def test_the_total_time_limit_counts_the_first_slice_run_on_the_loop(tmp_path: Path):
    """A call that spends 700 ms in its first slice (inline) and then waits 600 ms on a timer
    goes past a 1,000 ms total limit: the limit counts from the call's start, not from the end
    of that slice (which makes no driver until the call turns out to wait). Each of the app's
    loading calls has the same 1 s, ample on a busy machine."""
    async def main() -> None:
        (tmp_path / "worker.js").write_text(APP)
        isolate = AppIsolate(load_script(tmp_path / "worker.js"),
                             limits=Limits(cpu_limit_ms=5000, timeout_ms=5000, total_timeout_ms=1000),
                             inline=InlineGate(max_slice_ms=2000))
        await isolate.load()
        with pytest.raises(TimeLimitExceeded) as info:
            await ticks_during(isolate, "burn=700&wait=600")
        assert info.value.limit == "total"
        isolate.end_request()
        assert await ticks_during(isolate, "burn=0") == (0, b"burned 0")
        isolate.close()

    asyncio.run(main())


def test_the_cooldown_makes_heavy_slices_a_bounded_share_of_the_loop():
    now = [100.0]
    gate = InlineGate(max_slice_ms=1, loop_share=0.05, burst_ms=5, clock=lambda: now[0])
    gate.record(0.9)
    assert gate.allows()  # under the threshold: no cooldown
    gate.record(50)  # 50 ms heavy: 950 ms of threads makes it 5% of the time
    now[0] += 0.949
    assert not gate.allows()
    now[0] += 0.002
    assert gate.allows()
    gate.record(2)  # a garbage collection's worth, once the 50 ms are repaid: within the burst
    assert gate.allows()
    now[0] += 0.019  # 1 ms of it repaid
    gate.record(1.5)
    gate.record(2)  # 4.5 ms in all: still within
    assert gate.allows()
    gate.record(1.5)  # 6 ms: past the burst, threads until all of it is repaid (114 ms)
    now[0] += 0.113
    assert not gate.allows()
    now[0] += 0.002
    assert gate.allows()


def test_occasional_heavy_slices_stay_inline_and_a_steady_run_of_them_does_not():
    now = [100.0]
    gate = InlineGate(max_slice_ms=1, loop_share=0.05, burst_ms=5, clock=lambda: now[0])
    for _ in range(100):  # a 2 ms collection every 50 ms: 4% of the loop
        gate.record(2)
        assert gate.allows()
        now[0] += 0.05
    inline = 0
    for _ in range(100):  # a 2 ms slice every 10 ms: 20%, past the share
        if gate.allows():
            inline += 1
            gate.record(2)
        now[0] += 0.01
    assert inline <= 25 + 3  # about 5% of the time inline, after the burst


def test_a_request_that_waits_finishes_its_later_slices_like_the_first(tmp_path: Path):
    async def main() -> None:
        isolate = make_app(tmp_path, InlineGate(max_slice_ms=200))  # the first run's compiling is no cooldown
        await isolate.load()
        ticks, body = await ticks_during(isolate, "wait")
        assert body == b"burned 0" and ticks > 0  # the timer was awaited on the loop, not in JS
        assert await ticks_during(isolate, "burn=0") == (0, b"burned 0")
        isolate.close()

    asyncio.run(main())


def test_without_a_gate_every_slice_runs_in_a_worker_thread(tmp_path: Path):
    async def main() -> None:
        isolate = make_app(tmp_path, None)
        await isolate.load()
        ticks, body = await ticks_during(isolate, "burn=0")
        assert body == b"burned 0" and ticks > 0
        isolate.close()

    asyncio.run(main())


def test_a_shared_gate_cools_every_isolate_of_the_app(tmp_path: Path):
    async def main() -> None:
        gate = InlineGate(max_slice_ms=5, loop_share=0.001)
        first, second = make_app(tmp_path, gate), make_app(tmp_path, gate)
        await first.load()
        await second.load()
        await ticks_during(first, "burn=60")
        ticks, _ = await ticks_during(second, "burn=60")
        assert ticks > 0  # the other isolate's heavy slice cooled this one too
        first.close()
        second.close()

    asyncio.run(main())


def test_a_slice_stopped_by_the_cpu_limit_inline_leaves_the_isolate_and_loop_serving(tmp_path: Path):
    async def main() -> None:
        (tmp_path / "worker.js").write_text(APP)
        gate = InlineGate(max_slice_ms=5, loop_share=0.001)
        isolate = AppIsolate(load_script(tmp_path / "worker.js"), limits=Limits(cpu_limit_ms=50, timeout_ms=5000),
                             inline=gate)
        await isolate.load()
        with pytest.raises(TimeLimitExceeded) as stopped:
            await isolate.fetch("GET", "http://localhost/?burn=2000", [], None)  # inline: the gate did not know
        assert stopped.value.limit == "cpu"
        isolate.end_request()
        ticks, body = await ticks_during(isolate, "burn=0")  # the same isolate answers, now in a thread
        assert body == b"burned 0" and ticks > 0
        isolate.close()

    asyncio.run(main())


def test_terminate_from_a_thread_as_an_inline_call_starts_in_a_new_event_loop(tmp_path: Path):
    """An isolate whose last call waited in an event loop that has since closed: a terminate()
    from another thread as its next call starts, in a new loop, stops that call and has no
    closed loop to wake. The gate's clock, read as the call starts, runs the terminate()."""
    now = [100.0]
    at_start: list[Callable[[], None]] = []

    def clock() -> float:
        while at_start:
            at_start.pop()()
        return now[0]

    gate = InlineGate(max_slice_ms=1, loop_share=0.5, clock=clock)
    (tmp_path / "worker.js").write_text(APP)
    isolate = AppIsolate(load_script(tmp_path / "worker.js"), limits=Limits(cpu_limit_ms=2000, timeout_ms=5000),
                         inline=gate)

    async def first() -> None:
        await isolate.load()
        assert (await ticks_during(isolate, "wait=1"))[1] == b"burned 0"  # waited on a timer, in this loop
        isolate.end_request()

    async def second() -> None:
        failures: list[BaseException] = []

        def terminate_from_a_thread() -> None:
            def stop() -> None:
                try:
                    isolate.terminate()
                except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                    failures.append(exc)

            thread = threading.Thread(target=stop)
            thread.start()
            thread.join()

        gate.record(10)  # a heavy slice: from now on the gate reads its clock
        now[0] += 60
        at_start.append(terminate_from_a_thread)
        with pytest.raises(Terminated):
            await ticks_during(isolate, "burn=0")
        assert failures == []
        isolate.end_request()
        now[0] += 60  # past any cooldown the stopped call's slice may have earned on a busy machine
        assert await ticks_during(isolate, "burn=0") == (0, b"burned 0")
        isolate.close()

    asyncio.run(first())
    asyncio.run(second())


@pytest.mark.parametrize(("cpu_limit_ms", "timeout_ms", "inline"), [
    (50, 1000, True),  # the defaults: a slice ends within 50 ms of CPU
    (None, MAX_INLINE_STALL_MS, True),
    (5000, 2000, False),
    (None, None, False),  # nothing but the request timeout would end a spinning slice
])
def test_only_apps_whose_limits_keep_a_slice_short_run_slices_on_the_loop(
        cpu_limit_ms: float | None, timeout_ms: float | None, inline: bool):
    gate = InlineGate.for_limits(Limits(cpu_limit_ms=cpu_limit_ms, timeout_ms=timeout_ms))
    assert (gate is not None) == inline
