"""A streamed response of small chunks (server-sent events): the server's CPU per event.

Each event is made after a `setTimeout(0)` in the stream's `pull`, as a token stream would
arrive; one client reads the whole body. pyruntime on h1 (and, with `--baseline`, another
build's) and Node's `http` with the same stream, started in turn, `--rounds` times each;
the server's CPU (its process tree, from /proc) per event. Loopback only; bounded in count.

    .venv/bin/python benchmarks/bench_stream.py [--baseline <PYTHONPATH>] [--events 40000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_http import end_session, environment, h1_and_node, start_on_free_port, tree_cpu_seconds
from report import load_average, write_markdown

WORKER = """
export default {
  fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n"));
    const encoder = new TextEncoder();
    let i = 0;
    return new Response(new ReadableStream({
      pull(controller) {
        return new Promise((resolve) => setTimeout(() => {
          if (i++ >= n) controller.close();
          else controller.enqueue(encoder.encode(`data: event ${i}\\n\\n`));
          resolve();
        }, 0));
      },
    }), { headers: { "content-type": "text/event-stream" } });
  },
};
"""
NODE = """
const http = require("http");
http.createServer((req, res) => {
  const n = Number(new URL(req.url, "http://x").searchParams.get("n"));
  res.writeHead(200, { "content-type": "text/event-stream" });
  let i = 0;
  const next = () => setTimeout(() => {
    if (i++ >= n) return res.end();
    res.write(`data: event ${i}\\n\\n`);
    next();
  }, 0);
  next();
}).listen(Number(process.argv[2]), "127.0.0.1");
"""


def per_event_us(process: subprocess.Popen[bytes], url: str, events: int) -> float:
    with httpx.Client(timeout=120) as client:
        client.get(f"{url}/?n=2000")  # warm
        before = tree_cpu_seconds(process.pid)
        with client.stream("GET", f"{url}/?n={events}") as body:
            for _ in body.iter_raw():
                pass
        return (tree_cpu_seconds(process.pid) - before) * 1e6 / events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="PYTHONPATH of another pyruntime build")
    parser.add_argument("--events", type=int, default=40000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stream-"))
    (folder / "worker.js").write_text(WORKER)
    (folder / "node.js").write_text(NODE)
    servers = h1_and_node("worker.js", "node.js", args.baseline)
    found: dict[str, list[float]] = {label: [] for label, _, _ in servers}
    for round_ in range(args.rounds):
        for label, command, pythonpath in servers:
            process, url = start_on_free_port(folder, command, environment(pythonpath), "/?n=1")
            try:
                found[label].append(per_event_us(process, url, args.events))
            finally:
                end_session(process, 30)
            print(f"round {round_ + 1}: {label}: {found[label][-1]:.0f} us per event", flush=True)
    node = statistics.median(found["node http"]) if "node http" in found else None
    lines = [f"# A server-sent events stream: server CPU per event "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"`benchmarks/bench_stream.py --events {args.events} --rounds {args.rounds}`, "
             f"load average {load_average()} at the end.", "",
             "| server | CPU per event, median (each round), µs | vs node |", "|---|---:|---:|"]
    for label, values in found.items():
        median = statistics.median(values)
        ratio = f"{median / node:.2f}x" if node else "-"
        lines.append(f"| {label} | {median:.0f} ({', '.join(f'{v:.0f}' for v in values)}) | {ratio} |")
    print("\n".join(lines))
    write_markdown("stream", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
