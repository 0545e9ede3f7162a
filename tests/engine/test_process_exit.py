"""A process that ends while native work runs on its other threads ends cleanly.

At exit the C library runs exit handlers: OpenSSL frees its locks, and C++ destroys statics.
A thread still inside OpenSSL or V8 then crashed the process with SIGSEGV: a server stopped
just after its first answer (its fetch client warming up), or a host exiting while an isolate
ran on a daemon thread. Each case runs real processes; each failed on the build before.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

JS_ON_A_DAEMON_THREAD = textwrap.dedent("""
    import sys, threading, time
    from pyruntime import Isolate

    started = threading.Event()

    def spin():
        isolate = Isolate(timeout_ms=None, cpu_limit_ms=None)
        started.set()
        # Allocates as it spins: V8 posts GC tasks to its platform's worker threads meanwhile.
        isolate.eval("let a = []; for (;;) { a.push({ x: Math.random() }); if (a.length > 1e5) a = []; }")

    threading.Thread(target=spin, daemon=True).start()
    started.wait()
    time.sleep(0.3)
    sys.exit(0)
""")

CRYPTO_ON_A_DAEMON_THREAD = JS_ON_A_DAEMON_THREAD.replace(
    "let a = []; for (;;) { a.push({ x: Math.random() }); if (a.length > 1e5) a = []; }",
    "for (;;) { crypto.getRandomValues(new Uint8Array(4096)); crypto.randomUUID(); }")

TOLD_AT_EXIT = textwrap.dedent("""
    import atexit, sys, threading
    told = threading.Event()
    # Registered before pyruntime's own exit handler, so run after it (atexit runs its callbacks
    # in reverse order): the daemon thread then has the GIL to say what its call raised.
    atexit.register(lambda: told.wait(30))
    from pyruntime import Isolate

    started = threading.Event()

    def spin():
        isolate = Isolate(timeout_ms=None, cpu_limit_ms=None)
        started.set()
        try:
            isolate.eval("for (;;) {}")
        except Exception as error:
            print(type(error).__name__, error, flush=True)
        try:
            isolate.eval("1 + 1")
        except Exception as error:
            print(type(error).__name__, error, flush=True)
        told.set()

    threading.Thread(target=spin, daemon=True).start()
    started.wait()
    sys.exit(0)
""")

FETCH_LOOP_AT_EXIT = textwrap.dedent("""
    import atexit, sys
    from pyruntime.engine.host_ops import SyncHostOps

    # Registered first, so run last (atexit runs its callbacks in reverse order).
    atexit.register(lambda: print(SyncHostOps._loop.is_running()))
    SyncHostOps()
    sys.exit(0)
""")

EXIT_DURING_WARM_UP = textwrap.dedent("""
    import atexit, sys
    from pyruntime.engine import fetch_client, scripts
    from pyruntime.engine.host_ops import warm_fetch_client

    # Python's exit handlers run after it joined the threads that are not daemons.
    atexit.register(lambda: print(fetch_client._shared is not None, scripts._probe._runtime is not None))
    {start}
    sys.exit(0)
""")


def _run(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYRUNTIME_CACHE_DIR": str(tmp_path / "cache")})


def test_a_host_that_exits_while_js_runs_on_a_daemon_thread_exits_cleanly(tmp_path: Path):
    """V8's platform is never destroyed: the exit handlers destroyed it (a static), joining and
    freeing its worker threads under the running isolate. Before: SIGSEGV in 11 runs of 20."""
    for _ in range(8):
        done = _run(JS_ON_A_DAEMON_THREAD, tmp_path)
        assert done.returncode == 0, f"exit code {done.returncode}: {done.stderr[-2000:]}"


def test_a_host_that_exits_while_js_uses_openssl_on_a_daemon_thread_exits_cleanly(tmp_path: Path):
    """At exit, running JS is terminated and waited for (_core.stop_for_exit, with atexit)
    before the C library's exit handlers free OpenSSL's locks. Before: SIGSEGV in 11 runs of 20."""
    for _ in range(8):
        done = _run(CRYPTO_ON_A_DAEMON_THREAD, tmp_path)
        assert done.returncode == 0, f"exit code {done.returncode}: {done.stderr[-2000:]}"


def test_a_call_running_at_exit_is_terminated_and_no_call_starts_after(tmp_path: Path):
    done = _run(TOLD_AT_EXIT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Terminated the process is exiting"] * 2


def test_the_background_fetch_loop_stops_at_exit(tmp_path: Path):
    """`run` and the REPL fetch on a loop of their own, on a daemon thread: exit stops it
    between two steps, so no TLS handshake is inside OpenSSL when its exit handlers run."""
    done = _run(FETCH_LOOP_AT_EXIT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


def test_exit_waits_for_the_fetch_client_warm_up(tmp_path: Path):
    """A server warms its fetch client (CA store, OpenSSL) once it serves: a process that exits
    meanwhile waits for it rather than run OpenSSL's exit handlers under it."""
    done = _run(EXIT_DURING_WARM_UP.format(start="warm_fetch_client()"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


def test_exit_waits_for_the_v8_warm_up(tmp_path: Path):
    """A starting server makes the snapshot and the probe isolate on a thread (start_warming):
    a process stopped meanwhile waits for that V8 work to end before its exit handlers run."""
    done = _run(EXIT_DURING_WARM_UP.format(start="scripts.start_warming()"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
