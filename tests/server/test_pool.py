"""The isolate pool's hand-over rules, on real isolates: a freed isolate goes to whoever asks
first, and a request already promised one is served even when the pool retires meanwhile."""

import asyncio
import http.server
import threading
from pathlib import Path

import httpx
import pytest
from conftest import until
from fetch_upstream import LoopbackHTTPServer

from pyruntime.engine import AppIsolate, JSError, Limits, load_script
from pyruntime.engine.egress import EgressPolicy
from pyruntime.engine.host_ops import AsyncHostOps
from pyruntime.server.observer import Observer
from pyruntime.server.pool import _HEAP_EVERY, MAX_ISOLATES_PER_CPU, Abandoned, IsolatePool, pool_bounds


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


async def serve_once(pool: IsolatePool, body: bytes) -> AppIsolate:
    """One request through the pool: the isolate it took and gave back, its answer `body`."""
    isolate = await pool.acquire()
    result = await isolate.fetch("GET", "http://app.test/", [], None)
    assert result.body == body
    isolate.end_request()
    pool.release(isolate)
    return isolate


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


def test_a_waiter_takes_its_isolate_when_its_own_task_runs_and_leaves_when_told(tmp_path: Path):
    """A woken waiter takes its isolate only when it runs: until then a request arriving has
    it (no isolate sits idle between a helper task and the request). `until` completing
    takes a waiter out of the queue, and the isolate goes to the next in line."""
    async def main() -> None:
        pool, held, first = await freed_to_a_waiter(tmp_path)
        assert pool.try_acquire() is held and not first.done()
        pool.release(held)
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        leaving = asyncio.ensure_future(pool.acquire(until=gone))
        assert await first is held
        await asyncio.sleep(0)  # `leaving` queued behind `first`'s isolate
        gone.set_result(None)
        with pytest.raises(Abandoned):
            await leaving
        third = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        pool.release(held)
        assert await third is held  # the one that left held no place
        pool.retire("shutdown")
        pool.release(held)

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


class IsolateRecorder(Observer):
    def __init__(self) -> None:
        self.created: list[int] = []
        self.disposed: list[tuple[int, str]] = []

    def isolate_created(self, app: str, isolate: int) -> None:
        self.created.append(isolate)

    def isolate_disposed(self, app: str, isolate: int, reason: str) -> None:
        self.disposed.append((isolate, reason))


def first_load_only_upstream() -> tuple[LoopbackHTTPServer, list[str]]:
    """A loopback server that answers its first request 200 and every later one 503, and the
    paths it was asked for: a script whose top level fetches from it loads once only."""
    answered: list[str] = []

    class FirstOnly(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if not answered else 503)
            answered.append(self.path)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    upstream = LoopbackHTTPServer(("127.0.0.1", 0), FirstOnly)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    return upstream, answered


def test_a_pool_whose_isolates_load_side_by_side_disposes_the_loaded_ones_when_one_fails(tmp_path: Path):
    """The isolates of a pool load at once; the script's top level fetches from a loopback
    server that answers the first fetch only, so one isolate loads and the others fail. The
    pool raises the failure and disposes the one that loaded; a pool started afterwards works."""
    upstream, answered = first_load_only_upstream()
    (tmp_path / "worker.js").write_text(
        f'const answer = await fetch("http://127.0.0.1:{upstream.server_address[1]}/load");\n'
        'if (!answer.ok) throw new Error("the upstream refused this load");\n'
        'export default { fetch() { return new Response("ok"); } };\n')
    (tmp_path / "good.js").write_text('export default { fetch() { return new Response("good"); } };\n')
    recorder = IsolateRecorder()
    host_ops = AsyncHostOps(EgressPolicy.parse(allow=["127.0.0.1"]))

    async def main() -> None:
        pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={}, limits=Limits(), size=3,
                           observer=recorder, host_ops=host_ops)
        with pytest.raises(JSError, match="the upstream refused this load"):
            await pool.start()
        assert len(answered) == 3 and len(recorder.created) == 1
        assert recorder.disposed == [(recorder.created[0], "startup_failed")]
        good = IsolatePool("good", load_script(tmp_path / "good.js"), env={}, limits=Limits(), size=2,
                           observer=Observer())
        await good.start()
        await serve_once(good, b"good")
        good.retire("shutdown")

    try:
        asyncio.run(main())
    finally:
        upstream.shutdown()


