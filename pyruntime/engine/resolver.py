"""Module resolution as Workers' bundlers and Node resolve it, confined to a project root.

- Relative specifiers ("./x.js", "../lib/y") name files; bundlers also accept a missing
  extension or a folder's index, and so do we.
- Bare specifiers ("hono", "hono/cors", "@scope/pkg/sub") are looked up in `node_modules`
  folders from the importing file's folder up to the root.
- A package's `package.json` `exports` (subpaths, patterns "./*", condition objects tried in
  the order `CONDITIONS`), else `module`, else `main`; "#name" specifiers through the
  nearest `package.json` `imports`.

Nothing outside the root is readable: every candidate is resolved through its symlinks and
checked against the root before it is read. The root is the app's folder or, for a monorepo
whose `node_modules` is hoisted, a folder above it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import Error

# Condition names matched in `exports`/`imports`, in priority order ("require" never matches:
# only ES modules load).
CONDITIONS = ("workerd", "worker", "browser", "import", "default")
# Extensions tried, in order, for an import that names none (as bundlers do).
EXTENSIONS = (".js", ".mjs", ".ts", ".mts", ".json")
# How a resolved file is loaded.
FORMATS = {".mjs": "module", ".mts": "module", ".ts": "module", ".json": "json", ".cjs": "commonjs"}
# The one built-in module: the core makes it (ext/runtime_modules.cc), so it has no file.
WORKERS_MODULE = "cloudflare:workers"


class ScriptLoadError(Error):
    """A worker script or one of its imports cannot be found, read or resolved."""


class ResolveError(ScriptLoadError):
    """An import cannot be resolved to a file inside the project root."""


@dataclass(frozen=True)
class Resolved:
    """A file an import resolved to. `package` names the npm package it belongs to (None for
    the app's own files); `esm` is True when its package declares it an ES module (an
    "import"-like condition, `module`, `.mjs`, or `"type": "module"`)."""

    path: Path
    package: str | None
    esm: bool


def _split_package(specifier: str) -> tuple[str, str]:
    """"@scope/name/sub/path" -> ("@scope/name", "./sub/path"); "name" -> ("name", ".")."""
    parts = specifier.split("/")
    count = 2 if specifier.startswith("@") else 1
    if len(parts) < count or not all(parts[:count]) or any(p in (".", "..") for p in parts[:count]):
        raise ValueError(specifier)
    rest = "/".join(parts[count:])
    return "/".join(parts[:count]), "./" + rest if rest else "."


class Resolver:
    """Resolves the imports of one app; package.json files are read once each."""

    def __init__(self, app_dir: Path, root: Path | None = None) -> None:
        self.app_dir = app_dir.resolve()
        self.root = (root or app_dir).resolve()
        if not self.app_dir.is_relative_to(self.root):
            raise ResolveError(f"the project root {self.root} does not contain the app's folder {self.app_dir}")
        self._manifests: dict[Path, dict[str, Any] | None] = {}

    def name(self, path: Path) -> str:
        """A module's name: its path inside the root (stack traces show no host paths)."""
        return path.relative_to(self.root).as_posix()

    def inside(self, path: Path) -> Path | None:
        """`path` with its symlinks resolved, or None if that lies outside the root."""
        real = path.resolve()
        return real if real.is_relative_to(self.root) else None

    def resolve(self, referrer: Path, specifier: str) -> Resolved:
        """The file `specifier`, imported by the file `referrer`, names."""
        where = self.name(referrer)
        if specifier.startswith(("./", "../", "/")) or specifier in (".", ".."):
            if specifier.startswith("/"):
                raise ResolveError(f"{where}: cannot import {specifier!r}: use a relative path ('./x.js')")
            target = self._file(referrer.parent / specifier, where, specifier)
            package = self._package_of(target)
            return Resolved(target, package[0] if package else None, self._esm(target, package))
        if specifier.startswith("#"):
            return self._import_map(referrer, specifier, where)
        if ":" in specifier.split("/")[0]:
            raise ResolveError(f"{where}: cannot import {specifier!r}: URL and built-in module specifiers "
                               f"(node:, cloudflare:, https:) are not supported, except {WORKERS_MODULE!r}")
        try:
            package, subpath = _split_package(specifier)
        except ValueError:
            raise ResolveError(f"{where}: invalid package specifier {specifier!r}") from None
        folder = self._find_package(referrer.parent, package)
        if folder is None:
            raise ResolveError(f"{where}: cannot find package {package!r} (imported as {specifier!r}): "
                               f"no node_modules/{package} between the importing file and the project root "
                               "(run `npm install`?)")
        return self._package_entry(folder, package, subpath, specifier, where)

    def _find_package(self, start: Path, package: str) -> Path | None:
        folder = start
        while True:
            candidate = folder / "node_modules" / package
            if candidate.is_dir():
                real = self.inside(candidate)
                if real is None:
                    raise ResolveError(f"package {package!r} at {self.name_or_path(candidate)} links outside "
                                       "the project root")
                return real
            if folder == self.root or not folder.is_relative_to(self.root):
                return None
            folder = folder.parent

    def name_or_path(self, path: Path) -> str:
        return self.name(path) if path.is_relative_to(self.root) else str(path)

    def _package_entry(self, folder: Path, package: str, subpath: str, specifier: str, where: str) -> Resolved:
        manifest = self._manifest(folder) or {}
        exports = manifest.get("exports")
        if exports is not None:
            target, esm_condition = self._exports(exports, subpath, package, specifier, where)
            path = self._file(folder / target, where, specifier, exact=True)
            return Resolved(path, package, esm_condition or self._esm(path, (package, manifest)))
        if subpath != ".":
            path = self._file(folder / subpath, where, specifier)
            return Resolved(path, package, self._esm(path, (package, manifest)))
        for field_name, esm in (("module", True), ("main", False)):
            entry = manifest.get(field_name)
            if isinstance(entry, str) and entry:
                path = self._file(folder / entry, where, specifier)
                return Resolved(path, package, esm or self._esm(path, (package, manifest)))
        path = self._file(folder / "index.js", where, specifier)
        return Resolved(path, package, self._esm(path, (package, manifest)))

    def _exports(self, exports: Any, subpath: str, package: str, specifier: str, where: str) -> tuple[str, bool]:
        """The target of `subpath` in an `exports` field, and whether an ESM condition chose it."""
        if isinstance(exports, str | list) or (isinstance(exports, dict) and not any(
                key.startswith(".") for key in exports)):
            exports = {".": exports}
        if not isinstance(exports, dict):
            raise ResolveError(f"package {package!r}: invalid \"exports\" in package.json")
        found = _match_map(exports, subpath)
        not_exported = ResolveError(f"{where}: package {package!r} does not export {subpath!r} "
                                    f"(imported as {specifier!r}; see its package.json \"exports\")")
        if found is None:
            raise not_exported
        value, star = found
        target = _conditional(value)
        if target is None:
            if _has_condition(value, "require"):
                raise commonjs_error(package, where)
            raise not_exported
        path, esm = target
        if star is not None:
            path = path.replace("*", star)
        if not path.startswith("./") or ".." in PurePosixPath(path).parts or "node_modules" in path:
            raise ResolveError(f"package {package!r}: invalid export target {path!r}")
        return path, esm

    def _import_map(self, referrer: Path, specifier: str, where: str) -> Resolved:
        package = self._package_of(referrer)
        imports = package[1].get("imports") if package else None
        found = _match_map(imports, specifier) if isinstance(imports, dict) else None
        target = _conditional(found[0]) if found else None
        if target is None or package is None:
            raise ResolveError(f"{where}: {specifier!r} is not defined in the \"imports\" of the nearest "
                               "package.json")
        path, esm = target
        if found and found[1] is not None:
            path = path.replace("*", found[1])
        if path.startswith("./"):
            folder = self._manifest_folder(referrer)
            assert folder is not None
            resolved = self._file(folder / path, where, specifier, exact=True)
            return Resolved(resolved, package[0], esm or self._esm(resolved, package))
        return self.resolve(referrer, path)  # "#dep": "some-package"

    def _file(self, path: Path, where: str, specifier: str, *, exact: bool = False) -> Path:
        """The file a path names, with bundlers' fallbacks (extension, folder index) unless `exact`."""
        candidates = [path]
        if not exact:
            candidates += [path.with_name(path.name + ext) for ext in EXTENSIONS]
            candidates += [path / ("index" + ext) for ext in EXTENSIONS]
        for candidate in candidates:
            if candidate.is_file():
                real = self.inside(candidate)
                if real is None:
                    raise ResolveError(f"{where}: import {specifier!r} points outside the project root")
                return real
        if not Path(os.path.normpath(path)).is_relative_to(self.root):
            raise ResolveError(f"{where}: import {specifier!r} points outside the project root")
        raise ResolveError(f"{where}: imported module {specifier!r} not found")

    def _manifest(self, folder: Path) -> dict[str, Any] | None:
        if folder not in self._manifests:
            file = folder / "package.json"
            manifest = None
            if file.is_file() and self.inside(file) is not None:
                try:
                    manifest = json.loads(file.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, ValueError) as exc:
                    raise ResolveError(f"{self.name_or_path(file)}: invalid package.json: {exc}") from None
                if not isinstance(manifest, dict):
                    raise ResolveError(f"{self.name_or_path(file)}: invalid package.json: not an object")
            self._manifests[folder] = manifest
        return self._manifests[folder]

    def _manifest_folder(self, file: Path) -> Path | None:
        """The folder of the package.json nearest to `file`, within the root."""
        folder = file.parent
        while folder.is_relative_to(self.root):
            if self._manifest(folder) is not None:
                return folder
            if folder == self.root:
                break
            folder = folder.parent
        return None

    def _package_of(self, file: Path) -> tuple[str, dict[str, Any]] | None:
        """(name, manifest) of the package.json nearest to `file`."""
        folder = self._manifest_folder(file)
        if folder is None:
            return None
        manifest = self._manifests[folder] or {}
        return str(manifest.get("name") or folder.name), manifest

    def package_type(self, file: Path) -> str | None:
        """The `type` of the nearest package.json ("module", "commonjs") or None."""
        package = self._package_of(file)
        kind = package[1].get("type") if package else None
        return kind if isinstance(kind, str) else None

    def _esm(self, path: Path, package: tuple[str, dict[str, Any]] | None) -> bool:
        fmt = FORMATS.get(path.suffix)
        if fmt is not None:
            return fmt != "commonjs"
        return bool(package) and package[1].get("type") == "module"  # type: ignore[index]


