"""`python -m pyruntime run FILE`: run a script or module to completion, like `node FILE`.

Top-level code runs first, then the event loop until no timers are left. Console output
goes to stdout (log, info, debug) and stderr (warn, error). Outbound `fetch` works.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .errors import Error, JSError
from .host_ops import sync_host_ops
from .isolate import Isolate


def run_file(path: str | Path, *, timeout_ms: float | None = 50, cpu_limit_ms: float | None = 50,
             memory_limit_mb: int = 128, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Runs `path`; returns the process exit code (0, or 1 after printing the error or an
    unhandled promise rejection).

    A time limit of 0 disables it, as None does.
    """
    timeout_ms = timeout_ms or None
    cpu_limit_ms = cpu_limit_ms or None
    out = stdout or sys.stdout
    err = stderr or sys.stderr

    def console(level: str, text: str) -> None:
        print(text, file=err if level in ("warn", "error") else out, flush=True)

    try:
        isolate = Isolate(memory_limit_mb, timeout_ms, cpu_limit_ms, total_timeout_ms=None, console=console,
                          op_handler=sync_host_ops)
        with isolate as iso:
            iso.run_file(path)
            iso.run_loop()
            if iso.unhandled_rejections:  # as Node.js does: printed, then a failing exit
                return 1
    except JSError as exc:
        print(f"Uncaught {exc.stack}", file=err)
        return 1
    except (Error, ValueError) as exc:  # ValueError: a bad limit
        print(f"pyruntime: {type(exc).__name__}: {exc}", file=err)
        return 1
    return 0
