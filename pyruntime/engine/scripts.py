"""Loading worker scripts into a runtime: module graphs and service-worker scripts.

The C++ core does no file I/O: this module reads files, resolves relative imports
inside the app's folder (never outside it, never bare or remote specifiers), and hands
sources to the core, which compiles and links them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import _core
from .driver import check_outcome
from .errors import Error, JSError
from .limits import Limits

# A top-level `import`/`export` statement marks an ES module.
_MODULE_SYNTAX = re.compile(r"^\s*(import\s*[\w{*'\"]|export\s)", re.MULTILINE)


class ScriptLoadError(Error):
    """A worker script or one of its imports cannot be found, read or resolved."""


@dataclass
class WorkerScript:
    """An app's code, read once and installed into each isolate of its pool.

    For a module worker, `sources` holds every module of the graph in the order they were
    compiled (entry first) and `links` how each import resolves; a service-worker script
    is one classic script.
    """

    path: Path
    kind: str
    main: str
    sources: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str, str]] = field(default_factory=list)


def script_kind(path: Path, source: str) -> str:
    """"module" for ES modules, "service-worker" for classic scripts."""
    if path.suffix == ".mjs":
        return "module"
    if path.suffix == ".cjs":
        return "service-worker"
    return "module" if _MODULE_SYNTAX.search(source) else "service-worker"


def read_script(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptLoadError(f"script not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptLoadError(f"cannot read script {path}: {exc}") from None


def module_name(root: Path, path: Path) -> str:
    """Modules are named by their path inside the app's folder: stack traces show no host paths."""
    return path.relative_to(root).as_posix()


def resolve_import(root: Path, referrer: str, specifier: str) -> Path:
    """The file a relative import names; refuses anything outside the app's folder."""
    if not specifier.startswith(("./", "../")):
        raise ScriptLoadError(
            f"{referrer}: cannot import {specifier!r}: only relative imports of files in the app's folder "
            "('./x.js', '../lib/y.js') are supported")
    target = (root / PurePosixPath(referrer).parent / specifier).resolve()
    if not target.is_relative_to(root):
        raise ScriptLoadError(f"{referrer}: import {specifier!r} points outside the app's folder")
    if not target.is_file():
        raise ScriptLoadError(f"{referrer}: imported module {specifier!r} not found")
    return target


def raise_load_error(outcome: _core.Outcome, what: str) -> None:
    """Raises the error of a failed load step, naming what was being loaded."""
    if outcome.status == "js_error":
        raise JSError(outcome.error_name, f"{what}: {outcome.error_message}", outcome.error_stack)
    check_outcome(outcome)


def load_script(path: str | Path, runtime: _core.Runtime | None = None,
                kind: str | None = None) -> WorkerScript:
    """Reads an app's entry script and, for a module worker, every module it imports.

    Imports are discovered by compiling each module (in `runtime`, or a throwaway one).
    """
    path = Path(path).resolve()
    source = read_script(path)
    kind = kind or script_kind(path, source)
    if kind not in ("module", "service-worker"):
        raise ScriptLoadError(f"unknown script type {kind!r}: expected 'module' or 'service-worker'")
    root = path.parent
    main = module_name(root, path)
    script = WorkerScript(path=path, kind=kind, main=main, sources={main: source})
    if kind == "service-worker":
        return script
    probe = runtime or _core.Runtime(*Limits().core_args())
    pending = [main]
    while pending:
        name = pending.pop()
        outcome = probe.compile_module(name, script.sources[name])
        if outcome.status != "ok":
            raise_load_error(outcome, f"cannot load {name}")
        for specifier in outcome.value:
            target = resolve_import(root, name, specifier)
            resolved = module_name(root, target)
            script.links.append((name, specifier, resolved))
            if resolved not in script.sources:
                script.sources[resolved] = read_script(target)
                pending.append(resolved)
    return script
