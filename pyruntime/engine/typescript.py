"""TypeScript sources (`.ts`, `.mts`): types stripped by esbuild's transform, never type-checked.

esbuild comes from npm (the Makefile installs it into the virtual environment; the
PYRUNTIME_ESBUILD variable names another binary). Its output is laid back onto the source's
own lines and columns through the source map it emits: each output line is moved down to the
line its first token came from and indented to that token's column, so that V8's errors
and stack traces point into the .ts file as written.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .resolver import ScriptLoadError

_MAP_PREFIX = "//# sourceMappingURL=data:application/json;base64,"
_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
# A transform that takes longer than this is stuck; sources are small.
_TIMEOUT_S = 60


def esbuild_binary() -> str:
    """The esbuild executable: $PYRUNTIME_ESBUILD, the one the Makefile installed, or one on PATH."""
    given = os.environ.get("PYRUNTIME_ESBUILD")
    if given:
        return given
    installed = Path(sys.prefix) / "esbuild" / "node_modules"
    for candidate in [*sorted(installed.glob("@esbuild/*/bin/esbuild")), installed / ".bin" / "esbuild"]:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("esbuild")
    if found is None:
        raise ScriptLoadError("TypeScript needs esbuild: run `make install` (it installs esbuild from npm), "
                              "or set PYRUNTIME_ESBUILD to an esbuild binary")
    return found


def strip_types(source: str, name: str) -> str:
    """JavaScript for a TypeScript module, on the source's own lines; raises ScriptLoadError
    with esbuild's message (file:line:column) for invalid TypeScript."""
    try:
        done = subprocess.run([esbuild_binary(), "--loader=ts", "--format=esm", "--sourcemap=inline",
                               f"--sourcefile={name}", "--log-level=error", "--color=false"],
                              input=source.encode("utf-8"), capture_output=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScriptLoadError(f"{name}: cannot run esbuild: {exc}") from None
    if done.returncode != 0:
        raise ScriptLoadError(f"{name}: invalid TypeScript:\n{_esbuild_errors(done.stderr.decode(errors='replace'))}")
    output = done.stdout.decode("utf-8")
    code, _, encoded = output.rpartition(_MAP_PREFIX)
    mapping = json.loads(base64.b64decode(encoded))["mappings"]
    return _align(code.rstrip("\n").split("\n"), mapping)


def _esbuild_errors(text: str) -> str:
    """esbuild's diagnostics as "file:line:column: message" lines (its own layout draws boxes)."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("✘ [ERROR]"):
            lines.append(stripped.removeprefix("✘ [ERROR]").strip())
        elif stripped and ":" in stripped and stripped.split(":")[0].endswith((".ts", ".mts")) and lines:
            lines[-1] = f"{stripped.rstrip(':')}: {lines[-1]}"
    return "\n".join(lines) or text.strip()


def _align(lines: list[str], mappings: str) -> str:
    """Places each generated line on its original line and column where it can go there
    (lines are only ever moved down, so the output stays in order)."""
    segments = _segments(mappings)
    out: list[str] = []
    for index, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" "))
        # The line's first token; esbuild also maps column 0 to where the previous token ended.
        origin = next((s for s in (segments[index] if index < len(segments) else []) if s[0] >= indent), None)
        if origin is not None:
            generated_column, source_line, source_column = origin
            while len(out) < source_line:
                out.append("")
            if generated_column == indent and source_column > indent:
                line = " " * source_column + line[indent:]
        out.append(line)
    return "\n".join(out) + "\n"


def _segments(mappings: str) -> list[list[tuple[int, int, int]]]:
    """For each generated line, its mapped segments as (generated column, original line,
    original column) (source map v3, base64 VLQ)."""
    lines: list[list[tuple[int, int, int]]] = []
    source_line = source_column = 0
    for group in mappings.split(";"):
        segments = []
        generated_column = 0
        for segment in filter(None, group.split(",")):
            fields = _vlq(segment)
            generated_column += fields[0]
            if len(fields) >= 4:
                source_line += fields[2]
                source_column += fields[3]
                segments.append((generated_column, source_line, source_column))
        lines.append(segments)
    return lines


def _vlq(segment: str) -> list[int]:
    values = []
    value = shift = 0
    for char in segment:
        digit = _B64[char]
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
        else:
            values.append(-(value >> 1) if value & 1 else value >> 1)
            value = shift = 0
    return values
