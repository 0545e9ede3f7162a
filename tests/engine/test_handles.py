"""Handles and dates: what mini-racer users expect from results that are not plain data."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pyruntime import AsyncIsolate, Isolate, JSError, JSFunction, JSObject, JSPromise


@pytest.fixture
def iso():
    with Isolate() as isolate:
        yield isolate


def test_defining_a_function_returns_a_callable(iso):
    add = iso.eval("globalThis.add = (a, b) => a + b")  # the most common first line
    assert isinstance(add, JSFunction)
    assert add(40, 2) == 42
    assert iso.call("add", 1, 2) == 3
    assert iso.eval("async (x) => x * 2")(21) == 42  # a promise result is awaited, as call() does
    with pytest.raises(JSError, match="nope"):
        iso.eval("() => { throw new Error('nope') }")()


def test_objects_support_item_access_and_iteration(iso):
    point = iso.eval("new (class Point { constructor() { this.x = 1; this.y = [2, new Set()] } })")
    assert isinstance(point, JSObject) and point.type_name == "Point"
    assert list(point) == ["x", "y"] and len(point) == 2
    assert point["x"] == 1 and point["missing"] is None
    assert point["y"][0] == 2 and point["y"][1].type_name == "Set"
    assert iso.eval("new Map([[1, 'a']])")["size"] == 1
    mixed = iso.eval("({ data: 1, fn() { return 'called' } })")
    assert mixed["data"] == 1 and mixed["fn"]() == "called"


def test_handles_go_back_into_js_as_the_same_value(iso):
    counter = iso.eval("new (class Counter { n = 0; bump() { return ++this.n } })")
    iso.eval("globalThis.same = (a, b) => a === b; globalThis.bumpTwice = (o) => { o.bump(); return o.bump() }; 0")
    assert iso.call("same", counter, counter) is True
    assert iso.call("bumpTwice", counter) == 2
    with Isolate() as other:
        other.eval("globalThis.f = (x) => x; 0")
        with pytest.raises(TypeError, match="isolate it came from"):
            other.call("f", counter)


def test_promises_are_awaited_on_request(iso):
    promise = iso.eval("[new Promise((r) => setTimeout(() => r('later'), 10))]")[0]
    assert isinstance(promise, JSPromise)
    assert promise.result() == "later"
    failing = iso.eval("[Promise.reject(new Error('rejected'))]")[0]
    with pytest.raises(JSError, match="rejected"):
        failing.result()


def test_async_isolate_handles_are_awaitable():
    async def scenario():
        async with AsyncIsolate() as iso:
            double = await iso.eval("globalThis.double = async (x) => x * 2")
            assert await double(21) == 42
            promise = (await iso.eval("[new Promise((r) => setTimeout(() => r('done'), 10))]"))[0]
            assert await promise == "done"
            obj = await iso.eval("new Map()")
            assert await obj["size"] == 0
            assert await obj.keys() == []
    asyncio.run(scenario())


def test_released_handles_free_their_values(iso):
    iso.eval("globalThis.made = 0; globalThis.registry = new FinalizationRegistry(() => {}); 0")
    for _ in range(1000):
        iso.eval("({ big: new Array(1000).fill(1) })")  # each a plain object: converted, not held
        handle = iso.eval("new Map([[1, new Array(1000).fill(1)]])")
        del handle
    gc.collect()
    assert iso.eval("1") == 1
    assert iso.heap_statistics()["used_heap_size"] < 64 * 1024 * 1024


def test_dates_convert_both_ways_as_utc(iso):
    assert iso.eval("new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 250))") == \
        datetime(2024, 2, 29, 12, 30, 15, 250000, tzinfo=UTC)
    assert iso.eval("new Date(NaN)") is None
    iso.eval("globalThis.iso = (d) => d.toISOString(); 0")
    assert iso.call("iso", datetime(2020, 1, 1, tzinfo=UTC)) == "2020-01-01T00:00:00.000Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso.call("iso", datetime(2020, 1, 1, 2, 0, tzinfo=plus_two)) == "2020-01-01T00:00:00.000Z"
    assert iso.call("iso", datetime(2020, 1, 1)) == "2020-01-01T00:00:00.000Z"  # naive: taken as UTC


def test_the_handle_cap_refuses_more_and_frees_on_collection():
    """Each handle keeps a JS value alive outside Python's reach: past 100,000 held at once a
    result that needs one is refused (the isolate stays usable), and collected handles free
    their places."""
    with Isolate(cpu_limit_ms=None, timeout_ms=None) as iso:
        held = iso.eval("Array.from({ length: 100000 }, (_, i) => () => i)")
        assert len(held) == 100000 and held[-1]() == 99999
        with pytest.raises(TypeError, match="too many JS values are held by the host"):
            iso.eval("new Map()")
        assert iso.eval("1 + 1") == 2
        del held
        gc.collect()
        assert iso.eval("new Map([[1, 2]])")["size"] == 1
