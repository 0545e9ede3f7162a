"""The request log line the core writes (ext/request_line.h): the bytes orjson gives for the
dict observer.py built before, for any strings and times, and the dict's own bytes for what
the core does not write."""

from __future__ import annotations

import asyncio
import io
import json
import random

import orjson

from pyruntime import _core
from pyruntime.server.logs import JsonLogger
from pyruntime.server.observer import LogObserver, RequestContext, SecretMask


def orjson_line(timestamp: str, pid: int, app: str | None, request_id: str, method: str, path: str, status: int,
                duration_s: float, cpu_ms: float | None) -> bytes:
    """The line as observer.py serialised its dict before the core wrote it."""
    return orjson.dumps({"timestamp": timestamp, "level": "info", "event": "request", "pid": pid, "app": app,
                         "request_id": request_id, "method": method, "path": path, "status": status,
                         "duration_ms": int(duration_s * 1_000_000) / 1000,
                         "cpu_ms": None if cpu_ms is None else int(cpu_ms * 1000) / 1000},
                        option=orjson.OPT_APPEND_NEWLINE)


def random_text(rng: random.Random) -> str:
    """Text with what JSON escapes (quotes, backslashes, every control character), DEL,
    Latin-1, U+2028 and characters past the BMP."""
    alphabet = [*map(chr, range(0x20)), '"', "\\", "/", "\x7f", "a", "Z", "0", "é", "\u00ff", "\u2028", "€",
                "\U0001f600", " "]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))


def test_the_core_writes_the_bytes_orjson_gave_for_the_dict():
    rng = random.Random(20261205)
    for _ in range(5000):
        args = ("2026-12-05T12:00:01.234Z", rng.randrange(1, 1 << 22),
                None if rng.random() < 0.1 else random_text(rng), random_text(rng), random_text(rng),
                random_text(rng), rng.choice([200, 204, 404, 499, 500, 503, 999]),
                rng.choice([0.0, 1e-7, 0.000999, 0.001234, 0.0172, rng.uniform(0, 2), rng.uniform(0, 1e6)]),
                rng.choice([None, 0.0, 0.0005, 0.017, rng.uniform(0, 50), rng.uniform(0, 1e7)]))
        assert _core.request_line(*args) == orjson_line(*args), args


def test_what_the_core_does_not_write_is_none():
    """A lone surrogate (orjson refuses it too: the logger's fallback escapes it), a time
    past 31 years in microseconds, a negative or NaN time, a status that is not an int."""
    base = ("2026-12-05T12:00:01.234Z", 1, "app", "id", "GET", "/", 200, 0.001, 0.5)
    assert _core.request_line(*base) is not None
    assert _core.request_line(*base[:5], "/\ud800", *base[6:]) is None
    for duration in (1e9 + 1.0, -1.0, float("nan")):
        assert _core.request_line(*base[:7], duration, 0.5) is None
    assert _core.request_line(*base[:8], 1e12 + 1.0) is None
    for status in (200.0, True, 1 << 70):  # what orjson writes otherwise (200.0, true, or refuses)
        assert _core.request_line(*base[:6], status, *base[7:]) is None


def test_a_request_whose_path_the_core_does_not_write_is_still_logged():
    """The observer writes the dict then (through the logger's fallback for what orjson
    refuses): one line, with the path."""
    stream = io.StringIO()
    observer = LogObserver(JsonLogger(stream), object())  # type: ignore[arg-type]  # no metrics are read here
    observer.unrouted("id", "GET", "/\ud800", 404, 0.001)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["event"], record["path"], record["status"], record["app"]) == ("request", "/\ud800", 404, None)


def test_request_lines_through_the_observer_are_held_for_the_pass_and_written_together():
    writes: list[bytes] = []

    class Raw(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
            writes.append(bytes(data))
            return len(data)

    observer = LogObserver(JsonLogger(io.TextIOWrapper(io.BufferedWriter(Raw()), encoding="utf-8")),
                           object())  # type: ignore[arg-type]

    async def main() -> int:
        for index in range(3):
            ctx = RequestContext("shop", f"id{index}", "GET", "/é", observer, SecretMask([]))
            ctx.add_cpu(0.25)
            observer._request_line(ctx.app, ctx.request_id, ctx.method, ctx.path, 200, 0.002, ctx.cpu_ms)
        held = len(writes)
        await asyncio.sleep(0)  # the loop's next pass writes them
        return held

    assert asyncio.run(main()) == 0
    [write] = writes
    records = [json.loads(line) for line in write.splitlines()]
    assert [(r["request_id"], r["path"], r["duration_ms"], r["cpu_ms"]) for r in records] == \
        [(f"id{index}", "/é", 2.0, 0.25) for index in range(3)]
