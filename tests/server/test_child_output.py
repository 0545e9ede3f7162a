"""A child process's output relayed into the log (server/child_output.py), from a real
subprocess writing to a real pipe: every line arrives whole and in order, text that is not
a JSON object is wrapped, and a burst of lines goes out in far fewer writes than lines."""

import fcntl
import io
import json
import subprocess
import sys
import threading
import time

from pyruntime.server.child_output import BATCH_S, MAX_LINE, PIPE_BYTES, relay_in_thread
from pyruntime.server.logs import JsonLogger

LINES = 500

# Writes LINES request-like JSON lines, one write each as a worker's logger does, a tenth of
# a millisecond apart (a server answering 10,000 requests a second), then a raw text line
# and a line longer than MAX_LINE, then exits.
CHILD = f"""
import json, sys, time
for i in range({LINES}):
    sys.stdout.write(json.dumps({{"event": "request", "n": i, "path": "/p" * 20}}) + "\\n")
    sys.stdout.flush()
    until = time.perf_counter() + 0.0001
    while time.perf_counter() < until:
        pass
sys.stdout.write("# Fatal javascript OOM\\n")
sys.stdout.write("x" * ({MAX_LINE} + 10) + "\\n")
sys.stdout.flush()
"""


class CountingStream:
    """A log destination that records each write."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self.writes.append(text)

    def flush(self) -> None:
        pass


def test_a_burst_of_lines_arrives_whole_in_order_and_in_few_writes() -> None:
    stream = CountingStream()
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, bufsize=0)
    relay = relay_in_thread(child.stdout, "stdout", {"worker_pid": child.pid}, JsonLogger(stream))
    assert child.wait(timeout=60) == 0
    writing_s = time.monotonic() - started
    relay.join(timeout=60)
    assert not relay.is_alive()

    records = [json.loads(line) for line in "".join(stream.writes).splitlines()]
    requests = [r for r in records if r.get("event") == "request"]
    assert [r["n"] for r in requests] == list(range(LINES))
    wrapped = [r for r in records if r.get("event") == "worker_output"]
    assert wrapped[0]["message"] == "# Fatal javascript OOM"
    assert wrapped[0]["worker_pid"] == child.pid
    # The long line is cut at MAX_LINE, each piece a line of its own.
    assert [len(r["message"]) for r in wrapped[1:]] == [MAX_LINE, 10]
    # The child wrote one line per write; the relay reads at most once per BATCH_S while the
    # child runs (a few more for what is left when it exits), one write per read. Counted
    # against the child's own duration, so a busy machine that stretches it loosens the bound.
    assert len(stream.writes) <= writing_s / BATCH_S + 5, (len(stream.writes), writing_s)


# Lines as a worker's logger and a native crash would write them: UTF-8 JSON with non-ASCII
# text, a line that looks like JSON but is not UTF-8, and one that is JSON but not an object.
RAW_LINES = ('{"event": "request", "path": "/caf\\u00e9", "message": "d\u00e9j\u00e0 vu"}\n'.encode()
             + b'{"event": "torn \xff\xfe"}\n' + b"[1, 2]\n" + b"\r\n")


def test_json_lines_pass_as_written_and_other_bytes_are_wrapped() -> None:
    stream = io.BytesIO()
    text = io.TextIOWrapper(stream, encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-c", f"import sys; sys.stdout.buffer.write({RAW_LINES!r})"],
                             stdout=subprocess.PIPE, bufsize=0)
    relay = relay_in_thread(child.stdout, "stdout", {"worker_pid": child.pid}, JsonLogger(text))
    assert child.wait(timeout=60) == 0
    relay.join(timeout=60)
    lines = stream.getvalue().splitlines()
    assert lines[0] == RAW_LINES.splitlines()[0]  # the same bytes: not decoded, escaped or reordered
    wrapped = [json.loads(line) for line in lines[1:]]
    assert [record["event"] for record in wrapped] == ["worker_output", "worker_output"]
    assert wrapped[0]["message"] == '{"event": "torn \ufffd\ufffd"}'
    assert wrapped[1]["message"] == "[1, 2]"
    assert len(lines) == 3  # the blank line is dropped


def test_a_workers_pipe_holds_what_it_logs_while_the_relay_sleeps() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, bufsize=0)
    relay = relay_in_thread(child.stdout, "stdout", {"worker_pid": child.pid}, JsonLogger(CountingStream()))
    try:
        assert fcntl.fcntl(child.stdout.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES
    finally:
        child.stdin.close()
        assert child.wait(timeout=60) == 0
        relay.join(timeout=60)


def test_a_read_of_whole_json_lines_passes_as_it_came_and_any_other_line_by_line() -> None:
    """The relay's common read (a worker's JSON object lines) is written as the bytes read,
    in one write; a read holding anything else, anywhere in it, is passed on line by line:
    JSON objects as written, the rest wrapped."""
    stream = io.BytesIO()
    text = io.TextIOWrapper(stream, encoding="utf-8")
    good = b'{"event": "request", "n": 1}\n{"event": "request", "n": 2, "m": "\xe2\x80\xa8"}\n'
    # Two values on a line; a non-object; a blank line; an object split over two lines that
    # parse, joined, as two objects; one with a space before it.
    reads = [good, b'{"n": 3}\n{"n": 4}{"n": 5}\n', b'{"n": 6}\n7\n', b'{"n": 8}\n\n{"n": 9}\n',
             b'{"n": [10\n{"m": 1}]}, {"n": 11}\n', b' {"n": 12}\n']
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
                               f"for data in {reads!r}:\n"
                               "    sys.stdout.buffer.write(data); sys.stdout.flush(); time.sleep(0.2)"],
        stdout=subprocess.PIPE, bufsize=0)
    relay = relay_in_thread(child.stdout, "stdout", {"worker_pid": child.pid}, JsonLogger(text))
    assert child.wait(timeout=60) == 0
    relay.join(timeout=60)
    written = stream.getvalue()
    assert written.startswith(good)  # the same bytes, U+2028 included
    records = [json.loads(line) for line in written.split(b"\n") if line]
    assert [record.get("n", record.get("message")) for record in records] == \
        [1, 2, 3, '{"n": 4}{"n": 5}', 6, "7", 8, 9, '{"n": [10', '{"m": 1}]}, {"n": 11}', ' {"n": 12}']
