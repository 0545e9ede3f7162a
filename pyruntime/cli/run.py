"""`python -m pyruntime run FILE`: run a script or module to completion, like `node FILE`.

Top-level code runs first, then the event loop until no timers are left. Console output
goes to stdout (log, info, debug) and stderr (warn, error). Outbound `fetch` works.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..engine import Isolate, Limits
from ..engine.errors import Error, JSError, TimeLimitExceeded
from ..engine.host_ops import sync_host_ops

_RAISE_HINT = {
    "cpu": "raise it with --cpu-limit-ms N, or turn it off with --cpu-limit-ms off",
    "timeout": "raise it with --timeout-ms N, or turn it off with --timeout-ms off",
}


def run_file(path: str | Path, *, limits: Limits | None = None, stdout: TextIO | None = None,
             stderr: TextIO | None = None) -> int:
    """Runs `path`; returns the process exit code (0, or 1 after printing the error, an
    uncaught error in a timer or microtask, or an unhandled promise rejection)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr

    def console(level: str, text: str) -> None:
        print(text, file=err if level in ("warn", "error") else out, flush=True)

    try:
        with Isolate(limits=limits or Limits(total_timeout_ms=None), console=console,
                     op_handler=sync_host_ops) as iso:
            iso.run_file(path)
            iso.run_loop()
            if iso.unhandled_rejections or iso.uncaught_errors:  # as Node.js: printed, then a failing exit
                return 1
    except JSError as exc:
        print(f"Uncaught {exc.stack}", file=err)
        return 1
    except TimeLimitExceeded as exc:
        hint = _RAISE_HINT.get(exc.limit)
        print(f"pyruntime: TimeLimitExceeded: {exc}" + (f" ({hint})" if hint else ""), file=err)
        return 1
    except Error as exc:
        print(f"pyruntime: {type(exc).__name__}: {exc}", file=err)
        return 1
    return 0
