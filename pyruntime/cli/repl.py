"""`python -m pyruntime repl`: an interactive prompt on one isolate with the full global scope.

Input with open brackets, template literals or comments asks for more lines. Input
containing `await` runs inside an async function, with top-level `let`/`const`/`var x = ...`
turned into globals so that they outlive the line. Each input may run for 30 s of wall-clock
time: a runaway loop ends with an error instead of hanging the prompt. `fetch` reaches public
addresses and loopback (engine.host_ops.LOCAL_SCRIPT_EGRESS).
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from ..engine import Isolate
from ..engine.errors import Error, JSError
from ..engine.host_ops import SyncHostOps, warm_fetch_client

HISTORY_FILE = Path.home() / ".pyruntime_history"
_DECLARATION = re.compile(r"^(\s*)(?:let|const|var)\s+([A-Za-z_$][\w$]*)\s*=", re.MULTILINE)
_AWAIT = re.compile(r"\bawait\b")
# Declarations must stay statements: as expressions they would not define a global name.
_DECLARES = re.compile(r"^\s*(async\s+function|function|class)\b")

# As Node's REPL shows values: console.log's inspection, and strings quoted.
_SHOW = r"""typeof globalThis._ === "string"
  ? console.log("'" + globalThis._.replace(/[\\']/g, "\\$&").replace(/\n/g, "\\n") + "'")
  : console.log(globalThis._)"""
HELP = """\
.help    this text
.exit    leave (Ctrl-D too); Ctrl-C stops a running input or drops the current one
Input with open brackets continues on the next line. `await` works at the top level;
`_` holds the last value. The global scope is a worker's: fetch, crypto, streams, URL, ..."""


def needs_more(source: str) -> bool:
    """True while brackets, a template literal or a block comment are still open.

    A scan, not a parse (regex literals with brackets can fool it); V8 judges the rest.
    """
    depth = 0
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char in "'\"`":
            end = i + 1
            while end < n and source[end] != char:
                end += 2 if source[end] == "\\" else 1
            if end >= n:
                return char == "`"  # only template literals span lines
            i = end
        elif source.startswith("//", i):
            newline = source.find("\n", i)
            i = n if newline < 0 else newline
        elif source.startswith("/*", i):
            close = source.find("*/", i + 2)
            if close < 0:
                return True
            i = close + 1
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        i += 1
    return depth > 0


def wrap(source: str) -> list[tuple[str, bool]]:
    """Candidate programs for one input, tried in order: as an expression, then as statements.

    Each comes with whether it is the expression form, which stores its value in `_`.
    """
    if not _AWAIT.search(source):
        # `; undefined`: the value stays in JS (printed by console.log), not converted to Python.
        expression, statements = f"globalThis._ = ({source}\n); undefined", source
    else:
        expression = f"(async () => {{ globalThis._ = ({source}\n); }})()"
        hoisted = _DECLARATION.sub(r"\1globalThis.\2 =", source)
        statements = f"(async () => {{ {hoisted}\n }})()"
    if _DECLARES.match(source):
        return [(statements, False)]
    return [(expression, True), (statements, False)]


class Repl:
    """Reads, evaluates and prints; JS errors are printed and the session goes on."""

    def __init__(self, isolate_factory: Callable[[Callable[[str, str], None]], Isolate] | None = None,
                 write: Callable[[str], None] | None = None) -> None:
        self.write = write or (lambda text: print(text, flush=True))
        # No time limits, as in other REPLs: Ctrl-C terminates a runaway input instead.
        factory = isolate_factory or (lambda sink: Isolate(timeout_ms=None, cpu_limit_ms=None,
                                                           total_timeout_ms=None, console=sink,
                                                           op_handler=SyncHostOps()))
        self.isolate = factory(self._console)

    def _console(self, level: str, text: str) -> None:
        self.write(text)

    def run(self, source: str) -> None:
        """Evaluates one complete input and prints its value (console.log's formatting)."""
        candidates = wrap(source)
        for index, (program, is_expression) in enumerate(candidates):
            try:
                value = self.isolate.eval(program, "<repl>")
            except JSError as exc:
                if exc.name == "SyntaxError" and index + 1 < len(candidates):
                    continue  # not an expression: try it as statements
                self.write(exc.stack or str(exc))
                return
            except TypeError:
                value = ...  # a statement's completion value that Python cannot hold
            except Error as exc:
                self.write(f"{type(exc).__name__}: {exc}")
                return
            if is_expression:
                self.isolate.eval(_SHOW, "<repl>")
            elif value is not None and value is not ...:
                self.write(repr(value))
            return


def run_interruptibly(repl: Repl, source: str) -> None:
    """Evaluates in a thread so that Ctrl-C, which reaches only the main thread, can terminate it."""
    worker = threading.Thread(target=repl.run, args=(source,), daemon=True)
    worker.start()
    interrupted = False
    while worker.is_alive():
        try:
            worker.join(0.1)
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            # Again until the input ends: a Ctrl-C that came before its call began (the thread
            # had not reached the isolate yet) must still stop it.
            repl.isolate.terminate()


def main() -> int:
    """The interactive loop: `.exit` or Ctrl-D leaves, Ctrl-C drops the current input or stops
    the running one."""
    # Ctrl-C is how a runaway input is stopped: a shell that started us in the background
    # with SIGINT ignored (as non-interactive shells do) must not take that away.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    warm_fetch_client()  # while the user types: a first fetch then finds the client ready
    try:
        import readline
    except ImportError:  # not on every platform; the prompt still works without history
        readline = None  # type: ignore[assignment]
    if readline is not None:
        try:
            readline.read_history_file(HISTORY_FILE)
        except OSError:
            pass
    repl = Repl()
    print("pyruntime REPL: JavaScript with the worker runtime's global scope. .help for help, .exit to leave.")
    buffer: list[str] = []
    try:
        while True:
            try:
                line = input("... " if buffer else "> ")
            except KeyboardInterrupt:
                print()
                buffer.clear()
                continue
            except EOFError:
                print()
                return 0
            if not buffer and line.strip() == ".exit":
                return 0
            if not buffer and line.strip() == ".help":
                print(HELP)
                continue
            buffer.append(line)
            source = "\n".join(buffer)
            if not source.strip():
                buffer.clear()
                continue
            if needs_more(source):
                continue
            buffer.clear()
            run_interruptibly(repl, source)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(HISTORY_FILE)
            except OSError:
                print(f"cannot save history to {HISTORY_FILE}", file=sys.stderr)
