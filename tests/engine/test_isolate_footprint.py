"""What an isolate costs in memory once it is in use: a server keeps one per app and more per
busy app, so each one's resident memory bounds how many apps a machine holds."""

import json
import subprocess
import sys
import textwrap

from pyruntime import Isolate

# 20 isolates, each making 900 calls whose objects die young, as requests' do; prints the
# RSS each isolate added during the last 600. In its own process, so that nothing else moves it.
CHURN_CHILD = textwrap.dedent("""
    import json
    from pyruntime import Isolate

    def rss_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1])

    def churn(calls):
        for iso in isolates:
            for _ in range(calls):
                iso.eval("JSON.stringify({ url: new URL('https://x.test/a?b=' + Math.random()).href, "
                         "h: new Headers({ a: 'b' }).get('a') })")

    isolates = [Isolate() for _ in range(20)]
    churn(300)  # what the first calls compile and keep is not the young generation's
    before = rss_kb()
    churn(600)
    print(json.dumps({"grown_kb_per_isolate": (rss_kb() - before) / len(isolates)}))
""")


def test_an_isolate_in_use_keeps_a_small_young_generation():
    # With V8's default 1 MB semi-spaces each isolate grew by about 1.3 MB here; starting at
    # 256 KB (ext/runtime.cc), by a few dozen KB.
    child = subprocess.run([sys.executable, "-c", CHURN_CHILD], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    grown = json.loads(child.stdout)["grown_kb_per_isolate"]
    assert grown < 512, f"each isolate in use added {grown:.0f} KB"


def test_reduce_memory_gives_an_idle_isolates_garbage_back():
    # V8 collects only when JS allocates: garbage left by the last call stays until then.
    # No time limits: making 200,000 objects is not what is measured.
    with Isolate(cpu_limit_ms=None, timeout_ms=None) as iso:
        iso.eval("globalThis.junk = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'x' + i })); 1")
        iso.eval("globalThis.junk = null; 1")
        before = iso.heap_statistics()["used_heap_size"]
        iso.reduce_memory()
        after = iso.heap_statistics()["used_heap_size"]
        assert before - after > 5 * 1024 * 1024, (before, after)
        assert iso.eval("[1, 2, 3].map(x => x * 2)") == [2, 4, 6]
