"""Loading worker scripts into a runtime: module graphs and service-worker scripts.

The C++ core does no file I/O: this module reads files, resolves imports (resolver.py: the
app's own files and npm packages under the project root, nothing outside it), turns JSON
and TypeScript into JavaScript modules, and hands sources to the core, which compiles and
links them.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .. import _core
from . import compile_cache
from .driver import check_outcome
from .errors import JSError
from .limits import Limits
from .resolver import FORMATS, WORKERS_MODULE, Resolved, ResolveError, Resolver, ScriptLoadError, commonjs_error
from .typescript import strip_types

__all__ = ["ResolveError", "ScriptLoadError", "WorkerScript", "load_script", "script_kind"]

# What CommonJS code does; looked for only in package files not declared as ES modules
# whose module compile found no imports.
_COMMONJS = re.compile(r"\bmodule\.exports\b|\bexports\.[\w$]+\s*=|\brequire\s*\(")


@dataclass
class WorkerScript:
    """An app's code, read once and installed into each isolate of its pool.

    For a module worker, `sources` holds every module of the graph in the order they were
    compiled (entry first) and `links` how each import resolves; a service-worker script
    is one classic script. Module names are paths inside `root` (the project root).

    `code_cache` holds V8's compiled code of each module, taken from the first isolate that
    answered a request: isolates loaded later (pool growth, replacements) start with the
    request path compiled instead of compiling it on their first request.
    """

    path: Path
    kind: str
    main: str
    sources: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str, str]] = field(default_factory=list)
    root: Path | None = None
    code_cache: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def files(self) -> list[Path]:
        """Every file the app was loaded from."""
        root = self.root or self.path.parent
        return [root / name for name in self.sources]


def script_kind(path: Path, source: str, runtime: _core.Runtime | _Probe, package_type: str | None = None) -> str:
    """"module" or "service-worker", decided by parsing: the extension, then the nearest
    package.json `type`, then whether V8 accepts the source as a classic script body
    (`import`/`export` and top-level `await` are syntax errors there)."""
    fmt = FORMATS.get(path.suffix)
    if fmt == "module":
        return "module"
    if fmt == "commonjs":
        return "service-worker"
    if package_type == "module":
        return "module"
    outcome = runtime.eval(f"new Function({json.dumps(source)});", "<script kind check>", False)
    if outcome.status == "js_error" and outcome.error_name == "SyntaxError":
        return "module"
    return "service-worker"


def read_script(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptLoadError(f"script not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptLoadError(f"cannot read script {path}: {exc}") from None


def module_source(path: Path, name: str) -> str:
    """A file as JavaScript module source: JSON becomes a module whose default export is the
    value; TypeScript has its types stripped."""
    source = read_script(path)
    if path.suffix == ".json":
        try:
            json.loads(source)
        except ValueError as exc:
            raise ScriptLoadError(f"{name}: invalid JSON: {exc}") from None
        return f"export default {source.strip()};\n"
    if path.suffix in (".ts", ".mts"):
        return strip_types(source, name)
    return source


def raise_load_error(outcome: _core.Outcome, what: str) -> None:
    """Raises the error of a failed load step, naming what was being loaded."""
    if outcome.status == "js_error":
        raise JSError(outcome.error_name, f"{what}: {outcome.error_message}", outcome.error_stack)
    check_outcome(outcome)


class _Probe:
    """The isolate load_script compiles modules in, only to list their imports, and checks a
    script's kind in: one shared by every load, since a new isolate per app cost as much as
    loading the app itself. Each step holds it alone, so loads in other threads (file reads,
    TypeScript stripping) go on meanwhile. Compiled modules stay in it until it is replaced,
    past a heap size or a number of steps."""

    MAX_HEAP_BYTES = 32 << 20
    MAX_STEPS = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runtime: _core.Runtime | None = None
        self._steps = 0

    def compile_module(self, name: str, source: str) -> _core.Outcome:
        with self._lock:
            return self._fresh().compile_module(name, source)

    def eval(self, source: str, filename: str, use_result: bool) -> _core.Outcome:
        with self._lock:
            return self._fresh().eval(source, filename, use_result)

    def warm(self) -> None:
        """Makes the probe's isolate (and this process's snapshot) now, not at the first load."""
        with self._lock:
            if self._runtime is None:
                self._fresh()
                self._steps = 0

    def _fresh(self) -> _core.Runtime:
        runtime = self._runtime
        if runtime is None or not runtime.alive or self._steps >= self.MAX_STEPS \
                or runtime.heap_statistics()["used_heap_size"] > self.MAX_HEAP_BYTES:
            if runtime is not None:
                runtime.close()
            runtime = self._runtime = compile_cache.new_runtime(Limits().core_args())
            self._steps = 0
        self._steps += 1
        return runtime


_probe = _Probe()


def start_warming() -> threading.Thread:
    """Starts making what the first `load_script` needs (the snapshot, the probe's isolate) on
    a thread of its own. That is V8's work, done without the GIL: a server starting up does it
    on another core while it imports its own modules. A failure here is left to that first
    load, which does the same work again and reports it. Not a daemon thread: a process that
    exits meanwhile (stopped while it starts) waits for it, rather than run its exit handlers
    under V8's work."""
    def warm() -> None:
        try:
            _probe.warm()
        except Exception:  # the first load makes the probe again and raises the error itself
            return

    thread = threading.Thread(target=warm, name="pyruntime-warm")
    thread.start()
    return thread


def load_script(path: str | Path, runtime: _core.Runtime | None = None, kind: str | None = None,
                root: str | Path | None = None) -> WorkerScript:
    """Reads an app's entry script and, for a module worker, every module it imports.

    `root` is the project root imports may reach (default: the entry's folder). Imports are
    discovered by compiling each module (in `runtime`, or the shared probe isolate).
    """
    return _load(Path(path), runtime or _probe, kind, root)


def _load(path: Path, probe: _core.Runtime | _Probe, kind: str | None, root: str | Path | None) -> WorkerScript:
    path = path.resolve()
    if not path.is_file():
        raise ScriptLoadError(f"script not found: {path}")
    resolver = Resolver(path.parent, Path(root) if root is not None else None)
    main = resolver.name(path)
    source = module_source(path, main)
    kind = kind or script_kind(path, source, probe, resolver.package_type(path))
    if kind not in ("module", "service-worker"):
        raise ScriptLoadError(f"unknown script type {kind!r}: expected 'module' or 'service-worker'")
    script = WorkerScript(path=path, kind=kind, main=main, sources={main: source}, root=resolver.root)
    if kind == "service-worker":
        return script
    files = {main: Resolved(path, None, True)}
    pending = [main]
    while pending:
        name = pending.pop()
        outcome = probe.compile_module(name, script.sources[name])
        if outcome.status != "ok":
            raise_load_error(outcome, f"cannot load {name}")
        module = files[name]
        if module.package is not None and not module.esm and not outcome.value \
                and _COMMONJS.search(script.sources[name]):
            raise commonjs_error(module.package, name)
        for specifier in outcome.value:
            if specifier == WORKERS_MODULE:
                continue
            target = resolver.resolve(module.path, specifier)
            resolved = resolver.name(target.path)
            script.links.append((name, specifier, resolved))
            if resolved not in script.sources:
                if target.path.suffix == ".cjs":
                    raise commonjs_error(target.package or resolved, name)
                script.sources[resolved] = module_source(target.path, resolved)
                files[resolved] = target
                pending.append(resolved)
    script.code_cache.update(compile_cache.module_code(script.sources))
    return script
