"""A proxied body: `return fetch(upstream)` on each of pyruntime's servers, beside Node.js.

The commonest Workers app forwards a request and returns the upstream's response as it is.
Here one upstream (a Node.js server on loopback that writes its body in 64 KiB pieces) serves
`--mb` MB per request; each proxy is loaded by `wrk -c1` and then `-c4` for `--duration` s,
and measured by the body bytes it passed on per second and its own CPU per MB (its process
tree, from /proc; the upstream's and wrk's CPU are not counted). Node's proxy pipes
`http.get`'s response into its own (`up.pipe(res)`).

With `--baseline <PYTHONPATH of another build>` each pyruntime server of that build runs too,
in turn with this build's: how a change moved the proxied path.

    .venv/bin/python benchmarks/bench_proxy.py [--baseline /tmp/base_pkg]

Result: benchmarks/results/proxy.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from bench_http import Server, environment, free_port, pyruntime_servers, run_wrk, version_of
from report import load_average, machine_header, table, write_markdown

UPSTREAM_JS = textwrap.dedent("""\
    import http from "node:http";
    const piece = Buffer.alloc(64 * 1024, 120);
    http.createServer((req, res) => {
      const n = Number(new URL(req.url, "http://x").searchParams.get("n") || 5);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": n });
      let sent = 0;
      const pump = () => {
        while (sent < n) {
          const part = n - sent >= piece.length ? piece : piece.subarray(0, n - sent);
          sent += part.length;
          if (!res.write(part)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    }).listen(Number(process.argv[2]), "127.0.0.1");
""")

WORKER_JS = textwrap.dedent("""\
    export default {
      fetch(request, env) {
        const url = new URL(request.url);
        if (url.pathname === "/hello") return new Response("hello");
        return fetch(env.UPSTREAM + "/bytes" + url.search);
      },
    };
""")

NODE_JS = textwrap.dedent("""\
    import http from "node:http";
    const upstream = process.argv[3];
    http.createServer((req, res) => {
      if (req.url === "/hello") return void res.end("hello");
      http.get(upstream + "/bytes" + req.url.slice(req.url.indexOf("?")), (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
    }).listen(Number(process.argv[2]), "127.0.0.1");
""")

CONFIG = textwrap.dedent("""\
    [[apps]]
    name = "proxy"
    script = "proxy.js"
    routes = ["/*"]
    [apps.env]
    UPSTREAM = "{upstream}"
    [apps.egress]
    allow = ["127.0.0.1"]
""")

CONNECTIONS = (1, 4)


def load(server: Server, mb: int, connections: int, duration: float) -> tuple[float, float]:
    """(MB/s passed on, CPU ms per MB) of one wrk run (bench_http.run_wrk)."""
    result = run_wrk(server, f"/?n={mb * 1024 * 1024}", duration, connections, 1)
    if result.errors or result.read_mb < mb:
        raise RuntimeError(f"{server.name}: {result.errors} errors, {result.read_mb:.0f} MB read in {duration:g} s")
    return result.read_mb / duration, result.cpu_s * 1000 / result.read_mb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=64, help="body size per request, MB")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each proxy, in turn")
    parser.add_argument("--baseline", help="PYTHONPATH of another pyruntime build to run beside this one")
    parser.add_argument("--out", default="proxy", help="results/<out>.md")
    args = parser.parse_args()
    load_at_start = load_average()
    node = version_of(["node", "--version"])
    if node is None:
        print("node is not installed: it serves the upstream; nothing measured")
        return 1
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        upstream_port = free_port()
        (work / "upstream.mjs").write_text(UPSTREAM_JS)
        (work / "node_proxy.mjs").write_text(NODE_JS)
        (work / "proxy.js").write_text(WORKER_JS)
        (work / "pyruntime.toml").write_text(CONFIG.format(upstream=f"http://127.0.0.1:{upstream_port}"))
        upstream = subprocess.Popen(["node", "upstream.mjs", str(upstream_port)], cwd=work,
                                    stdout=subprocess.DEVNULL, start_new_session=True)
        proxies = []
        builds = [("this build", None)] + ([("baseline", args.baseline)] if args.baseline else [])
        for server_name in pyruntime_servers():
            for build, pythonpath in builds:
                port = free_port()
                command = [sys.executable, "-m", "pyruntime", "serve", "--config", "pyruntime.toml", "--port",
                           str(port), "--server", server_name]
                proxies.append(Server(f"pyruntime {server_name} ({build})" if args.baseline else
                                      f"pyruntime {server_name}", "pyruntime", command, port, work,
                                      environment(pythonpath)))
        port = free_port()
        proxies.append(Server("node http pipe", "node", ["node", "node_proxy.mjs", str(port),
                                                         f"http://127.0.0.1:{upstream_port}"], port, work))
        results: dict[str, dict[int, list[tuple[float, float]]]] = {}
        try:
            for round_index in range(args.rounds):
                order = proxies if round_index % 2 == 0 else proxies[::-1]
                for proxy in order:
                    print(f"round {round_index + 1}/{args.rounds}: {proxy.name}", flush=True)
                    if not proxy.start(starts=1):
                        continue
                    try:
                        load(proxy, args.mb, 1, 1)  # warm-up: connections, JIT
                        for connections in CONNECTIONS:
                            measured = load(proxy, args.mb, connections, args.duration)
                            results.setdefault(proxy.name, {}).setdefault(connections, []).append(measured)
                            print(f"  -c{connections}: {measured[0]:.0f} MB/s, {measured[1]:.2f} ms of CPU per MB",
                                  flush=True)
                    finally:
                        proxy.stop()
        finally:
            upstream.terminate()
            upstream.wait(10)
    node_cpu = {c: min(run[1] for run in results.get("node http pipe", {}).get(c, [(0, float("nan"))]))
                for c in CONNECTIONS}
    rows = []
    for name, by_connections in results.items():
        row = [name]
        for connections in CONNECTIONS:
            runs = by_connections.get(connections, [])
            best_rate = max((rate for rate, _ in runs), default=float("nan"))
            best_cpu = min((cpu for _, cpu in runs), default=float("nan"))
            row += [f"{best_rate:,.0f}", f"{best_cpu:.2f}", f"{best_cpu / node_cpu[connections]:.2f}x"]
        rows.append(row)
    header = ["proxy"]
    for connections in CONNECTIONS:
        header += [f"-c{connections} MB/s", f"-c{connections} CPU ms per MB", f"-c{connections} CPU vs node"]
    lines = machine_header(
        "A proxied body: `return fetch(upstream)` beside Node's `up.pipe(res)`",
        {"node": node, "python": sys.version.split()[0]},
        [f"{args.mb} MB per request from a Node upstream on loopback, `wrk -t1 -c1` and `-c4`, "
         f"{args.duration:g} s each, {args.rounds} rounds in turn; the best round of each",
         "CPU: the proxy's process tree, from /proc (not the upstream's, not wrk's)"], load_at_start)
    lines += table(header, rows)
    path = write_markdown(args.out, lines)
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
