"""JsonLogger: one UTF-8 JSON object per line, whatever the values and the stream."""

import asyncio
import io
import json
import threading

from pyruntime.server.logs import JsonLogger, running_loop
from pyruntime.server.observer import LogObserver, RequestContext, SecretMask


def lines_of(data: bytes) -> list[dict]:
    text = data.decode("utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_lines_go_to_a_byte_stream_as_utf8_json():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    logger = JsonLogger(stream)
    logger.emit("info", "first", city="Zürich", skipped=None)
    logger.write_record({"timestamp": "t", "level": "info", "event": "second", "path": "/caf\u00e9"})
    first, second = lines_of(stream.buffer.getvalue())
    assert first["event"] == "first" and first["city"] == "Zürich" and "skipped" not in first
    assert second == {"timestamp": "t", "level": "info", "event": "second", "path": "/café"}
    assert "Zürich".encode() in stream.buffer.getvalue()  # UTF-8, not escaped


def test_values_orjson_refuses_still_make_one_json_line():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    JsonLogger(stream).emit("warn", "odd", big=2**70, text="a\udc80b")
    [line] = lines_of(stream.buffer.getvalue())
    assert line["big"] == 2**70 and line["text"] == "a\udc80b"


def test_text_lines_come_before_later_bytes_whole():
    """Text someone wrote to the same stream without a flush is not split by a log line."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stream.write('{"event": "written before"}\n')
    JsonLogger(stream).emit("info", "after")
    before, after = lines_of(stream.buffer.getvalue())
    assert before["event"] == "written before" and after["event"] == "after"


def test_a_text_only_stream_gets_the_same_lines():
    stream = io.StringIO()
    JsonLogger(stream).emit("info", "plain", n=1)
    [line] = lines_of(stream.getvalue().encode())
    assert line["event"] == "plain" and line["n"] == 1


class CountingRaw(io.RawIOBase):
    """A byte sink that keeps each write it receives, as a pipe sees them."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.writes.append(bytes(data))
        return len(data)


def counting_stream() -> tuple[io.TextIOWrapper, CountingRaw]:
    raw = CountingRaw()
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8"), raw


def test_request_lines_of_one_loop_pass_go_out_in_one_write():
    stream, raw = counting_stream()
    logger = JsonLogger(stream)

    async def main() -> list[bytes]:
        for n in range(3):
            logger.write_record_soon({"event": "request", "n": n})
        held = list(raw.writes)
        await asyncio.sleep(0)  # the loop runs its callbacks
        return held

    assert asyncio.run(main()) == []
    [write] = raw.writes
    assert [line["n"] for line in lines_of(write)] == [0, 1, 2]


def test_any_other_line_sends_the_held_lines_first():
    stream, raw = counting_stream()
    logger = JsonLogger(stream)

    async def main() -> None:
        logger.write_record_soon({"event": "request", "n": 0})
        logger.emit("warn", "after")
        stream.write("text\n")
        logger.write_record_soon({"event": "request", "n": 1})

    asyncio.run(main())
    text = b"".join(raw.writes).decode()
    first, after, plain, second = text.splitlines()
    assert json.loads(first)["n"] == 0 and json.loads(after)["event"] == "after"
    assert plain == "text" and json.loads(second)["n"] == 1


def test_without_a_running_loop_the_line_is_written_at_once():
    stream, raw = counting_stream()
    JsonLogger(stream).write_record_soon({"event": "request"})
    [write] = raw.writes
    assert lines_of(write) == [{"event": "request"}]


def test_the_running_loop_is_this_threads_own_and_none_once_it_ended():
    """`running_loop` keeps each thread's loop (asyncio's lookup costs a system call): it is
    still the loop running on the asking thread, none after that loop ended or on a thread
    running none, and the next loop once one runs."""
    seen: list[object] = []

    def other_thread() -> None:
        seen.append(running_loop())

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        first = running_loop() is loop and running_loop() is loop
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        return first

    assert running_loop() is None
    assert asyncio.run(main())
    assert seen == [None]
    assert running_loop() is None  # that loop ended
    loops: list[object] = []

    async def again() -> None:
        loops.append(asyncio.get_running_loop())
        loops.append(running_loop())

    asyncio.run(again())
    assert loops[0] is loops[1]
    stream, raw = counting_stream()
    JsonLogger(stream).write_record_soon({"event": "request"})  # no loop now: written at once
    assert len(raw.writes) == 1


def test_a_terminal_logger_writes_readable_lines_at_once():
    stream = io.StringIO()
    JsonLogger(stream, pretty=True).write_record_soon(
        {"timestamp": "2026-12-03T06:00:00.000Z", "level": "info", "event": "request", "status": 200})
    assert stream.getvalue() == "06:00:00.000 info  request status=200\n"


def test_a_terminal_logger_shows_a_childs_lines_one_by_one():
    """A block of a child's JSON lines (the supervisor's relay) is cut at newlines only:
    JSON text may hold U+2028 as it is, which str.splitlines would also cut at."""
    stream = io.StringIO()
    block = ('{"timestamp": "2026-12-05T09:00:00.000Z", "level": "info", "event": "a", "pid": 1}\n'
             '{"timestamp": "2026-12-05T09:00:00.001Z", "level": "warn", "event": "b", "pid": 1, '
             '"message": "x\u2028y"}\n').encode()
    JsonLogger(stream, pretty=True).write_raw_block(block)
    assert stream.getvalue().split("\n") == ["09:00:00.000 info  a", "09:00:00.001 warn  b message=x\u2028y", ""]


def test_lines_for_this_process_stdout_wait_in_the_core_and_keep_their_order(monkeypatch):
    from pyruntime import _core

    _core.take_held_lines()  # what another test may have left
    stream, raw = counting_stream()
    monkeypatch.setattr("sys.stdout", stream)
    logger = JsonLogger()  # no stream of its own: this process's stdout, as a server's

    async def main() -> bytes:
        for n in range(3):
            logger.write_record_soon({"event": "request", "n": n})
        held = _core.take_held_lines()  # what the process guard would write, were it to end us now
        _core.hold_lines(held)
        logger.emit("info", "between")
        logger.write_record_soon({"event": "request", "n": 3})
        await asyncio.sleep(0)
        return held

    held = asyncio.run(main())
    assert [line["n"] for line in lines_of(held)] == [0, 1, 2]
    first, second = raw.writes
    assert [line.get("n", line["event"]) for line in lines_of(first)] == [0, 1, 2, "between"]
    assert [line["n"] for line in lines_of(second)] == [3]
    assert _core.take_held_lines() == b""


def test_lines_past_the_cores_room_are_written_at_once(monkeypatch):
    from pyruntime import _core

    _core.take_held_lines()
    stream, raw = counting_stream()
    monkeypatch.setattr("sys.stdout", stream)
    logger = JsonLogger()
    big = "x" * (_core.HELD_LINES_CAPACITY // 2)

    async def main() -> int:
        for n in range(3):
            logger.write_record_soon({"event": "request", "n": n, "pad": big})
        return len(raw.writes)

    assert asyncio.run(main()) == 1  # the third did not fit: the first two and it went out together
    assert [line["n"] for line in lines_of(b"".join(raw.writes))] == [0, 1, 2]
    assert _core.take_held_lines() == b""


def test_a_callers_stream_holds_no_more_than_the_core_would():
    """A host whose requests never yield to the loop (each answered in one pass) ends all of
    them before the loop runs its callbacks: the held lines go out as they fill the room."""
    from pyruntime import _core

    room = _core.HELD_LINES_CAPACITY
    stream, raw = counting_stream()
    logger = JsonLogger(stream)
    records = 4_000  # some 45 bytes each: nearly three times the room

    async def main() -> int:
        for n in range(records):
            logger.write_record_soon({"event": "request", "n": n, "path": "/hello"})
        return sum(map(len, raw.writes))

    written_before_the_loop_ran = asyncio.run(main())
    total = sum(map(len, raw.writes))
    assert total > 2 * room
    assert total - written_before_the_loop_ran <= room
    assert [line["n"] for line in lines_of(b"".join(raw.writes))] == list(range(records))


def test_console_lines_and_request_lines_of_one_loop_pass_go_out_in_one_write():
    """A handler that logs once per request must not cost a write (a system call that may wake
    the supervisor) per line: its console lines wait with the request lines."""
    stream, raw = counting_stream()
    observer = LogObserver(JsonLogger(stream), defer_metrics=True)

    async def main() -> list[bytes]:
        for n in range(3):
            ctx = RequestContext("app", f"id{n}", "GET", "/", observer, SecretMask([]))
            ctx.console("log", f"served {n}")
            observer.request(ctx, 200)
        held = list(raw.writes)
        await asyncio.sleep(0)
        return held

    assert asyncio.run(main()) == []
    [write] = raw.writes
    records = lines_of(write)
    assert [(r["event"], r["request_id"]) for r in records] == [
        (event, f"id{n}") for n in range(3) for event in ("console", "request")]
    assert records[0]["message"] == "served 0" and records[0]["level"] == "info"
