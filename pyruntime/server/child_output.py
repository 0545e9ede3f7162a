"""A child process's stdout and stderr, turned into JSON log lines.

Workers and engine processes log JSON lines on stdout, but anything else a process writes
(V8's own fatal-error text such as `<--- Last few GCs --->` or `# Fatal javascript OOM`,
a Python traceback) is wrapped as a `worker_output` event, so the log stays one JSON object
per line. The reader always drains the pipe, so a child never blocks on a full one.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from typing import Any, BinaryIO

import orjson

from .logs import JsonLogger, timestamp

# A line longer than this is cut into pieces (a runaway write must not grow our buffer). It
# holds a worker's longest line whole: a console line within a request's MAX_CONSOLE_BYTES
# (observer.py), each character JSON-escaped to at most six bytes.
MAX_LINE = 2 * 1024 * 1024
# After a read, the reader waits this long before the next: under load the lines of many
# requests then come in one read and go out in one write, and a writing child rarely has a
# reader to wake. At 2 ms the supervisor spent 9 µs per request of a Granian worker (5,500
# requests a second), most of it waking; at 10 ms, 4 µs. Lines wait at most this long.
BATCH_S = 0.01
# What a worker's pipe holds while the reader sleeps or waits for a CPU on a busy machine:
# a worker whose pipe is full stalls on its next log write, and its requests with it.
PIPE_BYTES = 1 << 20
# One read takes at most this much; a full read means more is waiting, and the next comes at once.
READ_BYTES = 64 * 1024


class LineSplitter:
    """Bytes in, complete lines out (each cut at MAX_LINE)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        while len(self._pending) > MAX_LINE:
            lines.append(self._pending[:MAX_LINE])
            self._pending = self._pending[MAX_LINE:]
        return [piece for line in lines for piece in _cut(line)]

    def take_json_lines(self, data: bytes) -> bytes | None:
        """`data` as it came when it is whole JSON object lines, as a worker's logger writes
        them (after no partial line, none past MAX_LINE, no CR), each line checked alone as
        `as_log_line` checks it; else None, and `data` is still to `feed`. Through
        `as_log_line` and its list, the lines cost the supervisor some 3 µs of CPU per request."""
        if self._pending or not data.endswith(b"\n") or len(data) > MAX_LINE or b"\r" in data:
            return None
        return data if all(map(is_json_object_line, data[:-1].split(b"\n"))) else None

    def rest(self) -> list[bytes]:
        rest, self._pending = self._pending, b""
        return [rest] if rest else []


def _cut(line: bytes) -> list[bytes]:
    return [line[i:i + MAX_LINE] for i in range(0, len(line), MAX_LINE)] or [b""]


def is_json_object_line(line: bytes) -> bool:
    """Whether a line (no newline) is one JSON object, in UTF-8, as the child's logger writes."""
    if not line.startswith(b"{"):
        return False
    try:
        return type(orjson.loads(line)) is dict  # also refuses bytes that are not UTF-8
    except orjson.JSONDecodeError:
        return False


def as_log_line(raw: bytes, stream: str, fields: dict[str, Any]) -> bytes | None:
    """A JSON object line as the child wrote it (its bytes are neither decoded nor encoded
    again: every request's line passes here); any other text wrapped as a `worker_output`
    event; blank lines dropped."""
    line = raw.rstrip(b"\r")
    if not line.strip():
        return None
    if is_json_object_line(line):
        return line + b"\n"
    record = {"timestamp": timestamp(), "level": "error" if stream == "stderr" else "info",
              "event": "worker_output", "pid": os.getpid(), "stream": stream, **fields,
              "message": line.decode("utf-8", errors="replace")}
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def pass_on(raws: list[bytes], stream: str, fields: dict[str, Any], logger: JsonLogger) -> None:
    """Writes a child's raw lines to the log (see `as_log_line`), all in one write."""
    lines = [line for raw in raws if (line := as_log_line(raw, stream, fields)) is not None]
    if lines:
        logger.write_raw_lines(lines)


def relay_in_thread(pipe: BinaryIO, stream: str, fields: dict[str, Any], logger: JsonLogger) -> threading.Thread:
    """Copies a pipe's lines into the log from a daemon thread, until the pipe closes. The
    lines of one read are written together (see BATCH_S): one read and one write for many
    requests keeps the supervisor's share of a request small."""
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # past /proc/sys/fs/pipe-max-size or the user's pipe quota: 64 KiB stays
        pass

    def copy() -> None:
        splitter = LineSplitter()
        with pipe:
            while data := pipe.read(READ_BYTES):  # unbuffered: what the pipe holds, up to READ_BYTES
                if (lines := splitter.take_json_lines(data)) is not None:
                    logger.write_raw_block(lines)
                else:
                    pass_on(splitter.feed(data), stream, fields, logger)
                if len(data) < READ_BYTES:  # else more is waiting: no sleep
                    time.sleep(BATCH_S)
        pass_on(splitter.rest(), stream, fields, logger)

    thread = threading.Thread(target=copy, name=f"pyruntime-{stream}-{fields}", daemon=True)
    thread.start()
    return thread
