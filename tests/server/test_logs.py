"""JsonLogger: one UTF-8 JSON object per line, whatever the values and the stream."""

import io
import json

from pyruntime.server.logs import JsonLogger


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
