"""pyruntime: a JavaScript runtime for Python hosts.

V8 isolates with hard time, CPU and memory limits (`Isolate`), Workers-style apps served
over HTTP, and a CLI (`python -m pyruntime serve|run|repl`).
"""

from .app import WorkerApp
from .errors import (
    Error,
    IsolateClosed,
    JSError,
    LimitExceeded,
    MemoryLimitExceeded,
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
    "TimeLimitExceeded",
    "UnsettledPromise",
    "WorkerApp",
]
