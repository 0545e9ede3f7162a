"""pyruntime: a JavaScript runtime for Python hosts.

V8 isolates with hard time, CPU and memory limits (`Isolate`), Workers-style apps served
over HTTP, and a CLI (`python -m pyruntime serve|run|repl`).
"""

try:
    from . import _core  # noqa: F401 (checked here to give a clear message)
except ImportError as exc:  # the source tree, not an installed package
    raise ImportError(
        "pyruntime's compiled core (pyruntime._core) is not importable from "
        f"{__path__[0]}: this looks like the source tree. Run `make install`, then use "
        "`.venv/bin/pyruntime` or import pyruntime from outside the source folder.") from exc

from .app import WorkerApp
from .errors import (
    Error,
    IsolateClosed,
    JSError,
    LimitExceeded,
    MemoryLimitExceeded,
    Terminated,
    TimeLimitExceeded,
    UnsettledPromise,
)
from .isolate import Isolate

__all__ = [
    "Error",
    "Isolate",
    "IsolateClosed",
    "JSError",
    "LimitExceeded",
    "MemoryLimitExceeded",
    "Terminated",
    "TimeLimitExceeded",
    "UnsettledPromise",
    "WorkerApp",
]
