"""Embeds the bootstrap files of ext/js/ into a C++ source file.

Usage: python embed_js.py OUTPUT.cc JS_DIR

Files run in the order of their names (NN_ prefixes), so the order is the listing's.
warmup/snapshot_warmup.js is embedded apart: it runs only while the snapshot is built.
Bytes are written as integer arrays: no escaping rules to get wrong.

Each file is embedded as the whole script V8 compiles: wrapped in
`(function (native, internal) {"use strict"; ... })` (the prefix on its first line), so that
V8 can read the library's bytes in place (ext/external_sources.h) instead of a copy per isolate.

Comments and indentation are left out (`compact`; line breaks stay, so that stack traces keep
their line numbers): less for the library to carry and for V8 to scan. Each non-ASCII character
is written as its \\u escape, which means the same in strings, regular expressions and
identifiers: an external one-byte string must be Latin-1, and one non-ASCII character would
make V8 keep a copy of the whole file at two bytes per character.
"""

import sys
from pathlib import Path

# After these (or at a file's start), a `/` begins a regular expression, not a division.
_REGEX_AFTER = set("(,=:[!&|?{};~+-*%<>^")
_REGEX_KEYWORDS = {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield",
                   "await", "instanceof"}


def compact(text: str) -> str:
    """`text` without comments, indentation or trailing spaces; strings, template literals and
    regular expressions unchanged, and every line break kept."""
    out: list[str] = []
    i, size = 0, len(text)
    braces: list[int] = []  # open `{` counts of the code inside each enclosing template's `${`
    last = ""  # the last significant character or word of code
    line_start = True

    def word_before() -> str:
        end = len(out)
        while end and out[end - 1] in (" ", "\t", "\n"):
            end -= 1
        j = end - 1
        while j >= 0 and (out[j].isalnum() or out[j] in "_$"):
            j -= 1
        return "".join(out[j + 1:end])

    while i < size:
        char = text[i]
        if line_start:
            while i < size and text[i] in " \t":
                i += 1
            line_start = False
            continue
        if char == "\n":
            while out and out[-1] in " \t":
                out.pop()
            out.append(char)
            line_start = True
            i += 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = size if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated block comment")
            newlines = text.count("\n", i, end)
            out.append("\n" * newlines if newlines else " ")
            line_start = newlines > 0
            i = end + 2
        elif char in "'\"":
            j = i + 1
            while text[j] != char:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            last, i = char, j + 1
        elif char == "`" or (char == "}" and braces and braces[-1] == 0):
            if char == "}":
                braces.pop()
            j = i + 1
            while True:
                if text[j] == "\\":
                    j += 2
                elif text[j] == "`":
                    break
                elif text.startswith("${", j):
                    braces.append(0)
                    j += 1
                    break
                else:
                    j += 1
            out.append(text[i:j + 1])
            last, i = "`", j + 1
        elif char == "/" and (last in _REGEX_AFTER or last == "" or word_before() in _REGEX_KEYWORDS):
            j, in_class = i + 1, False
            while in_class or text[j] != "/":
                if text[j] == "\\":
                    j += 1
                elif text[j] == "[":
                    in_class = True
                elif text[j] == "]":
                    in_class = False
                elif text[j] == "\n":
                    raise ValueError(f"unterminated regular expression at {i}")
                j += 1
            out.append(text[i:j + 1])
            last, i = "/", j + 1
        else:
            if braces and char in "{}":
                braces[-1] += 1 if char == "{" else -1
            out.append(char)
            if not char.isspace():
                last = char if not (char.isalnum() or char in "_$") else "a"
            i += 1
    return "".join(out)


def ascii_source(path: Path) -> bytes:
    """The file's text with every non-ASCII character as \\uXXXX (a UTF-16 pair above U+FFFF)."""
    out = []
    for char in compact(path.read_text(encoding="utf-8")):
        if char.isascii():
            out.append(char)
        else:
            units = char.encode("utf-16-be")
            out.extend(f"\\u{units[i]:02X}{units[i + 1]:02X}" for i in range(0, len(units), 2))
    return "".join(out).encode("ascii")


# Every bootstrap file runs as this function, called with the runtime's two objects (see
# RunBootstrap in startup_snapshot.cc). The prefix shares the file's first line: line numbers stay.
WRAP_PREFIX = b'(function (native, internal) {"use strict";'
WRAP_SUFFIX = b"\n})"


def main(output: str, js_dir: str) -> None:
    files = sorted(Path(js_dir).glob("[0-9][0-9]_*.js"))
    warmup = Path(js_dir) / "warmup" / "snapshot_warmup.js"
    lines = ['#include "js_sources.h"', "", "namespace pyruntime {", "namespace {"]
    sources = [WRAP_PREFIX + ascii_source(path) + WRAP_SUFFIX for path in files]
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
