"""`serve`'s first worker, forked by the supervisor as its first act.

A cold start is mostly the worker's imports (asyncio, the HTTP server, the engine). Started
with `subprocess`, the worker began some 50 ms after the supervisor: the supervisor first
imported `subprocess` (which imports `re` and `enum`) and the new interpreter started from
nothing. Forked here, before the supervisor imports anything or starts a thread, the worker
begins at once, from the interpreter the supervisor already started. Workers started later
(more of them, replacements) are spawned anew by `Supervisor`, as then it has threads.

This module imports nothing beyond what the interpreter has loaded at start.
"""

from __future__ import annotations

import os
import sys
from _socket import AF_UNIX, SOCK_STREAM, socketpair


class FirstWorker:
    """The supervisor's side of the forked worker: its pid, its end of the listen channel, the
    read ends of its stdout and stderr, and the workers' metrics folder."""

    def __init__(self, pid: int, channel_fd: int, stdout_fd: int, stderr_fd: int, metrics_dir: str) -> None:
        self.pid = pid
        self.channel_fd = channel_fd
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.metrics_dir = metrics_dir


def with_options(argv: list[str], options: list[str]) -> list[str]:
    """A command line with `options` added before any "--" (after it every argument is
    positional). argparse takes the last of a repeated option: these win over the user's."""
    cut = argv.index("--") if "--" in argv else len(argv)
    return [*argv[:cut], *options, *argv[cut:]]


def metrics_folder() -> str:
    """A new folder, private to this user, for the workers' PROMETHEUS_MULTIPROC_DIR (what
    `tempfile.mkdtemp` makes, without importing it before the fork)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(base, f"pyruntime-metrics-{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free name for a metrics folder in {base}")


def fork_first_worker(worker_args: list[str]) -> FirstWorker | list[str]:
    """Forks worker 0. In the supervisor: the `FirstWorker` to hand to `Supervisor`. In the
    worker: its `serve` command line (`worker_args` with its listen channel and slot), which it
    goes on to run as if it had been started with it."""
    metrics_dir = metrics_folder()
    ours, theirs = socketpair(AF_UNIX, SOCK_STREAM)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    pid = os.fork()
    if pid:
        for fd in (theirs.detach(), out_write, err_write):
            os.close(fd)
        return FirstWorker(pid, ours.detach(), out_read, err_read, metrics_dir)
    os.dup2(out_write, 1)
    os.dup2(err_write, 2)
    for fd in (ours.detach(), out_read, out_write, err_read, err_write):
        os.close(fd)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # As the spawned workers' -P: the script's folder or the cwd that Python put first on
    # sys.path (a source tree, say) is not searched for the modules the worker imports next.
    if not sys.flags.safe_path and sys.path and \
            sys.path[0] in ("", os.getcwd(), os.path.dirname(os.path.realpath(sys.argv[0]))):
        del sys.path[0]
    return with_options(worker_args, ["--listen-channel", str(theirs.detach()), "--worker-slot", "0"])
