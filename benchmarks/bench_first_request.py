"""What the first request on a fresh isolate costs, beside the same isolate's later requests.

A fresh isolate compiles lazily: whatever its first request calls is compiled then. Two
things spare that work: the startup snapshot carries the runtime's request path compiled
(ext/js/warmup/snapshot_warmup.js), and an app's modules get V8's code cache from the first
isolate that answered (WorkerScript.code_cache). Measured for a hello app and a Hono app
(Hono is installed from npm into build/bench/hono; skipped if npm cannot install it).

The unit is the JS thread's CPU time of the call, as the CPU limit counts it. Each row is
the median over fresh isolates; "later" is the median of requests 3 to 10 on the same
isolate. Run with `make bench`. Result: benchmarks/results/first_request.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
from pathlib import Path

from report import load_average, machine_header, table, write_markdown

from pyruntime.engine import AppIsolate, Limits, load_script

# In-process mechanisms only: no code from an earlier run's disk cache (compile_cache.py).
os.environ["PYRUNTIME_CACHE_DIR"] = "off"

ROOT = Path(__file__).resolve().parent.parent
HONO_DIR = ROOT / "build" / "bench" / "hono"
ISOLATES = 15
LIMITS = Limits(cpu_limit_ms=None, timeout_ms=None)

HELLO = 'export default { fetch() { return new Response("Hello, world!"); } };\n'
HONO = """import { Hono } from "hono";
const app = new Hono();
app.get("/", (c) => c.text("Hello Hono!"));
app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") }));
app.post("/echo", async (c) => c.json(await c.req.json()));
export default app;
"""


def hono_app() -> Path | None:
    """The Hono app, with hono@4 installed beside it; None if npm is missing or fails."""
    if not (HONO_DIR / "node_modules" / "hono").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            return None
        HONO_DIR.mkdir(parents=True, exist_ok=True)
        (HONO_DIR / "package.json").write_text('{"private": true, "type": "module"}\n')
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "hono@4"],
                              cwd=HONO_DIR, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            return None
    (HONO_DIR / "worker.js").write_text(HONO)
    return HONO_DIR / "worker.js"


async def costs(path: Path, url: str, *, share_code: bool) -> tuple[list[float], list[float]]:
    """CPU ms of each fresh isolate's first request, and of later requests."""
    script = load_script(path)
    if share_code:  # one isolate answers first and gives its compiled code to the script
        donor = AppIsolate(script, limits=LIMITS)
        await donor.load()
        await donor.fetch("GET", url, [], None)
        donor.end_request()
        donor.close()
    first, later = [], []
    for _ in range(ISOLATES):
        isolate = AppIsolate(script, limits=LIMITS)
        await isolate.load()
        for index in range(10):
            result = await isolate.fetch("GET", url, [], None)
            isolate.end_request()
            if not share_code:
                script.code_cache.clear()
            (first if index == 0 else later if index >= 2 else []).append(result.cpu_ms)
        isolate.close()
    return first, later


def main() -> None:
    load_at_start = load_average()
    folder = ROOT / "build" / "bench" / "hello"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "worker.js").write_text(HELLO)
    apps = [("hello", folder / "worker.js", "http://localhost/")]
    hono = hono_app()
    if hono is not None:
        apps.append(("Hono", hono, "http://localhost/users/42?q=x"))
    rows = []
    for name, path, url in apps:
        for share_code in (False, True):
            first, later = asyncio.run(costs(path, url, share_code=share_code))
            f, steady = statistics.median(first), statistics.median(later)
            rows.append([name, "yes" if share_code else "no", f"{f:.2f} ms", f"{steady:.2f} ms",
                         f"{f - steady:.2f} ms", f"{f / steady:.1f}x"])
            print(rows[-1])
    notes = [f"median over {ISOLATES} fresh isolates per row; CPU ms of the JS thread per request",
             "code cache: the app's modules loaded with the compiled code of an isolate that already answered"]
    if hono is None:
        notes.append("Hono skipped: npm could not install hono@4")
    lines = machine_header("First request on a fresh isolate", {}, notes, load_at_start)
    lines += table(["app", "code cache", "first request", "later requests", "first - later", "ratio"], rows,
                   right_from=2)
    print(f"\nwrote {write_markdown('first_request', lines)}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
