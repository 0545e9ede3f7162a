"""fetch from `pyruntime run` and the REPL (loopback allowed for a local script, private ranges
not), and a process's first fetch doing no set-up work that later ones skip."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pyruntime.cli.repl import Repl


def test_run_fetches_loopback_streams_bodies_and_refuses_private_ranges(tmp_path: Path, upstream):
    (tmp_path / "main.mjs").write_text(textwrap.dedent(f"""
        const up = "{upstream.url}";
        const got = await (await fetch(up + "/echo", {{ method: "POST", body: "abc" }})).json();
        console.log(got.method, got.body);
        const body = new ReadableStream({{
          start(c) {{ c.enqueue(new Uint8Array(70_000)); c.enqueue(new Uint8Array(30_000)); c.close(); }},
        }});
        const streamed = await (await fetch(up + "/echo", {{ method: "PUT", body, duplex: "half" }})).json();
        console.log(streamed.body, streamed.headers["transfer-encoding"]);
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error("gave up")), 100);
        console.log(await fetch(up + "/hold", {{ signal: controller.signal }}).catch((e) => e.message));
        console.log(await fetch("http://10.255.255.1/").catch((e) => e.message));
    """))
    proc = subprocess.run([sys.executable, "-m", "pyruntime", "run", "main.mjs"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["POST 3", "100000 chunked", "gave up"]
    assert lines[3].startswith("fetch failed: '10.255.255.1' is refused: it resolves to 10.255.255.1")
    assert upstream.closed.wait(10)  # the aborted exchange's connection was closed


def test_fetch_in_the_repl(upstream):
    printed: list[str] = []
    repl = Repl(write=printed.append)
    try:
        repl.run(f"const r = await fetch('{upstream.url}/')")
        repl.run("await r.text()")
        repl.run("(await fetch('http://169.254.169.254/latest/meta-data/').catch((e) => e.message))")
    finally:
        repl.isolate.close()
    assert printed[0] == "'hello from upstream'"  # the REPL shows strings quoted
    assert printed[1].startswith("'fetch failed: \\'169.254.169.254\\' is refused")


FIRST_FETCH = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from fetch_upstream import Upstream
from pyruntime.engine.egress import EgressPolicy
from pyruntime.engine.host_ops import AsyncHostOps, warm_fetch_client

async def main():
    upstream = Upstream()
    session = AsyncHostOps(EgressPolicy.parse(allow=["127.0.0.1"])).session(1 << 27)
    warm_fetch_client().join(60)  # as a server does once it serves
    loaded = []
    for ident in (1, 2):
        before = set(sys.modules)
        await session("fetch", {{"id": ident, "method": "GET", "url": upstream.url + "/", "headers": [],
                                "available": 1 << 27}})
        while await session("fetch.read", ident) is not None:
            pass
        loaded.append(sorted(set(sys.modules) - before))
    print(loaded)

asyncio.run(main())
"""


def test_the_first_fetch_loads_nothing_later_ones_do_not(tmp_path: Path):
    """What made a process's first fetch slow (importing httpcore and anyio's backend, loading
    the CA store) happens in the background once a server serves: the first fetch after it
    imports no module. Measured against a
    loopback server: 250-440 ms for the first fetch before, 35-80 ms after (later ones 30-70 ms)."""
    proc = subprocess.run([sys.executable, "-c", FIRST_FETCH.format(tests=str(Path(__file__).parent.parent))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[[], []]"
