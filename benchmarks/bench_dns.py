"""What a name lookup of outbound fetch costs: c-ares (pyruntime/engine/dns.py) beside the event
loop's `getaddrinfo` (libuv's threads and glibc), which fetch used before, in one process.

    .venv/bin/python benchmarks/bench_dns.py [--lookups 3000] [--rounds 3]

Two names: `localhost` (from /etc/hosts, with no DNS query) and one a DNS server on loopback
answers (`tests/dns_server.py`). c-ares can be pointed at that server; `getaddrinfo` reads
/etc/resolv.conf, so its DNS-name row is measured only when this runs as root where
`unshare(1)` can give it a mount namespace whose /etc/resolv.conf names that server on
127.0.0.1:53 (the machine's own file is not touched); else that row says it was skipped.
Both run on uvloop, as the servers do (its `getaddrinfo` is libuv's, in libuv's threads; asyncio's
own loop would use its default executor). The CPU is the process's (all threads), per lookup,
the median of the rounds; the loopback server runs in this process too, and the `getaddrinfo`
row pays for the query glibc sends each time (c-ares answers from its cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dns_server import LoopbackDns  # noqa: E402
from report import load_average, table, write_markdown  # noqa: E402

from pyruntime.engine.dns import IsolateLookups  # noqa: E402

NAME = "svc.test"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def per_lookup_us(lookup, host: str, lookups: int, rounds: int) -> float:
    """The median over `rounds` of the process CPU per lookup of `host`, after a warm-up."""
    for _ in range(min(lookups, 200)):
        await lookup(host, 80)
    found = []
    for _ in range(rounds):
        started = cpu_s()
        for _ in range(lookups):
            await lookup(host, 80)
        found.append((cpu_s() - started) / lookups * 1e6)
    return statistics.median(found)


async def measure(dns: LoopbackDns, lookups: int, rounds: int, system_dns: bool) -> dict[str, float | None]:
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int) -> None:
        await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    ares = IsolateLookups([] if system_dns else [dns.address])
    return {
        "getaddrinfo localhost": await per_lookup_us(getaddrinfo, "localhost", lookups, rounds),
        "c-ares localhost": await per_lookup_us(ares, "localhost", lookups, rounds),
        "getaddrinfo DNS name": await per_lookup_us(getaddrinfo, NAME, lookups, rounds) if system_dns else None,
        "c-ares DNS name": await per_lookup_us(ares, NAME, lookups, rounds),
    }


def in_namespace(args: argparse.Namespace) -> dict[str, float | None] | None:
    """This benchmark run again in a mount namespace whose /etc/resolv.conf names 127.0.0.1."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        resolv = Path(tmp) / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\n")
        command = (f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} {__file__} --inside "
                   f"--lookups {args.lookups} --rounds {args.rounds}")
        run = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        print(f"no mount namespace here: {run.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:  # in the namespace: the server on port 53, which the system's resolver asks
        dns = LoopbackDns({NAME: "127.0.0.7"}, port=53)
        print(json.dumps(uvloop.run(measure(dns, args.lookups, args.rounds, system_dns=True))))
        return 0
    found = in_namespace(args)
    if found is None:
        dns = LoopbackDns({NAME: "127.0.0.7"})
        found = uvloop.run(measure(dns, args.lookups, args.rounds, system_dns=False))
    rows = [[name, "skipped: needs root and unshare(1)" if us is None else f"{us:.1f}"] for name, us in found.items()]
    lines = ["# Name lookups of outbound fetch: c-ares beside getaddrinfo", "",
             f"`benchmarks/bench_dns.py --lookups {args.lookups} --rounds {args.rounds}`; process CPU per lookup, "
             f"µs, medians of the rounds; load average {load_average()} at the end.", "",
             *table(["lookup", "CPU µs per lookup"], rows)]
    print("\n".join(lines))
    write_markdown("dns", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
