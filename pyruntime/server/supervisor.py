"""`serve --workers N`: N server processes sharing one listening socket, supervised by us.

Hypercorn's own multi-worker mode stops every worker when one exits with an error, and V8
can abort a process on some out-of-memory paths; here a dead worker is replaced while the
others keep serving. Workers write metrics to a shared PROMETHEUS_MULTIPROC_DIR so that
/metrics in any of them reports the sum. Their stdout and stderr come through us: JSON log
lines pass as they are, any other text (V8's fatal-error output) becomes a JSON line.

Workers start before the port is bound: each imports the server and loads the apps, reports
over a Unix socket pair (its `--listen-channel`) whether they loaded, then receives the
listening socket over it, with the table of each worker's open connections that spreads h1's
connections over the workers (worker_loads.py). The port is bound once one worker's apps
loaded; if they could not, the supervisor closes the channels (the workers exit quietly) and
exits with the worker's error, so a broken app never binds the port. The apps load once per
worker, never again in the supervisor, which imports no engine.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from .first_worker import FirstWorker, with_options
from .metrics import mark_process_dead
from .worker_loads import ABSENT, WorkerLoads

if TYPE_CHECKING:
    from .config import ServerConfig
    from .logs import JsonLogger

_POLL_S = 0.2
# How often a wait with a timeout looks whether the forked worker ended.
_WAIT_POLL_S = 0.01
# A worker that dies sooner than this after starting is restarted only after a pause,
# so that a crash at startup does not become a busy loop.
_MIN_UPTIME_S = 2.0


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening before any worker starts: the kernel queues connections meanwhile."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class ServingSocket:
    """The listening socket a worker serves on, which it shares with the other workers: the
    table of their connections (worker_loads.py), and its own place in it."""

    fd: int
    loads: WorkerLoads
    slot: int


def receive_listening_socket(channel_fd: int) -> ServingSocket | None:
    """In a worker: blocks until the supervisor sends the listening socket and the workers'
    loads table; None if it closes the channel instead."""
    with socket.socket(fileno=channel_fd) as channel:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 64, 2)
        except OSError:
            return None
    if len(fds) != 2 or not message.startswith(b"s"):
        for fd in fds:
            os.close(fd)
        return None
    return ServingSocket(fds[0], WorkerLoads(fds[1]), int(message[1:]))


def supervisor_pid(channel_fd: int) -> int:
    """In a worker: its supervisor's pid, the creator of the socket pair of its listen channel
    (SO_PEERCRED). Not `os.getppid()`, which is no longer the supervisor once it died: a worker
    whose supervisor died while it started must still see that it did (asgi.stop_when_orphaned)."""
    with socket.socket(fileno=os.dup(channel_fd)) as channel:
        credentials = channel.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[0]


def report_loaded(channel_fd: int, error: str | None) -> None:
    """In a worker: tells the supervisor that the apps loaded (`error` None) or why not. A
    restarted worker's supervisor no longer listens: that is not an error."""
    with socket.socket(fileno=os.dup(channel_fd)) as channel:
        try:
            channel.sendall(_LOADED if error is None else _FAILED + error.encode("utf-8", "replace"))
            channel.shutdown(socket.SHUT_WR)
        except OSError:
            pass


_LOADED = b"loaded"
_FAILED = b"failed:"
_MAX_REPORT = 1 << 20


def _read_report(channel: socket.socket) -> bytes:
    """A worker's whole report: it half-closes the channel after writing (EOF if it died)."""
    data = b""
    while len(data) < _MAX_REPORT:
        try:
            chunk = channel.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


