"""Ctrl-C in the REPL, through a real pseudo-terminal: it stops a runaway input, not the session."""

import os
import pty
import select
import sys
import time


def read_until(fd: int, needle: bytes, timeout: float = 20) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} not seen; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            seen += chunk
    return seen


def test_ctrl_c_terminates_the_running_input(tmp_path):
    pid, fd = pty.fork()
    if pid == 0:  # the child: a REPL on the terminal, in a folder without the sources
        os.chdir(tmp_path)
        os.environ["HOME"] = str(tmp_path)
        os.execv(sys.executable, [sys.executable, "-m", "pyruntime", "repl"])
    try:
        read_until(fd, b"> ")
        os.write(fd, b"while (true) {}\r")
        time.sleep(0.5)
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT
        assert b"Terminated" in read_until(fd, b"Terminated")
        os.write(fd, b"6 * 7\r")
        assert b"42" in read_until(fd, b"42")
        os.write(fd, b".exit\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.close(fd)
