"""Where JS `console.*` output goes by default: Python's `logging`, visible without set-up.

A console sink is `sink(method, text)`. The default logs to the `pyruntime.console` logger
at the method's level; while logging is not configured at all (no handler anywhere), it
prints instead, as Node does (log/info/debug to stdout, warn/error to stderr), so that a
first `console.log` is never silently lost.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

ConsoleSink = Callable[[str, str], None]

LOGGER = logging.getLogger("pyruntime.console")
LEVELS = {"debug": logging.DEBUG, "trace": logging.DEBUG, "info": logging.INFO, "log": logging.INFO,
          "warn": logging.WARNING, "error": logging.ERROR}


def log_console(method: str, text: str) -> None:
    """The default console sink."""
    if LOGGER.hasHandlers():
        LOGGER.log(LEVELS.get(method, logging.INFO), "%s", text)
        return
    stream = sys.stderr if method in ("warn", "error") else sys.stdout
    print(text, file=stream, flush=True)
