"""Converting large values reuses malloc's memory rather than faulting in fresh pages on each
call (ext/process_allocator.h), and a process whose environment sets malloc's thresholds keeps
its own. Page faults are counted, not timed: the count is the same on a busy machine."""

import json
import os
import subprocess
import sys
import textwrap

# A 1 MB string each way, 20 times after a warm-up; prints the page faults per conversion.
CONVERT_CHILD = textwrap.dedent("""
    import json
    import resource
    from pyruntime import Isolate

    with Isolate(cpu_limit_ms=None, timeout_ms=None) as iso:
        text = "y" * (1 << 20)
        iso.eval("globalThis.size = (s) => s.length")

        def both_ways():
            assert len(iso.eval("'x'.repeat(1 << 20)")) == 1 << 20
            assert iso.call("size", text) == 1 << 20

        for _ in range(5):
            both_ways()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(20):
            both_ways()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"faults_per_conversion": faults / 40}))
""")

PAGES_PER_MB = (1 << 20) // os.sysconf("SC_PAGE_SIZE")


def faults_per_conversion(env: dict[str, str]) -> float:
    child = subprocess.run([sys.executable, "-c", CONVERT_CHILD], capture_output=True, text=True, timeout=300,
                           env=env)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)["faults_per_conversion"]


def clean_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    return env


def test_large_conversions_reuse_memory():
    # Left to glibc's sliding threshold, every megabyte came in fresh pages: about 740 faults
    # per conversion here. What remains (about 260) is V8's own: the flattened string gets a
    # large-object page of its own.
    faults = faults_per_conversion(clean_environment())
    assert faults < 1.5 * PAGES_PER_MB, f"{faults:.0f} page faults per 1 MB conversion"


def test_an_environment_that_sets_mallocs_thresholds_keeps_them():
    # A fixed 128 KiB threshold maps every megabyte afresh: the process's own choice stands.
    env = clean_environment() | {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"}
    faults = faults_per_conversion(env)
    assert faults > 2 * PAGES_PER_MB, f"{faults:.0f} page faults per 1 MB conversion"
