"""Cron expressions of `scheduled` triggers, checked with croniter at configuration time.

croniter (with dateutil) is imported only when an app has crons: reading a config without
any, as the supervisor does at every start, does not pay for it.
"""

from __future__ import annotations

from typing import Any


def check_crons(value: Any) -> tuple[str, ...]:
    """A list of cron expressions ("*/5 * * * *"); raises ValueError naming a bad one."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"expected a list of cron expressions like ['*/5 * * * *'], got {value!r}")
    from croniter import croniter

    for expression in value:
        if not croniter.is_valid(expression):
            raise ValueError(f"invalid cron expression {expression!r}")
    if len(set(value)) != len(value):
        raise ValueError("a cron expression is listed twice")
    return tuple(value)
