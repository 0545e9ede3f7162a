"""This process's id, kept rather than asked for each time (`os.getpid()` is a system call,
and the log and the metrics want it on every request); a forked child takes its own."""

from __future__ import annotations

import os

_pid = os.getpid()


def process_id() -> int:
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