class _ForkedChild:
    """Worker 0, forked (first_worker.py), behind the part of `subprocess.Popen` the supervisor
    uses; a later worker in its slot is a `Popen`."""

    def __init__(self, first: FirstWorker) -> None:
        self.pid = first.pid
        self.returncode: int | None = None
        self.stdout = open(first.stdout_fd, "rb", buffering=0)  # read by the relay threads, as Popen's
        self.stderr = open(first.stderr_fd, "rb", buffering=0)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            if deadline is None:
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            elif self.poll() is None:
                if time.monotonic() >= deadline:
                    raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
                time.sleep(_WAIT_POLL_S)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Supervisor:
    """Starts the worker processes, replaces those that die, and stops them all on SIGTERM.

    The first worker is forked before the supervisor parses its command line, imports its
    logger and reads the configuration (first_worker.py, from cli/serve.py's
    `start_first_worker`): the worker's imports, the longest part of a cold start, run
    meanwhile on another core, and its output waits in its pipes until `watch`. The worker
    reads the same configuration itself; if the supervisor finds it invalid, it kills that
    worker unheard (`abandon`) and reports the error once.
    """

    def __init__(self, worker_args: list[str], first: FirstWorker) -> None:
        self.worker_args = worker_args
        self.workers = 0
        self._logger: JsonLogger | None = None
        self._stopping = False
        self._metrics_dir = first.metrics_dir
        self._env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self._metrics_dir}
        self._children: dict[int, tuple[subprocess.Popen[bytes] | _ForkedChild, float]] = {
            0: (_ForkedChild(first), time.monotonic())}
        self._channels: dict[int, socket.socket] = {0: socket.socket(fileno=first.channel_fd)}
        self._output: dict[int, list[threading.Thread]] = {}

    @property
    def logger(self) -> JsonLogger:
        assert self._logger is not None, "watch(logger) comes first"
        return self._logger

    def watch(self, logger: JsonLogger) -> None:
        """Relays the output of the workers started so far (and of all later ones) to `logger`."""
        self._logger = logger
        for slot in self._children:
            self._relay(slot)

    def start_workers(self, workers: int) -> None:
        """Starts the other workers once the configuration (which may name their number) is read."""
        self.workers = workers
        for slot in range(len(self._children), workers):
            self._spawn(slot)

    def wait_for_load(self) -> str | None:
        """Waits until one worker's apps loaded (None), or one worker could not load them (why)."""
        pending = dict(self._channels)
        while pending:
            readable, _, _ = select.select(list(pending.values()), [], [], _POLL_S)
            for slot, channel in list(pending.items()):
                if channel not in readable:
                    continue
                report = _read_report(channel)
                if report == _LOADED:
                    return None
                del pending[slot]
                if report.startswith(_FAILED):
                    return report[len(_FAILED):].decode("utf-8", "replace")
                child = self._children[slot][0]
                code = child.wait()
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                return f"a worker ended while loading the apps ({how}); its output is in the log"
        return "no worker was started"

    def abandon(self, *, kill: bool = False) -> None:
        """The apps failed to load: the waiting workers get no socket and exit. With `kill`
        (the configuration is invalid) they are stopped at once, whatever they were doing."""
        for channel in self._channels.values():
            channel.close()
        for child, _ in self._children.values():
            if kill:
                child.kill()
            child.wait()
        shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def run(self, config: ServerConfig) -> int:
        """Binds the port (OSError if it cannot), hands it to the workers and supervises them."""
        try:
            sock = listening_socket(config.host, config.port)
        except OSError:
            self.abandon()
            raise
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"pyruntime: serving {', '.join(app.name for app in config.apps)} on http://{shown}:{port}",
              file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.logger.emit("info", "supervisor_started", workers=self.workers,
                         address=f"{config.host}:{config.port}")
        loads, loads_fd = WorkerLoads.create(len(self._children))  # the table, and the descriptor the workers get
        try:
            for slot in list(self._children):
                self._hand_over(slot, sock, loads_fd)
            while not self._stopping:
                time.sleep(_POLL_S)
                for slot, (child, started) in list(self._children.items()):
                    code = child.poll()
                    if code is None or self._stopping:
                        continue
                    self._reap(child, code, self._metrics_dir)
                    loads.set(slot, ABSENT)  # it no longer accepts: the others stop leaving it connections
                    if time.monotonic() - started < _MIN_UPTIME_S:
                        time.sleep(_MIN_UPTIME_S)
                    if not self._stopping:
                        self._spawn(slot)
                        self._hand_over(slot, sock, loads_fd)
            return self._stop_all(self._metrics_dir, config.graceful_timeout_s())
        finally:
            sock.close()
            os.close(loads_fd)
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _spawn(self, slot: int) -> None:
        self._launch(slot)
        self._relay(slot)

    def _launch(self, slot: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # -P: the worker imports the installed package even when started from the source tree.
        argv = [sys.executable, "-P", "-m", "pyruntime",
                *with_options(self.worker_args, ["--listen-channel", str(theirs.fileno()), "--worker-slot", str(slot)])]
        child = subprocess.Popen(argv, pass_fds=(theirs.fileno(),), env=self._env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, bufsize=0)
        theirs.close()
        self._children[slot] = (child, time.monotonic())
        self._channels[slot] = ours

    def _relay(self, slot: int) -> None:
        from .child_output import relay_in_thread  # imported once worker 0 runs: see first_worker.py

        child = self._children[slot][0]
        assert child.stdout is not None and child.stderr is not None
        self._output[child.pid] = [relay_in_thread(child.stdout, "stdout", {"worker_pid": child.pid}, self.logger),
                                   relay_in_thread(child.stderr, "stderr", {"worker_pid": child.pid}, self.logger)]
        self.logger.emit("info", "worker_started", worker_pid=child.pid, slot=slot)

    def _hand_over(self, slot: int, sock: socket.socket, loads_fd: int) -> None:
        channel = self._channels.pop(slot)
        try:
            socket.send_fds(channel, [b"s%d" % slot], [sock.fileno(), loads_fd])
        except OSError:  # the worker died meanwhile: the loop replaces it
            pass
        finally:
            channel.close()

    def _reap(self, child: subprocess.Popen[bytes] | _ForkedChild, code: int, metrics_dir: str) -> None:
        mark_process_dead(child.pid, metrics_dir)
        for thread in self._output.pop(child.pid, []):  # its last lines (a fatal error's) come first
            thread.join(timeout=2.0)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        self.logger.emit("error" if not self._stopping else "info", "worker_exited", worker_pid=child.pid,
                         reason=how)

    def _stop_all(self, metrics_dir: str, graceful_s: float) -> int:
        """Sends SIGTERM to every worker (each drains its requests) and waits for them."""
        self.logger.emit("info", "shutdown", workers=len(self._children))
        for child, _ in self._children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + graceful_s + 5
        failed = 0
        for child, _ in self._children.values():
            try:
                code = child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
            self._reap(child, code, metrics_dir)
            # Our SIGTERM ends a worker that had not yet set up its drain (still starting,
            # nothing in flight) by the signal itself: that is a clean stop too.
            failed += code not in (0, -signal.SIGTERM)
        self.logger.emit("info", "stopped")
        return 1 if failed else 0
