"""Structured logs: one JSON object per line on stdout, in UTF-8.

Every line has `timestamp` (RFC 3339, UTC, milliseconds), `level`, `event` and the `pid`
of the process (several serve one port with --workers); lines tied to a request also carry
`app` and `request_id`, so a log pipeline can join them.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

import orjson

from .pid import process_id

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

# JS console methods -> log levels.
CONSOLE_LEVELS = {"debug": "debug", "info": "info", "log": "info", "warn": "warn", "error": "error"}
_STDLIB_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
                  logging.ERROR: "error", logging.CRITICAL: "error"}


def head(level: str, event: str) -> dict[str, Any]:
    """The fields every record starts with, in this order (`emit`; the request line, which
    observer.py builds whole, starts with the same)."""
    return {"timestamp": timestamp(), "level": level, "event": event, "pid": process_id()}


_last_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text
_last_ms: tuple[int, str] = (-1, "")  # the last millisecond formatted, and its text


def timestamp() -> str:
    global _last_second, _last_ms
    now = time.time()
    ms = int(now * 1000)
    if _last_ms[0] == ms:  # a busy server logs several lines per millisecond
        return _last_ms[1]
    second = ms // 1000
    cached = _last_second
    if cached[0] != second:  # formatted once per second, not once per line
        cached = _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    text = f"{cached[1]}.{ms % 1000:03d}Z"
    _last_ms = (ms, text)
    return text


class _HeldLines(NamedTuple):
    """pyruntime._core's lines held for stdout (ext/held_lines.h), and how many bytes it holds
    at most: as many as write_record_soon holds for a stream of the caller's."""

    hold: Callable[[bytes], bool]
    take: Callable[[], bytes]
    capacity: int


# What write_record_soon needs from asyncio and the engine's core, looked up at its first use
# rather than on each line: the supervisor logs through this module, runs no event loop and
# loads no engine, and must not import them (asyncio would import ssl). While the core's
# functions are unknown, no line for stdout was held there.
_get_running_loop: Callable[[], AbstractEventLoop] | None = None
_core_held_lines: _HeldLines | None = None
# The loop this thread last ran: asyncio's own lookup makes a getpid system call (it checks
# for a fork), and the request line and the metrics ask once per loop pass, which at low load
# is once per request. A thread runs one loop at a time, so a loop that is running and was
# found on this thread is the one running here. Thread-local: it goes with its thread.
_thread = threading.local()


def running_loop() -> AbstractEventLoop | None:
    """The event loop running on this thread, if any."""
    global _get_running_loop
    loop = getattr(_thread, "loop", None)
    if loop is not None and loop.is_running():
        return loop
    if _get_running_loop is None:
        import asyncio

        _get_running_loop = asyncio.get_running_loop
    try:
        loop = _get_running_loop()
    except RuntimeError:
        loop = None
    _thread.loop = loop
    return loop


def _held_lines() -> _HeldLines:
    global _core_held_lines
    if _core_held_lines is None:
        from .. import _core

        _core_held_lines = _HeldLines(_core.hold_lines, _core.take_held_lines, _core.HELD_LINES_CAPACITY)
    return _core_held_lines


def _dumps_line(record: dict[str, Any]) -> bytes:
    """The record as one UTF-8 JSON line, newline included."""
    try:
        return orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # what orjson refuses (an integer past 64 bits, a lone surrogate): the
        # standard library takes it, escaped to ASCII so that encoding it cannot fail
        return (json.dumps(record, default=str) + "\n").encode()


