"""`python -m pyruntime run FILE` in a real subprocess: output, exit codes, limits."""

import subprocess
import sys
from pathlib import Path

import pytest


def run(tmp_path: Path, source: str, *flags: str, name: str = "script.js") -> subprocess.CompletedProcess:
    (tmp_path / name).write_text(source)
    return subprocess.run([sys.executable, "-m", "pyruntime", "run", name, *flags], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_script_runs_top_level_code_then_its_timers(tmp_path):
    proc = run(tmp_path, """
        console.log("start", { n: 1 });
        setTimeout(() => console.log("timer"), 20);
        let ticks = 0;
        const id = setInterval(() => { console.log("tick", ++ticks); if (ticks === 2) clearInterval(id) }, 5);
        console.error("to stderr");
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["start { n: 1 }", "tick 1", "tick 2", "timer"]
    assert proc.stderr.strip() == "to stderr"


def test_module_with_imports_and_top_level_await(tmp_path):
    (tmp_path / "lib.mjs").write_text("export const double = (n) => n * 2;")
    proc = run(tmp_path, """
        import { double } from "./lib.mjs";
        const value = await new Promise((resolve) => setTimeout(() => resolve(21), 10));
        console.log(double(value));
    """, name="main.mjs")
    assert (proc.returncode, proc.stdout.strip()) == (0, "42")


def test_uncaught_exception_exits_non_zero_with_its_stack(tmp_path):
    proc = run(tmp_path, "function fail() { throw new TypeError('broken') }\nfail();")
    assert proc.returncode == 1
    assert "Uncaught TypeError: broken" in proc.stderr
    assert "script.js:1:" in proc.stderr


def test_syntax_error_names_the_location(tmp_path):
    proc = run(tmp_path, "let x = ;")
    assert proc.returncode == 1
    assert "script.js:1:9" in proc.stderr and "SyntaxError" in proc.stderr


def test_limit_flags(tmp_path):
    spin = "const end = Date.now() + 120; while (Date.now() < end) {} console.log('done')"
    limited = run(tmp_path, spin, "--timeout-ms", "50", "--cpu-limit-ms", "off")
    assert limited.returncode == 1
    assert "TimeLimitExceeded" in limited.stderr
    assert run(tmp_path, spin, "--timeout-ms", "1000", "--cpu-limit-ms", "1000").stdout.strip() == "done"
    hog = run(tmp_path, "const a = []; while (true) a.push({ n: a.length })", "--memory-limit-mb", "32",
              "--timeout-ms", "off", "--cpu-limit-ms", "off")
    assert hog.returncode == 1
    assert "MemoryLimitExceeded" in hog.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pyruntime", "run", "nope.js"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "script not found" in proc.stderr


def test_unhandled_rejection_is_printed_and_fails_the_run(tmp_path):
    proc = run(tmp_path, "Promise.reject(new Error('nobody caught me')); console.log('after')")
    assert proc.returncode == 1
    assert "after" in proc.stdout
    assert "Uncaught (in promise) Error: nobody caught me" in proc.stderr
    handled = run(tmp_path, """
        addEventListener("unhandledrejection", (event) => { event.preventDefault(); console.log("handled") });
        Promise.reject(new Error("taken care of"));
    """)
    assert (handled.returncode, handled.stdout.strip()) == (0, "handled")


@pytest.mark.parametrize("source", [
    "setTimeout(() => { throw new Error('in a timer') }, 1)",
    "queueMicrotask(() => { throw new Error('in a microtask') })",
    "addEventListener('custom', () => { throw new Error('in a listener') }); dispatchEvent(new Event('custom'))",
])
def test_an_uncaught_error_anywhere_fails_the_run(tmp_path, source):
    proc = run(tmp_path, source + "; console.log('after')")
    assert proc.returncode == 1
    assert "Uncaught Error: in a" in proc.stderr
    handled = run(tmp_path, "addEventListener('error', (e) => { e.preventDefault() });" + source)
    assert handled.returncode == 0, handled.stderr
