"""Embeds the bootstrap files of ext/js/ into a C++ source file.

Usage: python embed_js.py OUTPUT.cc JS_DIR

Files run in the order of their names (NN_ prefixes), so the order is the listing's.
warmup/snapshot_warmup.js is embedded apart: it runs only while the snapshot is built.
Bytes are written as integer arrays: no escaping rules to get wrong.
"""

import sys
from pathlib import Path


def main(output: str, js_dir: str) -> None:
    files = sorted(Path(js_dir).glob("[0-9][0-9]_*.js"))
    warmup = Path(js_dir) / "warmup" / "snapshot_warmup.js"
    lines = ['#include "js_sources.h"', "", "namespace pyruntime {", "namespace {"]
    for index, path in enumerate(files):
        data = path.read_bytes()
        body = ",".join(str(b) for b in data)
        lines.append(f"const unsigned char kFile{index}[] = {{{body},0}};")
    body = ",".join(str(b) for b in warmup.read_bytes())
    lines.append(f"const unsigned char kWarmupFile[] = {{{body},0}};")
    lines.append("}  // namespace")
    lines.append("const JsSource kJsSources[] = {")
    for index, path in enumerate(files):
        lines.append(f'  {{"{path.name}", reinterpret_cast<const char*>(kFile{index}), {path.stat().st_size}}},')
    if not files:
        lines.append('  {"", "", 0},')
    lines.append("};")
    lines.append(f"const size_t kJsSourceCount = {len(files)};")
    lines.append(f'const JsSource kWarmupSource = {{"{warmup.name}", reinterpret_cast<const char*>(kWarmupFile), '
                 f"{warmup.stat().st_size}}};")
    lines.append("}  // namespace pyruntime")
    text = "\n".join(lines) + "\n"
    out = Path(output)
    if not out.exists() or out.read_text() != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
