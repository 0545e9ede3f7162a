"""pyruntime: a JavaScript runtime for Python hosts.

V8 isolates with hard time, CPU and memory limits (`Isolate`, `AsyncIsolate`), Workers-style
apps served over HTTP (`WorkerApp`), and a CLI (`python -m pyruntime serve|run|repl`).

`import pyruntime` loads the engine only; the server's names (`WorkerApp`, `AppLimits`) and
its libraries (Starlette, prometheus_client) load on first use.
"""

from typing import Any

try:
    from . import _core  # noqa: F401 (checked here to give a clear message)
except ImportError as exc:  # a source tree without a built extension
    raise ImportError(
        "pyruntime's compiled core (pyruntime._core) is not importable from "
        f"{__path__[0]}: run `make install` first (it builds the extension in place too).") from exc

from . import engine
from .engine import *  # noqa: F403 (the engine's public names are the package's)

_SERVER_NAMES = {"WorkerApp": "pyruntime.server.app", "AppLimits": "pyruntime.server.config"}


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        import importlib

        return getattr(importlib.import_module(_SERVER_NAMES[name]), name)
    raise AttributeError(f"module 'pyruntime' has no attribute {name!r}")


__all__ = [*engine.__all__, *_SERVER_NAMES]
