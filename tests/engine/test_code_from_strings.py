"""eval and new Function take at most 2**20 characters of source (ext/code_from_strings.h).

They compile in one step that termination cannot stop: a 30 MB source took 3.1 s of CPU and
540 MB under a 50 ms CPU limit, in a worker past the process guard's grace.
"""

import pytest

from pyruntime import Isolate, JSError

LIMIT = 2**20
MESSAGE = f"eval and new Function take at most {LIMIT} characters of source"


@pytest.fixture
def iso():
    # Not about time: a busy machine must not fail the sources within the bound.
    with Isolate(cpu_limit_ms=5000, timeout_ms=None) as isolate:
        yield isolate


@pytest.mark.parametrize("source", [
    "eval(' '.repeat(2 ** 20) + '1')",
    "(0, eval)(' '.repeat(2 ** 20) + '1')",
    "new Function('return 1' + ' '.repeat(2 ** 20))",
    "Function('a', 'b', 'return a + b;' + ' '.repeat(2 ** 20))",
    "eval('1+'.repeat(1.5e7) + '1')",  # the 30 MB source: refused before V8 parses it
])
def test_a_source_past_the_bound_is_an_eval_error(iso, source: str):
    with pytest.raises(JSError) as info:
        iso.eval(source)
    assert info.value.name == "EvalError"
    assert MESSAGE in info.value.message
    assert iso.eval("eval('6 * 7')") == 42  # the isolate goes on, short sources as before


def test_sources_within_the_bound_and_the_hosts_own_scripts_still_compile(iso):
    assert iso.eval("eval(' '.repeat(2 ** 20 - 1) + '1')") == 1
    assert iso.eval("new Function('a', 'return a * 2')(21)") == 42
    assert iso.eval("eval(123)") == 123  # not a string: returned as it is
    # Code the host compiles is not code from a string: a 2 MB script runs.
    assert iso.eval("1" + "+1" * 1_000_000) == 1_000_001