def _match_map(table: dict[str, Any], key: str) -> tuple[Any, str | None] | None:
    """The entry of an exports/imports map for `key`: exact, else the longest "prefix*suffix"
    pattern; returns (value, what "*" matched)."""
    if key in table and "*" not in key:
        return table[key], None
    best: tuple[Any, str | None] | None = None
    best_prefix = -1
    for pattern, value in table.items():
        if pattern.count("*") != 1:
            continue
        prefix, suffix = pattern.split("*")
        if key.startswith(prefix) and key.endswith(suffix) and len(key) >= len(prefix) + len(suffix) \
                and len(prefix) > best_prefix:
            best = (value, key[len(prefix):len(key) - len(suffix)])
            best_prefix = len(prefix)
    return best


def _conditional(value: Any, esm: bool = False) -> tuple[str, bool] | None:
    """The path a target (string, condition object or fallback list) selects, and whether an
    ES-module condition chose it; None if nothing applies (or the target is null)."""
    if isinstance(value, str):
        return value, esm
    if isinstance(value, list):
        for item in value:
            found = _conditional(item, esm)
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for condition in CONDITIONS:
            if condition in value:
                found = _conditional(value[condition], esm or condition != "default")
                if found is not None:
                    return found
    return None


def _has_condition(value: Any, condition: str) -> bool:
    if isinstance(value, dict):
        return condition in value or any(_has_condition(v, condition) for v in value.values())
    if isinstance(value, list):
        return any(_has_condition(v, condition) for v in value)
    return False


def commonjs_error(package: str, where: str) -> ResolveError:
    """The error for a CommonJS-only package."""
    return ResolveError(f"{where}: package {package!r} is CommonJS only (require/module.exports), which "
                        "pyruntime does not load: bundle the app with a bundler (esbuild, wrangler) "
                        "or use an ES-module build of the package")

