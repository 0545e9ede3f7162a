"""The bootstrap files' contract with each other (ext/js/README.md, "What a file takes and adds").

Each file names what it takes from the shared `internal` object in one destructuring at its
top, and what it adds in one `Object.assign(internal, {...})` as its last statement; `internal`
appears nowhere else. So the files' dependencies can be read, and are checked here: every
name a file takes was added by an earlier file, nothing is added twice, and every name added
is taken by a later file or called by the host.
"""

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from pyruntime import Isolate
from pyruntime.engine.typescript import esbuild_binary

ROOT = REPO
JS_DIR = ROOT / "ext" / "js"
FILES = sorted(JS_DIR.glob("[0-9][0-9]_*.js"))

TAKES = re.compile(r"^const \{([^}]*)\} = internal;$", re.M)
ADDS = re.compile(r"^Object\.assign\(internal, \{([^}]*)\}\);$", re.M)
NAME = re.compile(r"^[A-Za-z_$][\w$]*$")


def code_of(text: str) -> str:
    """The text without `//` comment lines and trailing comments (bootstrap files use no /* */)."""
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("//"))


def names(listing: str, path: Path) -> list[str]:
    """Names in `a, b, key: value` (keys for Object.assign, names for destructuring)."""
    out = []
    for item in (part.strip() for part in listing.split(",")):
        if not item:
            continue
        key = item.split(":")[0].strip()
        assert NAME.match(key), f"{path.name}: {item!r} is not a plain name"
        out.append(key)
    return out


def contract(path: Path) -> tuple[list[str], list[str]]:
    text = path.read_text()
    code = code_of(text)
    takes = list(TAKES.finditer(code))
    adds = list(ADDS.finditer(code))
    assert len(takes) <= 1, f"{path.name}: more than one `const {{ ... }} = internal;`"
    assert len(adds) <= 1, f"{path.name}: more than one `Object.assign(internal, ...)`"
    rest = ADDS.sub("", TAKES.sub("", code))
    assert not re.search(r"\binternal\b", rest), f"{path.name}: uses `internal` outside its header and footer"
    if takes:
        assert code.strip().startswith(takes[0].group(0)), f"{path.name}: what it takes is not its first statement"
    if adds:
        assert code.strip().endswith(adds[0].group(0)), f"{path.name}: what it adds is not its last statement"
    return (names(takes[0].group(1), path) if takes else [], names(adds[0].group(1), path) if adds else [])


def host_entry_points() -> set[str]:
    """`internal` functions the host calls by name: from Python and from the C++ core."""
    found = set()
    for path in (ROOT / "pyruntime").rglob("*.py"):
        found |= set(re.findall(r'call_internal\("(\w+)"', path.read_text()))
    # The worker protocol names them as constants (pyruntime/engine/protocol.py).
    protocol = (ROOT / "pyruntime" / "engine" / "protocol.py").read_text()
    found |= set(re.findall(r'^[A-Z_]+ = "(\w+)"', protocol, re.M))
    for path in (ROOT / "ext").glob("*.cc"):
        text = path.read_text()
        found |= set(re.findall(r'InternalFunction\(context, "(\w+)"\)', text))
        found |= set(re.findall(r'internal_\.Get\(isolate_\)\s*->Get\(context, NewString\(isolate_, "(\w+)"\)\)', text))
    return found


def test_the_files_and_host_entry_points_are_found():
    assert len(FILES) > 20
    assert {"dispatchFetch", "setWorkerModule", "reportUnhandledRejection"} <= host_entry_points()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_file_declares_what_it_takes_and_adds(path):
    contract(path)


def test_every_name_taken_was_added_by_an_earlier_file():
    added: dict[str, str] = {}
    problems = []
    for path in FILES:
        takes, adds = contract(path)
        problems += [f"{path.name} takes {n!r}, which no earlier file adds" for n in takes if n not in added]
        problems += [f"{path.name} adds {n!r} again (first added by {added[n]})" for n in adds if n in added]
        added.update({n: path.name for n in adds if n not in added})
    assert problems == []


def test_every_name_added_is_used():
    taken = {n for path in FILES for n in contract(path)[0]}
    host = host_entry_points()
    unused = [f"{path.name}: {n}" for path in FILES for n in contract(path)[1] if n not in taken and n not in host]
    assert unused == []


def test_host_entry_points_are_added():
    added = {n for path in FILES for n in contract(path)[1]}
    assert host_entry_points() - added == set()


def embedder():
    spec = importlib.util.spec_from_file_location("embed_js", ROOT / "ext" / "embed_js.py")
    embed_js = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(embed_js)
    return embed_js


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_sources_are_embedded_without_comments_or_indentation_and_mean_the_same(path: Path):
    """V8 keeps each bootstrap file's source in every isolate (80 KB of comments and indentation
    per isolate, 80 MB for a thousand apps): the embedder leaves them out. esbuild, given the
    file and its compact form, must print the same code, and the line breaks stay."""
    source = path.read_text(encoding="utf-8")
    compact = embedder().compact(source)
    assert compact.count("\n") == source.count("\n")
    assert len(compact) < len(source)

    def printed(text: str) -> str:
        done = subprocess.run([esbuild_binary(), "--minify-whitespace", "--log-level=error"], input=text,
                              capture_output=True, text=True, check=True)
        return done.stdout

    assert printed(compact) == printed(source)


def test_compaction_keeps_strings_templates_and_regular_expressions():
    code = ("const a = '// not a comment', b = \"/* nor this */\";\n"
            "    const t = `line\n    kept ${ {x: `in ${'/*'}`}.x } // text`;  // a comment\n"
            "  const r = /[/*]\\/\\/[`]/g, d = 4 / 2 / 1; /* gone */ return typeof /x\\//.source;\n")
    assert embedder().compact(code) == (
        "const a = '// not a comment', b = \"/* nor this */\";\n"
        "const t = `line\n    kept ${ {x: `in ${'/*'}`}.x } // text`;\n"
        "const r = /[/*]\\/\\/[`]/g, d = 4 / 2 / 1;   return typeof /x\\//.source;\n")


def test_sources_are_embedded_as_ascii_that_means_the_same(tmp_path: Path):
    """V8 keeps a bootstrap file's source in every isolate, as two bytes per character if one
    character is not ASCII: the embedder writes such characters as escapes that mean the same."""
    embed_js = embedder()
    source = tmp_path / "00_sample.js"
    source.write_text("// § comment\n[\"─┼\", /[é-ê]+/.test(\"ééê\"), \"😀\".length, \"😀\".codePointAt(0), "
                      "{ ü: 1 }.ü, `§${1}`]\n", encoding="utf-8")
    escaped = embed_js.ascii_source(source)
    assert escaped.isascii()
    with Isolate() as iso:
        assert iso.eval(escaped.decode()) == iso.eval(source.read_text(encoding="utf-8")) == \
            ["─┼", True, 2, 0x1F600, 1, "§1"]
