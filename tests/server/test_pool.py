"""The isolate pool's hand-over rules, on real isolates: a freed isolate goes to whoever asks
first, and a request already promised one is served even when the pool retires meanwhile."""

import asyncio
from pathlib import Path

from pyruntime.engine import AppIsolate, Limits, load_script
from pyruntime.server.observer import Observer
from pyruntime.server.pool import _HEAP_EVERY, IsolatePool


async def freed_to_a_waiter(tmp_path: Path) -> tuple[IsolatePool, AppIsolate, asyncio.Future[AppIsolate]]:
    """A started pool of one isolate whose request just released it to a queued waiter: the
    waiter is woken but has not run yet."""
    (tmp_path / "worker.js").write_text('export default { fetch() { return new Response("ok"); } };\n')
    pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={}, limits=Limits(), size=1,
                       observer=Observer())
    await pool.start()
    held = await pool.acquire()
    waiter = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)  # queued behind the held isolate
    pool.release(held)  # wakes the waiter
    return pool, held, waiter


def test_a_waiter_woken_for_an_isolate_is_served_when_the_pool_retires_before_it_runs(tmp_path: Path):
    async def main() -> None:
        pool, held, waiting = await freed_to_a_waiter(tmp_path)
        pool.retire("reload")  # before the woken waiter runs, a reload retires the pool
        served = await waiting
        assert served is held and served.alive
        result = await served.fetch("GET", "http://app.test/", [], None)
        assert result.body == b"ok"
        served.end_request()
        pool.release(served)  # nobody waits any more: the retired pool disposes it
        assert not served.alive

    asyncio.run(main())


def test_a_newcomer_takes_a_freed_isolate_and_the_woken_waiter_waits_first_in_line(tmp_path: Path):
    async def main() -> None:
        pool, held, first = await freed_to_a_waiter(tmp_path)
        assert pool.try_acquire() is held  # a request arriving now takes it at once
        second = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)  # `first` found nothing and queued again, ahead of `second`
        assert not first.done() and not second.done()
        pool.release(held)
        assert await first is held
        assert not second.done()
        pool.release(held)
        assert await second is held
        pool.retire("shutdown")
        pool.release(held)
        assert not held.alive

    asyncio.run(main())


class HeapRecorder(Observer):
    def __init__(self) -> None:
        self.reported = 0

    def heap_changed(self, app: str, delta: int) -> None:
        self.reported += delta


def test_the_heap_gauge_follows_every_isolate_of_a_pool_used_in_turn(tmp_path: Path):
    """The heap is read after some releases only; each isolate still gets read, even when the
    isolates of a pool take strict turns."""
    (tmp_path / "worker.js").write_text(
        "const kept = [];\n"
        'export default { fetch() { kept.push(new Array(20000).fill(kept.length)); return new Response("ok"); } };\n')
    recorder = HeapRecorder()
    pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={}, limits=Limits(), size=2,
                       observer=recorder)

    async def main() -> None:
        await pool.start()
        first, second = await pool.acquire(), await pool.acquire()
        for _ in range(4 * _HEAP_EVERY):
            for isolate in (first, second):
                await isolate.fetch("GET", "http://app.test/", [], None)
                isolate.end_request()
            pool.release(first)
            pool.release(second)
            assert await pool.acquire() is second and await pool.acquire() is first
            first, second = second, first
        used = sum(isolate.heap_statistics()["used_heap_size"] for isolate in (first, second))
        assert recorder.reported >= 0.8 * used, (recorder.reported, used)
        pool.release(first)
        pool.release(second)
        pool.retire("shutdown")

    asyncio.run(main())
