"""pyruntime: a JavaScript runtime for Python hosts.

V8 isolates with hard time, CPU and memory limits (`Isolate`, `AsyncIsolate`), Workers-style
apps served over HTTP (`WorkerApp`), and a CLI (`python -m pyruntime serve|run|repl`).

Every name loads on first use: the engine's (`Isolate`, ...) with V8, the server's
(`WorkerApp`, `AppLimits`) with its libraries (Starlette, prometheus_client). So the CLI's
supervisor, which only starts and watches processes, loads neither.
"""

from __future__ import annotations

import importlib

from .engine import __all__ as _ENGINE_NAMES

# Not typing.TYPE_CHECKING: `serve`'s supervisor forks its first worker before importing
# typing (cli/serve.py). Type checkers take any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads each name
    from typing import Any

    from .engine import *  # noqa: F403
    from .server.app import WorkerApp as WorkerApp
    from .server.config import AppLimits as AppLimits

_SERVER_NAMES = {"WorkerApp": "pyruntime.server.app", "AppLimits": "pyruntime.server.config"}


def _core_module() -> Any:
    """The compiled core, or an ImportError that says how to build it."""
    try:
        return importlib.import_module(f"{__name__}._core")
    except ImportError as exc:  # a source tree without a built extension
        raise ImportError(
            "pyruntime's compiled core (pyruntime._core) is not importable from "
            f"{__file__.rsplit('/', 1)[0]}: run `make install` first (it builds the extension in place too).") from exc


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        value = getattr(importlib.import_module(_SERVER_NAMES[name]), name)
    elif name in _ENGINE_NAMES:
        _core_module()
        value = getattr(importlib.import_module(".engine", __name__), name)
    elif name == "_core":
        value = _core_module()
    else:
        raise AttributeError(f"module 'pyruntime' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [*_ENGINE_NAMES, *_SERVER_NAMES]
