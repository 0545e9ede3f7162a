"""Embeds the bootstrap files of ext/js/ into a C++ source file.

Usage: python embed_js.py OUTPUT.cc JS_DIR

Files run in the order of their names (NN_ prefixes), so the order is the listing's.
warmup/snapshot_warmup.js is embedded apart: it runs only while the snapshot is built.
Bytes are written as integer arrays: no escaping rules to get wrong.

Each non-ASCII character is written as its \\u escape, which means the same in comments,
strings, regular expressions and identifiers. V8 keeps every file's source in each isolate
(lazy compilation and Function.prototype.toString read it), and one non-ASCII character,
such as a § in a comment, makes it keep the whole file as two bytes per character.
"""

import sys
from pathlib import Path


def ascii_source(path: Path) -> bytes:
    """The file's text with every non-ASCII character as \\uXXXX (a UTF-16 pair above U+FFFF)."""
    out = []
    for char in path.read_text(encoding="utf-8"):
        if char.isascii():
            out.append(char)
        else:
            units = char.encode("utf-16-be")
            out.extend(f"\\u{units[i]:02X}{units[i + 1]:02X}" for i in range(0, len(units), 2))
    return "".join(out).encode("ascii")


def main(output: str, js_dir: str) -> None:
    files = sorted(Path(js_dir).glob("[0-9][0-9]_*.js"))
    warmup = Path(js_dir) / "warmup" / "snapshot_warmup.js"
    lines = ['#include "js_sources.h"', "", "namespace pyruntime {", "namespace {"]
    sources = [ascii_source(path) for path in files]
    for index, data in enumerate(sources):
        body = ",".join(str(b) for b in data)
        lines.append(f"const unsigned char kFile{index}[] = {{{body},0}};")
    warmup_source = ascii_source(warmup)
    body = ",".join(str(b) for b in warmup_source)
    lines.append(f"const unsigned char kWarmupFile[] = {{{body},0}};")
    lines.append("}  // namespace")
    lines.append("const JsSource kJsSources[] = {")
    for index, (path, data) in enumerate(zip(files, sources, strict=True)):
        lines.append(f'  {{"{path.name}", reinterpret_cast<const char*>(kFile{index}), {len(data)}}},')
    if not files:
        lines.append('  {"", "", 0},')
    lines.append("};")
    lines.append(f"const size_t kJsSourceCount = {len(files)};")
    lines.append(f'const JsSource kWarmupSource = {{"{warmup.name}", reinterpret_cast<const char*>(kWarmupFile), '
                 f"{len(warmup_source)}}};")
    lines.append("}  // namespace pyruntime")
    text = "\n".join(lines) + "\n"
    out = Path(output)
    if not out.exists() or out.read_text() != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
