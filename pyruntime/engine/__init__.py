"""pyruntime.engine: the embedding library. V8 isolates under limits, and apps loaded into them.

It imports no server library: `Isolate` (sync), `AsyncIsolate` (asyncio), `Limits`, the
errors, and `AppIsolate` for hosts that serve Workers-style apps their own way.

Names load on first use (PEP 562): a process that needs only `Limits` or the errors (the
server's supervisor) does not load V8 or the HTTP client.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: see pyruntime/__init__.py
if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads each name
    from typing import Any

    from .app_isolate import AppIsolate as AppIsolate
    from .async_isolate import AsyncIsolate as AsyncIsolate
    from .errors import Error as Error
    from .errors import IsolateClosed as IsolateClosed
    from .errors import JSError as JSError
    from .errors import LimitExceeded as LimitExceeded
    from .errors import MemoryLimitExceeded as MemoryLimitExceeded
    from .errors import Terminated as Terminated
    from .errors import TimeLimitExceeded as TimeLimitExceeded
    from .errors import UnsettledPromise as UnsettledPromise
    from .handles import JSFunction as JSFunction
    from .handles import JSObject as JSObject
    from .handles import JSPromise as JSPromise
    from .isolate import Isolate as Isolate
    from .limits import LimitError as LimitError
    from .limits import Limits as Limits
    from .protocol import FetchResult as FetchResult
    from .scripts import ScriptLoadError as ScriptLoadError
    from .scripts import WorkerScript as WorkerScript
    from .scripts import load_script as load_script

# Each public name and the module that defines it.
_EXPORTS = {
    "AppIsolate": "app_isolate",
    "AsyncIsolate": "async_isolate",
    "Error": "errors",
    "FetchResult": "protocol",
    "Isolate": "isolate",
    "IsolateClosed": "errors",
    "JSError": "errors",
    "JSFunction": "handles",
    "JSObject": "handles",
    "JSPromise": "handles",
    "LimitError": "limits",
    "LimitExceeded": "errors",
    "Limits": "limits",
    "MemoryLimitExceeded": "errors",
    "ScriptLoadError": "scripts",
    "Terminated": "errors",
    "TimeLimitExceeded": "errors",
    "UnsettledPromise": "errors",
    "WorkerScript": "scripts",
    "load_script": "scripts",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