def test_a_pool_grows_for_requests_queued_behind_isolates_waiting_for_io(tmp_path: Path):
    """An isolate is held for a whole request, its waits for I/O included: requests queued
    behind isolates that wait get isolates made for them, up to max_size; isolates busy with
    JS do not make the pool grow; the extra ones go once idle long enough."""
    (tmp_path / "worker.js").write_text("""
        export default {
          async fetch(request) {
            if (request.url.endsWith("/wait")) await new Promise((resolve) => setTimeout(resolve, 300));
            return new Response("ok");
          },
        };""")
    lifecycle = IsolateRecorder()

    async def main() -> None:
        pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={}, limits=Limits(), size=1, max_size=3,
                           observer=lifecycle, idle_retire_s=0.2)
        await pool.start()
        first = await pool.acquire()
        # Busy, not waiting (no call in progress): a queued request does not make the pool grow.
        queued = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.5)
        assert len(lifecycle.created) == 1 and not queued.done()
        waits = [asyncio.ensure_future(first.fetch("GET", "http://app.test/wait", [], None))]
        await until(lambda: queued.done(), "grown for the request queued behind a waiting isolate", 60)
        second = queued.result()
        assert second is not first and len(lifecycle.created) == 2
        waits.append(asyncio.ensure_future(second.fetch("GET", "http://app.test/wait", [], None)))
        third = await asyncio.wait_for(pool.acquire(), 60)  # queued behind two waiting isolates
        assert third not in (first, second) and len(lifecycle.created) == 3
        fourth = asyncio.ensure_future(pool.acquire())
        for result in await asyncio.gather(*waits):
            assert result.body == b"ok"
        assert len(lifecycle.created) == 3 and not fourth.done()  # at max_size
        for isolate in (first, second, third):
            isolate.end_request()
            pool.release(isolate)
        kept = await fourth
        pool.release(kept)
        await until(lambda: len(lifecycle.disposed) == 2, "given back when idle", 60)
        assert [reason for _, reason in lifecycle.disposed] == ["idle", "idle"]
        last = await pool.acquire()
        assert (await last.fetch("GET", "http://app.test/", [], None)).body == b"ok"
        last.end_request()
        pool.release(last)
        pool.retire("shutdown")

    asyncio.run(main())
    assert len(lifecycle.created) == 3 and len(lifecycle.disposed) == 3


def test_pool_bounds_keep_a_given_size_and_grow_the_default_one():
    cpus = pool_bounds(None, None)[0]
    assert pool_bounds(None, None) == (cpus, MAX_ISOLATES_PER_CPU * cpus)
    assert pool_bounds(1, None) == (1, 1)  # a size the config gave is what the app asked for
    assert pool_bounds(1, 5) == (1, 5)
    assert pool_bounds(None, 1) == (1, 1)


def test_a_pool_cannot_be_made_smaller_at_most_than_it_is_kept_warm(tmp_path: Path):
    (tmp_path / "worker.js").write_text('export default { fetch() { return new Response("ok"); } };\n')
    with pytest.raises(ValueError, match=r"max_size \(2\) is below size \(3\)"):
        IsolatePool("app", load_script(tmp_path / "worker.js"), env={}, limits=Limits(), size=3, max_size=2,
                    observer=Observer())


WAITING_APP = """
const id = crypto.randomUUID();  // this isolate's
export default {
  async fetch() {
    await new Promise((resolve) => setTimeout(resolve, 3000));  // a slow upstream, in effect
    return new Response(id);
  },
};
"""


