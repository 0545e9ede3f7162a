"""IdleTimer: one loop timer serves every item, each acted on once idle long enough."""

import asyncio

from conftest import until

from pyruntime.server.idle_timer import IdleTimer


def test_each_item_is_due_once_idle_long_enough_and_the_timer_is_set_again_for_the_next():
    async def main() -> None:
        due: list[str] = []

        def on_due(now: float) -> bool:
            for item in ("a", "b"):
                if timer.idle_long_enough(item, now):
                    timer.forget(item)
                    due.append(item)
            return True

        timer = IdleTimer(0.05, on_due)
        timer.start("a")
        await asyncio.sleep(0.03)
        timer.start("b")  # one timer is set already: due after "a", when it fires for "a"
        await until(lambda: due == ["a", "b"], "due, the second item")
        timer.start("a")
        timer.forget("a")  # taken again before it was due: never acted on
        await asyncio.sleep(0.2)
        assert due == ["a", "b"]

    asyncio.run(main())


def test_a_stopped_timer_acts_on_nothing_and_sets_no_timer():
    async def main() -> None:
        calls: list[float] = []

        def on_due(now: float) -> bool:
            calls.append(now)
            return True

        timer = IdleTimer(0.01, on_due)
        timer.start("a")  # sets the timer
        timer.stop()  # cancels it
        timer.start("b")  # sets none
        await asyncio.sleep(0.2)
        assert calls == []

    asyncio.run(main())


def test_an_item_started_again_when_due_keeps_one_timer():
    """The pool watches an isolate with background work by starting it again each time it is
    due: that must set one timer, not one more each time (the timers doubled, and an idle
    server's loop spun on them)."""
    async def main() -> None:
        fired: list[float] = []

        def on_due(now: float) -> bool:
            fired.append(now)
            if timer.idle_long_enough("watched", now):
                timer.forget("watched")
                timer.start("watched")  # still has work in flight: watched again
            return True

        timer = IdleTimer(0.02, on_due)
        timer.start("watched")
        await asyncio.sleep(0.5)
        timer.stop()
        # One timer fires at most once per 20 ms: 25 times in 0.5 s (fewer on a busy machine).
        assert 0 < len(fired) <= 30, f"{len(fired)} fires in 0.5 s"

    asyncio.run(main())
