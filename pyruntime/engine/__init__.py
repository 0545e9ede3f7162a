"""pyruntime.engine: the embedding library. V8 isolates under limits, and apps loaded into them.

It imports no server library: `Isolate` (sync), `AsyncIsolate` (asyncio), `Limits`, the
errors, and `AppIsolate` for hosts that serve Workers-style apps their own way.
"""

from .app_isolate import AppIsolate
from .async_isolate import AsyncIsolate
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
from .handles import JSFunction, JSObject, JSPromise
from .isolate import Isolate
from .limits import LimitError, Limits
from .protocol import FetchResult
from .scripts import ScriptLoadError, WorkerScript, load_script

__all__ = [
    "AppIsolate",
    "AsyncIsolate",
    "Error",
    "FetchResult",
    "Isolate",
    "IsolateClosed",
    "JSError",
    "JSFunction",
    "JSObject",
    "JSPromise",
    "LimitError",
    "LimitExceeded",
    "Limits",
    "MemoryLimitExceeded",
    "ScriptLoadError",
    "Terminated",
    "TimeLimitExceeded",
    "UnsettledPromise",
    "WorkerScript",
    "load_script",
]