def test_requests_waiting_on_io_get_isolates_of_their_own_over_http(start_server, tmp_path: Path):
    """With one warm isolate, three requests that each wait 3 s: the pool grows for the two
    that queue, instead of serving them one after another."""
    (tmp_path / "worker.js").write_text(WAITING_APP)
    (tmp_path / "pyruntime.toml").write_text(
        '[[apps]]\nname = "waits"\nscript = "worker.js"\nroutes = ["/*"]\npool_size = 1\nmax_pool_size = 3\n')
    server = start_server("--config", "pyruntime.toml", "--server", "h1")
    answers: list[str] = []

    def get() -> None:
        answers.append(httpx.get(server.url + "/", timeout=60).text)

    threads = [threading.Thread(target=get) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert len(answers) == 3
    assert len(server.wait_for_event("isolate_created", count=3, app="waits")) == 3
    # Made while the first request waited, at least one grown isolate answered a request.
    assert len(set(answers)) >= 2


class GrowthRecorder(IsolateRecorder):
    """Also records the app errors the pool reports."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def app_error(self, app: str, message: str, stack: str | None = None, *, event: str = "error") -> None:
        self.errors.append(message)


def test_an_isolate_that_fails_to_load_while_the_pool_grows_is_reported_and_not_retried_at_once(tmp_path: Path):
    """The pool keeps serving with the isolates it has; a script whose load fails is not loaded
    again for every request that queues."""
    upstream, answered = first_load_only_upstream()
    (tmp_path / "worker.js").write_text(
        f'const answer = await fetch("http://127.0.0.1:{upstream.server_address[1]}/load");\n'
        'if (!answer.ok) throw new Error("the upstream refused this load");\n'
        'export default { async fetch(request) {\n'
        '  if (request.url.endsWith("/wait")) await new Promise((resolve) => setTimeout(resolve, 3000));\n'
        '  return new Response("ok");\n'
        '} };\n')
    recorder = GrowthRecorder()
    host_ops = AsyncHostOps(EgressPolicy.parse(allow=["127.0.0.1"]))

    async def main() -> None:
        pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={}, limits=Limits(), size=1, max_size=3,
                           observer=recorder, host_ops=host_ops)
        await pool.start()
        held = await pool.acquire()
        waiting = asyncio.ensure_future(held.fetch("GET", "http://app.test/wait", [], None))
        queued = [asyncio.ensure_future(pool.acquire())]
        for _ in range(1200):  # the held isolate begins to wait: the pool tries to grow
            if recorder.errors:
                break
            await asyncio.sleep(0.05)
        assert len(recorder.errors) == 1 and "the upstream refused this load" in recorder.errors[0]
        queued.append(asyncio.ensure_future(pool.acquire()))  # queued behind the waiting isolate again
        assert (await waiting).body == b"ok"
        # In the seconds the held isolate waited, no second load was tried.
        assert len(answered) == 2 and len(recorder.created) == 1 and len(recorder.errors) == 1
        held.end_request()
        pool.release(held)
        for request in queued:  # each served in turn by the isolate the pool has
            isolate = await asyncio.wait_for(request, 60)
            assert isolate is held
            assert (await isolate.fetch("GET", "http://app.test/", [], None)).body == b"ok"
            isolate.end_request()
            pool.release(isolate)
        pool.retire("shutdown")

    try:
        asyncio.run(main())
    finally:
        upstream.shutdown()


GARBAGE_WORKER = (
    "export default { fetch() {\n"
    "  const junk = Array.from({ length: 50000 }, (_, i) => ({ i, s: 'x' + i }));\n"
    "  return new Response(String(junk.length));\n"
    "} };\n")


def test_an_isolate_idle_after_requests_is_collected_once_and_serves_again(tmp_path: Path):
    """V8 collects only when JS allocates: the pool collects an isolate that went idle after
    serving requests, and its heap drops; an isolate left idle is not collected again."""
    (tmp_path / "worker.js").write_text(GARBAGE_WORKER)
    recorder = HeapRecorder()
    pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={},
                       limits=Limits(cpu_limit_ms=None, timeout_ms=None), size=1, observer=recorder,
                       idle_collect_s=0.2)

    async def main() -> None:
        await pool.start()
        for _ in range(5):
            isolate = await serve_once(pool, b"50000")
        garbage_left = isolate.heap_statistics()["used_heap_size"]
        await until(lambda: pool.collections == 1, "collected")
        collected = isolate.heap_statistics()["used_heap_size"]
        assert collected < garbage_left - 1024 * 1024, (garbage_left, collected)
        assert recorder.reported == collected  # the gauge follows the drop
        await asyncio.sleep(1.0)  # five times idle_collect_s, with no request: nothing to collect
        assert pool.collections == 1
        assert await serve_once(pool, b"50000") is isolate
        await until(lambda: pool.collections == 2, "collected again")
        pool.retire("shutdown")
        assert not isolate.alive

    asyncio.run(main())


def test_a_request_for_the_isolate_being_collected_waits_for_it(tmp_path: Path):
    """The isolate is out of the idle list while a worker thread collects it: a request waits
    (its collection is slow here, with 2 million live objects to mark) and then gets it."""
    (tmp_path / "worker.js").write_text(
        "const kept = Array.from({ length: 2000000 }, (_, i) => ({ i }));\n" + GARBAGE_WORKER)
    pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={},
                       limits=Limits(memory_limit_mb=1024, cpu_limit_ms=None, timeout_ms=None), size=1,
                       observer=Observer(), idle_collect_s=0.2)

    async def main() -> None:
        await pool.start()
        isolate = await serve_once(pool, b"50000")
        await until(lambda: pool.collecting == 1, "collecting")
        assert pool.try_acquire() is None
        assert await pool.acquire() is isolate  # waits until the collection ends
        assert pool.collections == 1
        result = await isolate.fetch("GET", "http://app.test/", [], None)
        assert result.body == b"50000"
        isolate.end_request()
        pool.release(isolate)
        pool.retire("shutdown")

    asyncio.run(main())


def test_a_pool_retired_while_an_isolate_is_collected_disposes_it_when_done(tmp_path: Path):
    (tmp_path / "worker.js").write_text(
        "const kept = Array.from({ length: 2000000 }, (_, i) => ({ i }));\n" + GARBAGE_WORKER)
    recorder = IsolateRecorder()
    pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={},
                       limits=Limits(memory_limit_mb=1024, cpu_limit_ms=None, timeout_ms=None), size=1,
                       observer=recorder, idle_collect_s=0.2)

    async def main() -> None:
        await pool.start()
        isolate = await serve_once(pool, b"50000")
        await until(lambda: pool.collecting == 1, "collecting")
        pool.retire("shutdown")  # cancels the collection's task; V8 still holds the isolate
        assert isolate.alive
        await until(lambda: not isolate.alive, "disposed after the collection")
        assert recorder.disposed == [(recorder.created[0], "shutdown")]

    asyncio.run(main())


class FailingReports(Observer):
    """An observer whose reports fail once armed, as a metrics backend can (prometheus_client
    raised inside `release` once, on a negative increment)."""

    def __init__(self) -> None:
        self.armed = False

    def heap_changed(self, app: str, delta_bytes: int) -> None:
        if self.armed:
            raise RuntimeError("metrics down")

    def isolate_disposed(self, app: str, isolate: int, reason: str) -> None:
        if self.armed:
            raise RuntimeError("log down")


async def failing_pool(tmp_path: Path) -> tuple[IsolatePool, FailingReports]:
    (tmp_path / "worker.js").write_text('export default { fetch() { return new Response("ok"); } };\n')
    observer = FailingReports()
    pool = IsolatePool("app", load_script(tmp_path / "worker.js"), env={}, limits=Limits(), size=1, observer=observer)
    await pool.start()
    return pool, observer


def test_an_isolate_is_back_in_the_pool_even_if_reporting_its_release_fails(tmp_path: Path):
    async def main() -> None:
        pool, observer = await failing_pool(tmp_path)
        isolate = await pool.acquire()
        await isolate.eval("globalThis.kept = new Array(2 ** 21).fill(1.5); 0")  # a heap change to report
        observer.armed = True
        with pytest.raises(RuntimeError, match="metrics down"):
            pool.release(isolate, requests=_HEAP_EVERY)  # its heap is read and reported
        observer.armed = False
        assert pool.try_acquire() is isolate
        pool.release(isolate)
        await serve_once(pool, b"ok")
        pool.retire("test")

    asyncio.run(main())


def test_a_dead_isolate_is_closed_and_replaced_even_if_reporting_it_fails(tmp_path: Path):
    async def main() -> None:
        pool, observer = await failing_pool(tmp_path)
        dead = await pool.acquire()
        dead.close()
        observer.armed = True
        with pytest.raises(RuntimeError, match="down"):
            pool.release(dead)
        observer.armed = False
        await until(lambda: bool(pool._idle), "a fresh isolate in the dead one's place")
        assert (await serve_once(pool, b"ok")) is not dead
        pool.retire("test")

    asyncio.run(main())
