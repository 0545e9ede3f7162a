"""The sync shell's deadline watch (pyruntime/engine/deadlines.py): one thread for every
slice that must be stopped at its call's total deadline, not one thread per slice."""

from __future__ import annotations

import os
import threading

import pytest

import pyruntime
from pyruntime import Isolate
from pyruntime.engine import deadlines
from pyruntime.engine.deadlines import DeadlineWatch

# How long a test waits for a deadline that should have fired: generous, for a busy machine.
PATIENCE_S = 30


def test_a_deadline_fires_on_the_watch_thread():
    watch = DeadlineWatch()
    fired = threading.Event()
    seen = []
    watch.arm(0.01, lambda: (seen.append(threading.current_thread().name), fired.set()))
    assert fired.wait(PATIENCE_S)
    assert seen == ["pyruntime-deadlines"]


def test_a_cancelled_deadline_does_not_fire_and_is_not_kept():
    watch = DeadlineWatch()
    cancelled, later = threading.Event(), threading.Event()
    deadline = watch.arm(0.02, cancelled.set)
    watch.cancel(deadline)
    watch.arm(0.05, later.set)  # fires after the cancelled one's time
    assert later.wait(PATIENCE_S)
    assert not cancelled.is_set()
    assert watch._armed == {}


def test_an_earlier_deadline_wakes_a_watch_waiting_for_a_later_one():
    watch = DeadlineWatch()
    far, near = threading.Event(), threading.Event()
    watch.arm(3600, far.set)
    watch.arm(0.01, near.set)
    assert near.wait(PATIENCE_S)
    assert not far.is_set()


def test_a_failing_callback_does_not_stop_the_watch(capsys):
    watch = DeadlineWatch()
    fired = threading.Event()

    def fail() -> None:
        raise RuntimeError("callback failed")

    watch.arm(0.01, fail)
    watch.arm(0.02, fired.set)
    assert fired.wait(PATIENCE_S)
    assert "callback failed" in capsys.readouterr().err


def test_calls_with_limits_off_start_no_thread_per_slice_and_leave_nothing_armed(monkeypatch):
    # Each slice of such a call arms the call's total deadline: it must cost no new thread.
    started = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda thread: (started.append(thread.name), start(thread))[1])
    with Isolate(cpu_limit_ms=None, timeout_ms=None) as iso:
        iso.eval("1")
        started.clear()
        for i in range(300):
            assert iso.eval(f"{i} + 1") == i + 1
    assert started == []
    assert deadlines._watch._armed == {}


def test_the_total_deadline_still_stops_a_spin_after_many_short_calls():
    with Isolate(cpu_limit_ms=None, timeout_ms=None, total_timeout_ms=200) as iso:
        for _ in range(50):
            iso.eval("1")
        with pytest.raises(pyruntime.TimeLimitExceeded) as info:
            iso.eval("for (;;) {}")
        assert info.value.limit == "total"
        assert iso.eval("2") == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_has_a_watch_of_its_own():
    fired = threading.Event()
    parents = deadlines.arm(3600, fired.set)  # the parent's watch thread runs now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is gone, its own must fire
        child_fired = threading.Event()
        deadlines.arm(0.01, child_fired.set)
        os.write(write, b"1" if child_fired.wait(PATIENCE_S) else b"0")
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
        deadlines.cancel(parents)
    assert not fired.is_set()
