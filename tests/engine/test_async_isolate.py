"""`AsyncIsolate`: the asyncio shell has the sync `Isolate`'s features, driven by the same call driver."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pyruntime import (
    AsyncIsolate,
    IsolateClosed,
    JSError,
    Limits,
    MemoryLimitExceeded,
    Terminated,
    TimeLimitExceeded,
    UnsettledPromise,
)


def run(coro):
    return asyncio.run(coro)


def test_eval_call_and_promises():
    async def scenario():
        async with AsyncIsolate() as iso:
            assert await iso.eval("1 + 1") == 2
            await iso.eval("globalThis.add = (a, b) => a + b; undefined")
            assert await iso.call("add", 40, 2) == 42
            assert await iso.eval("new Promise(r => setTimeout(() => r('later'), 20))") == "later"
            with pytest.raises(JSError, match="boom"):
                await iso.eval("throw new Error('boom')")
            with pytest.raises(UnsettledPromise):
                await iso.eval("new Promise(() => {})")
    run(scenario())


def test_the_event_loop_keeps_running_while_js_waits_and_runs():
    async def scenario():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        async with AsyncIsolate(timeout_ms=None, cpu_limit_ms=None) as iso:
            await iso.eval("new Promise(r => setTimeout(r, 200))")
        task.cancel()
        assert ticks > 5  # the loop was free while the isolate waited on its timer
    run(scenario())


def test_host_functions_and_operations_may_be_sync_or_async():
    seen = []

    async def lookup(key):
        await asyncio.sleep(0.01)
        return {"key": key}

    async def op_handler(name, payload):
        seen.append((name, payload))
        raise RuntimeError("no network here")

    async def scenario():
        async with AsyncIsolate(host_functions={"lookup": lookup, "double": lambda x: 2 * x},
                                op_handler=op_handler) as iso:
            assert await iso.eval("host.lookup('a').then(v => v.key)") == "a"
            assert await iso.eval("host.double(21)") == 42
            assert await iso.eval("host.lookup(1).then(() => 'ok')") == "ok"
            with pytest.raises(JSError):
                await iso.eval("fetch('https://example.test/')")  # the handler's error rejects fetch
    run(scenario())
    assert seen and seen[0][0] == "fetch"


def test_limits_are_the_same_as_the_sync_isolate():
    async def scenario():
        async with AsyncIsolate(cpu_limit_ms=30) as iso:
            with pytest.raises(TimeLimitExceeded) as info:
                await iso.eval("for (;;) {}")
            assert info.value.limit == "cpu"
            assert await iso.eval("'still usable'") == "still usable"
        async with AsyncIsolate(limits=Limits(total_timeout_ms=100)) as iso:
            with pytest.raises(TimeLimitExceeded) as info:
                await iso.eval("new Promise(r => setTimeout(r, 10000))")
            assert info.value.limit == "total"
        iso = AsyncIsolate(memory_limit_mb=32, cpu_limit_ms=None, timeout_ms=None)
        with pytest.raises(MemoryLimitExceeded):
            await iso.eval("const a = []; for (;;) a.push(new Array(1e5).fill(1.5))")
        assert not iso.alive
        with pytest.raises(IsolateClosed):
            await iso.eval("1")
    run(scenario())


def test_total_timeout_stops_a_spin_whose_cpu_and_wall_limits_are_off():
    async def scenario():
        async with AsyncIsolate(cpu_limit_ms=None, timeout_ms=None, total_timeout_ms=300) as iso:
            for source in ("for (;;) {}", "new Promise(r => setTimeout(r, 100)).then(() => { for (;;) {} })"):
                with pytest.raises(TimeLimitExceeded) as info:
                    await iso.eval(source)
                assert info.value.limit == "total"
                assert await iso.eval("6") == 6
    run(scenario())


def test_terminate_from_another_thread_stops_a_waiting_or_running_call():
    async def scenario():
        async with AsyncIsolate(timeout_ms=None, cpu_limit_ms=None, total_timeout_ms=None) as iso:
            for source in ("for (;;) {}", "new Promise(r => setTimeout(r, 60000))"):
                timer = threading.Timer(0.3, iso.terminate)
                timer.start()
                with pytest.raises(Terminated):
                    await iso.eval(source)
                assert await iso.eval("2") == 2
    run(scenario())


def test_console_and_unhandled_errors_are_counted_like_the_sync_shell():
    lines = []

    async def scenario():
        async with AsyncIsolate(console=lambda level, text: lines.append((level, text))) as iso:
            await iso.eval("console.warn('careful'); Promise.reject(new Error('nobody')); "
                           "queueMicrotask(() => { throw new Error('uncaught') }); 1")
            await iso.run_loop()
            return iso.unhandled_rejections, iso.uncaught_errors
    assert run(scenario()) == (1, 1)
    assert ("warn", "careful") in lines
    assert any(level == "error" and "Uncaught Error: uncaught" in text for level, text in lines)
