"""Compiled code kept on disk between processes of the same build.

A process makes the startup snapshot once (the bootstrap JS and its warm-up, about 150 ms:
ext/startup_snapshot.cc), and an app's first isolate compiles the app's code as its first
requests call it. Both are kept here, so that a server that starts again, its next worker
or an app's engine process begins with them:

- the snapshot blob, keyed by the compiled core and the libnode it links (path, size, mtime);
- each app module's V8 code cache, keyed by the same and the module's source.

The folder is `PYRUNTIME_CACHE_DIR`, else `$XDG_CACHE_HOME/pyruntime`, else
`~/.cache/pyruntime`; `PYRUNTIME_CACHE_DIR=off` keeps nothing. What is in it runs in every
isolate, so it is used only if it belongs to this user and no one else may write to it. Each
file starts with the SHA-256 of its payload; one that does not match, or that V8 refuses, is
ignored and replaced. The oldest files go past `MAX_FILES`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from functools import cache
from pathlib import Path

from .. import _core

MAX_FILES = 512
_DIGEST = 32

_snapshot_lock = threading.Lock()
_snapshot_ready = False
# Where this process's snapshot came from: "kept" (this folder), "made" (and kept), or
# "made only" (caching is off, or the warm-up failed); None before the first isolate.
snapshot_origin: str | None = None


@cache
def folder() -> Path | None:
    """The cache folder, created if needed; None if caching is off or the folder is not safe."""
    setting = os.environ.get("PYRUNTIME_CACHE_DIR")
    if setting is not None and setting.strip().lower() in ("", "off", "0", "false"):
        return None
    if setting:
        path = Path(setting)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "pyruntime"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return path


@cache
def _build() -> str:
    """What identifies this build: a blob or code cache made by another is never used."""
    core = Path(_core.__file__)
    parts = [core, *sorted(core.parent.glob("libnode.so*"))]
    digest = hashlib.sha256()
    for part in parts:
        info = part.stat()
        digest.update(f"{part.resolve()}:{info.st_size}:{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _key(kind: str, content: bytes = b"") -> str:
    digest = hashlib.sha256(_build().encode() + b"\0" + content).hexdigest()
    return f"{kind}-{digest[:40]}.bin"


def read(name: str) -> bytes | None:
    """A kept payload, or None if it is missing or damaged."""
    where = folder()
    if where is None:
        return None
    try:
        data = (where / name).read_bytes()
    except OSError:
        return None
    payload = data[_DIGEST:]
    if len(data) < _DIGEST or hashlib.sha256(payload).digest() != data[:_DIGEST]:
        return None
    return payload


def write(name: str, payload: bytes) -> None:
    """Keeps a payload (atomically: a reader sees the old file or the whole new one)."""
    where = folder()
    if where is None:
        return
    try:
        handle, temporary = tempfile.mkstemp(dir=where, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, where / name)
        _prune(where)
    except OSError:
        return


def _prune(where: Path) -> None:
    files = sorted(where.glob("*.bin"), key=lambda f: f.stat().st_mtime_ns)
    for old in files[:-MAX_FILES]:
        old.unlink(missing_ok=True)


def prepare_snapshot() -> None:
    """Before this process's first isolate: starts from the kept snapshot, or makes one and
    keeps it. Later calls return at once."""
    global _snapshot_ready, snapshot_origin
    if _snapshot_ready:
        return
    with _snapshot_lock:
        if _snapshot_ready:
            return
        name = _key("snapshot")
        kept = read(name)
        if kept is not None and _core.use_snapshot_blob(kept):
            snapshot_origin = "kept"
        else:
            blob = _core.snapshot_blob()
            snapshot_origin = "made only"
            if folder() is not None and _core.snapshot_warmup_error() is None:  # a cold blob is not worth keeping
                write(name, blob)
                snapshot_origin = "made"
        _snapshot_ready = True


def new_runtime(limits: tuple[int, float, float]) -> _core.Runtime:
    """A core runtime (`Limits.core_args()`): the engine's one way to make one, so that every
    process starts its isolates from the kept snapshot."""
    prepare_snapshot()
    return _core.Runtime(*limits)


def module_code(sources: dict[str, str]) -> dict[str, bytes]:
    """The kept code caches of an app's modules: all of them, or none."""
    found = {}
    for name, source in sources.items():
        code = read(_key("module", source.encode("utf-8", "surrogatepass")))
        if code is None:
            return {}
        found[name] = code
    return found


def keep_module_code(sources: dict[str, str], code: dict[str, bytes]) -> None:
    for name, data in code.items():
        write(_key("module", sources[name].encode("utf-8", "surrogatepass")), data)