class JsonLogger:
    """Writes log records as JSON lines (or, with `pretty`, one readable line each, for a
    terminal); safe to call from any thread."""

    def __init__(self, stream: TextIO | None = None, *, pretty: bool = False) -> None:
        self._stream = stream
        self._pretty = pretty
        self._lock = threading.Lock()
        # write_record_soon's lines for a stream of the caller's, copied into one buffer: each
        # of orjson's bytes objects keeps some 4 KiB, whatever its length.
        self._held = bytearray()
        self._flush_due: AbstractEventLoop | None = None  # the loop a flush waits in

    def emit(self, level: str, event: str, **fields: Any) -> None:
        """One record; fields that are None are left out."""
        record = head(level, event)
        record.update((key, value) for key, value in fields.items() if value is not None)
        self.write_record(record)

    def write_record(self, record: dict[str, Any]) -> None:
        """One whole record as it is, its None fields kept: for the request line, once per
        request, whose fields are fixed (see `head`), with no keyword arguments to gather."""
        if self._pretty:
            self._write(_pretty(record))
        else:
            self._write_bytes(_dumps_line(record))

    def write_record_soon(self, record: dict[str, Any]) -> None:
        """`write_record` for the event loop's thread: the lines of one pass of the loop go out
        together, in one write, when the loop next runs its callbacks. A busy server ends
        several requests per pass, and a write to the supervisor's pipe is a system call that
        may wake it. Any other write sends these lines first, so the log keeps its order.
        Lines for this process's stdout wait in the core (ext/held_lines.h): a process that
        the process guard or V8 ends meanwhile still writes them."""
        if self._pretty:
            self.write_record(record)
            return
        self.write_line_soon(_dumps_line(record))

    def write_line_soon(self, line: bytes) -> None:
        """`write_record_soon` of a record already serialised: one JSON object line, in UTF-8."""
        if self._pretty:
            self._write(self._readable(line.decode()))
            return
        loop = running_loop()
        with self._lock:
            if loop is None or not self._hold(line):  # no loop to wait for, or no room: now
                self._write_held(line)
                return
            if self._flush_due is loop:
                return
            self._flush_due = loop
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Writes the lines `write_record_soon` holds."""
        with self._lock:
            self._flush_due = None
            self._write_held()

    def write_raw_lines(self, lines: list[bytes]) -> None:
        """Writes whole UTF-8 lines, newlines included, in one write: a child process's JSON
        lines passed on as the bytes it wrote (shown readably when this logger is for a terminal)."""
        self.write_raw_block(b"".join(lines))

    def write_raw_block(self, block: bytes) -> None:
        """`write_raw_lines` of lines already joined."""
        if self._pretty:
            lines = block.decode().split("\n")  # not splitlines(): JSON text may hold U+2028 as it is
            self._write("".join(self._readable(line + "\n") for line in lines[:-1]) + lines[-1])
        else:
            self._write_bytes(block)

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stdout  # looked up late: tests and hosts may swap stdout
        with self._lock:
            self._write_held()
            try:
                stream.write(text)
                stream.flush()
            except BrokenPipeError:
                # The reader is gone (a worker's supervisor died): nothing can receive the
                # lines, and the caller (a request, a shutdown) must not fail for it.
                pass

    def _write_bytes(self, line: bytes) -> None:
        """A line already encoded: straight to the stream's byte buffer when it has one (every
        request writes a line, and orjson's bytes need no decoding and encoding again)."""
        with self._lock:
            self._write_held(line)

    def _hold(self, line: bytes) -> bool:
        """Under the lock: keeps `line` for the next write; False if it does not fit. Lines for
        a stream of the caller's are bounded as the core's are: a caller whose requests never
        yield to the loop (a host answering them in one pass) would otherwise grow them without end."""
        held = _held_lines()
        if self._stream is None:
            return held.hold(line)
        if len(self._held) + len(line) > held.capacity:
            return False
        self._held += line
        return True

    def _write_held(self, line: bytes = b"") -> None:
        """Under the lock: the held lines, then `line`, in one write (see `_write_bytes`)."""
        data = line
        if self._held:
            data = self._held + line
            self._held.clear()
        if self._stream is None and _core_held_lines is not None:
            data = _core_held_lines.take() + data
        if not data:
            return
        stream = self._stream or sys.stdout
        binary = getattr(stream, "buffer", None)
        try:
            if binary is None:
                stream.write(data.decode())
                stream.flush()
                return
            stream.flush()  # text someone else wrote without a flush goes first, whole
            binary.write(data)
            binary.flush()
        except BrokenPipeError:
            pass  # as in _write

    @staticmethod
    def _readable(line: str) -> str:
        if line.startswith("{"):
            try:
                return _pretty(json.loads(line))
            except (ValueError, KeyError):
                pass
        return line



def _pretty(record: dict[str, Any]) -> str:
    """`12:00:01.234 info  request app=shop status=200 ...`; multi-line values (stacks) follow indented."""
    first = f"{record['timestamp'][11:23]} {record['level']:<5} {record['event']}"
    extras = []
    tail = []
    for key, value in record.items():
        if key in ("timestamp", "level", "event", "pid") or value is None:
            continue
        text = str(value)
        if "\n" in text:
            tail.append("    " + text.replace("\n", "\n    "))
        else:
            extras.append(f"{key}={text}")
    return " ".join([first, *extras]) + "\n" + "".join(line + "\n" for line in tail)


class JsonLogHandler(logging.Handler):
    """Routes stdlib logging (Hypercorn's own messages) into the JSON log as `server` events."""

    def __init__(self, logger: JsonLogger) -> None:
        super().__init__()
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            fields["exception"] = logging.Formatter().formatException(record.exc_info)
        self._logger.emit(_STDLIB_LEVELS.get(record.levelno, "info"), "server", **fields)


def stdlib_logger(name: str, logger: JsonLogger) -> logging.Logger:
    """A stdlib logger whose records go to `logger` only."""
    log = logging.getLogger(name)
    log.handlers[:] = [JsonLogHandler(logger)]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log
