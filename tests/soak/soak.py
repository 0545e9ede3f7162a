"""Soak run (`make soak`): mixed normal and hostile traffic against `serve --workers 2` with two
apps, faults injected, then the books are balanced.

Loopback only, bounded in time (SOAK_SECONDS, default 150) and concurrency. App `shop` gets
only normal traffic; app `wild` gets normal traffic and hostile traffic (spin loops, memory
hogs, throws, slow streams, clients that leave early), its engine process is aborted with
SIGABRT (how V8's fatal paths end a process) every SOAK_ABORT_EVERY seconds, and one server
worker process is SIGKILLed halfway. Then it asserts:

- every request of `shop` succeeded; those in flight on the killed worker (their connection
  died with it) were retried once by the client, and every retry succeeded;
- every answered request has exactly one `request` log line, with the status the client got;
- the metrics totals equal the log's request lines, which equal the client's counts;
- the RSS of the processes serving normal traffic (supervisor, workers, shop's engines) grew
  less than 10% from after warm-up to the end, and each of wild's engines stays within its
  isolates' limits plus a 256 MB allowance (whole-server RSS is printed too: wild's engines
  keep some of what its memory hogs took, so it moves with the hogs, not with leaks);
- every log line is JSON.
It prints the figures at the end; it exits 1 on any failed assertion.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SECONDS = float(os.environ.get("SOAK_SECONDS", "150"))
ABORT_EVERY_S = float(os.environ.get("SOAK_ABORT_EVERY", "25"))
# The HTTP server (`serve --server`): `make soak SOAK_SERVER=h1`.
HTTP_SERVER = os.environ.get("SOAK_SERVER", "hypercorn")
CONCURRENCY = 8
WARM_UP_S = min(30.0, SECONDS / 5)
RSS_GROWTH_LIMIT = 0.10
# An engine of wild: its two isolates at the default 128 MB limit, plus the 256 MB allowance.
WILD_ENGINE_BOUND_KB = (2 * 128 + 256) * 1024
# How long a request the client leaves early keeps the server busy.
LEAVE_SLEEP_S = 2.0

APP_JS = textwrap.dedent("""\
    let count = 0;

    export default {
      async fetch(request) {
        const url = new URL(request.url);
        switch (url.pathname.split("/").pop()) {
          case "hello": return new Response("hello");
          case "count": return new Response(String(++count));
          case "echo": return new Response(String((await request.arrayBuffer()).byteLength));
          case "json": return Response.json({ items: Array.from({ length: 50 }, (_, i) => ({ i, sq: i * i })) });
          case "stream": {
            const delay = Number(url.searchParams.get("delay") ?? "0");
            let left = 10;
            return new Response(new ReadableStream({
              async pull(controller) {
                if (delay) await new Promise(resolve => setTimeout(resolve, delay));
                if (left-- === 0) controller.close();
                else controller.enqueue(new TextEncoder().encode("chunk\\n"));
              },
            }));
          }
          case "sleep":
            await new Promise(resolve => setTimeout(resolve, Number(url.searchParams.get("ms"))));
            return new Response("slept");
          case "spin": while (true) {}
          case "hog": {
            const hoard = [];
            while (true) hoard.push(new Uint8Array(8 * 1024 * 1024).fill(1));
          }
          case "throw": throw new Error("hostile throw");
        }
        return new Response("no such op", { status: 404 });
      },
    };
    """)

CONFIG = textwrap.dedent("""\
    [server]
    workers = 2

    [[apps]]
    name = "shop"
    script = "app.js"
    routes = ["/shop/*"]
    pool_size = 2
    limits = { timeout_ms = 10000 }

    [[apps]]
    name = "wild"
    script = "app.js"
    routes = ["/wild/*"]
    pool_size = 2
    """)

# (app, op, method, expected statuses, weight); "leave" requests are abandoned by the client.
KINDS = [
    ("shop", "hello", "GET", {200}, 25),
    ("shop", "count", "GET", {200}, 10),
    ("shop", "json", "GET", {200}, 10),
    ("shop", "echo", "POST", {200}, 8),
    ("shop", "stream", "GET", {200}, 5),
    ("wild", "hello", "GET", {200}, 12),
    ("wild", "spin", "GET", {503}, 6),
    ("wild", "hog", "GET", {500, 503}, 3),
    ("wild", "throw", "GET", {500}, 6),
    ("wild", "stream?delay=50", "GET", {200}, 3),
    ("wild", "leave", "GET", set(), 3),
]
# What any request of the misbehaving app may also get: its engine died (502, or a closed
# connection once the response started), it was restarting (503), its queue was full (503).
WILD_ALSO = {502, 503}


@dataclass
class Outcome:
    request_id: str
    app: str
    op: str
    status: int | None  # None: no answer (transport error, or the client left on purpose)
    error: str | None
    sent: float
    at: float

    def in_flight_at(self, moment: float | None) -> bool:
        """Whether the server may still have been working on it at that moment."""
        end = self.at + LEAVE_SLEEP_S if self.error == "left" else self.at
        return moment is not None and self.sent - 0.5 <= moment <= end + 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_rss_kb(root: int) -> dict[int, int]:
    """RSS of a process and of each of its descendants, by pid."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry))
    rss, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            rss[pid] = int(match.group(1))
    return rss


class Soak:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "server.log"
        self.outcomes: list[Outcome] = []
        self.retries: list[Outcome] = []
        self.faults: collections.Counter[str] = collections.Counter()
        self.kill_at: float | None = None
        self.rng = random.Random(7)
        self.counter = 0
        self.in_flight = 0
        self.traffic: asyncio.Event | None = None  # cleared while RSS is sampled

    def log(self) -> list[dict]:
        complete = self.log_path.read_text().split("\n")[:-1]  # the last line may be half written
        return [json.loads(line) for line in complete if line]

    def start(self) -> subprocess.Popen[bytes]:
        (self.folder / "app.js").write_text(APP_JS)
        (self.folder / "pyruntime.toml").write_text(CONFIG)
        with open(self.log_path, "wb") as out, open(self.folder / "server.err", "wb") as err:
            # The faulthandler makes an aborted process write raw text, as V8's fatal paths do.
            server = subprocess.Popen([sys.executable, "-m", "pyruntime", "serve", "--config", "pyruntime.toml",
                                       "--port", str(self.port), "--server", HTTP_SERVER], cwd=self.folder, stdout=out,
                                      stderr=err, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"the server exited with {server.returncode}"
            engines = [line for line in self.log() if line["event"] == "engine_started"]
            if len(engines) >= 4:  # two apps in each of two workers
                try:
                    if httpx.get(self.url + "/healthz", timeout=5).status_code == 200:
                        return server
                except httpx.TransportError:
                    pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)

    def live(self, event: str, pid_key: str, **fields: str) -> list[int]:
        pids = [line[pid_key] for line in self.log() if line["event"] == event
                and all(line.get(k) == v for k, v in fields.items())]
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        return alive

    async def one(self, client: httpx.AsyncClient, app: str, op: str, method: str, request_id: str) -> Outcome:
        url = f"{self.url}/{app}/{op}"
        headers = {"x-request-id": request_id}
        sent = time.monotonic()
        try:
            if op == "leave":  # asks for a slow answer and leaves before it comes (unless refused at once)
                response = await client.get(f"{self.url}/{app}/sleep?ms={LEAVE_SLEEP_S * 1000:.0f}",
                                            headers=headers, timeout=0.3)
            elif method == "POST":
                response = await client.post(url, content=os.urandom(self.rng.randint(1, 200_000)), headers=headers)
            else:
                response = await client.get(url, headers=headers)
            return Outcome(request_id, app, op, response.status_code, None, sent, time.monotonic())
        except httpx.TimeoutException as exc:
            if op == "leave":
                return Outcome(request_id, app, op, None, "left", sent, time.monotonic())
            return Outcome(request_id, app, op, None, repr(exc), sent, time.monotonic())
        except httpx.TransportError as exc:
            return Outcome(request_id, app, op, None, repr(exc), sent, time.monotonic())

    async def client_loop(self, deadline: float) -> None:
        weights = [kind[4] for kind in KINDS]
        async with httpx.AsyncClient(timeout=60) as client:
            while time.monotonic() < deadline:
                assert self.traffic is not None
                await self.traffic.wait()
                app, op, method, _, _ = self.rng.choices(KINDS, weights)[0]
                self.counter += 1
                request_id = f"soak-{self.counter}"
                self.in_flight += 1
                outcome = await self.one(client, app, op, method, request_id)
                self.in_flight -= 1
                self.outcomes.append(outcome)
                if outcome.status is None and outcome.error != "left" and outcome.in_flight_at(self.kill_at):
                    # In flight on the killed worker: its connection is gone; retry once, as a proxy would.
                    self.retries.append(await self.one(client, app, op, method, request_id + "-retry"))

    async def faults_loop(self, started: float, deadline: float) -> None:
        next_abort = started + ABORT_EVERY_S
        kill_at = started + SECONDS / 2
        while time.monotonic() < deadline - 5:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if self.kill_at is None and now >= kill_at:
                workers = self.live("worker_started", "worker_pid")
                os.kill(workers[0], signal.SIGKILL)
                self.kill_at = time.monotonic()
                self.faults["worker SIGKILL"] += 1
            if now >= next_abort:
                engines = self.live("engine_started", "engine_pid", app="wild")
                if engines:
                    os.kill(self.rng.choice(engines), signal.SIGABRT)
                    self.faults["wild engine SIGABRT"] += 1
                next_abort = now + ABORT_EVERY_S

    def roles(self) -> dict[int, str]:
        """Who each pid of the server is, from the log."""
        names = {}
        for line in self.log():
            if line["event"] == "worker_started":
                names[line["worker_pid"]] = "worker"
            elif line["event"] == "engine_started":
                names[line["engine_pid"]] = f"engine {line['app']}"
        return names

    async def run(self, server_pid: int) -> dict[str, float]:
        started = time.monotonic()
        deadline = started + SECONDS
        rss: dict[str, float] = {}

        def sample(when: str) -> None:
            """Between requests, so that a memory hog in flight does not count: a leak would."""
            by_pid = tree_rss_kb(server_pid)
            roles = self.roles()
            rss[f"{when}_kb"], rss[f"processes_{when}"] = sum(by_pid.values()), len(by_pid)
            # The hostile app's engines hold what its memory hogs were allowed (see check()).
            rss[f"{when}_steady_kb"] = sum(kb for pid, kb in by_pid.items() if roles.get(pid) != "engine wild")
            rss[f"{when}_wild_max_kb"] = max((kb for pid, kb in by_pid.items() if roles.get(pid) == "engine wild"),
                                             default=0)
            print(f"RSS {when}:", ", ".join(f"{roles.get(pid, 'supervisor')} {pid}: {kb // 1024} MB"
                                           for pid, kb in sorted(by_pid.items())), flush=True)

        async def quiet() -> None:
            while self.in_flight or self.retries and self.retries[-1].at > time.monotonic() - 1:
                await asyncio.sleep(0.1)
            await asyncio.sleep(LEAVE_SLEEP_S + 1)  # requests the clients left are over too

        async def sample_rss() -> None:
            await asyncio.sleep(WARM_UP_S)
            assert self.traffic is not None
            self.traffic.clear()
            await quiet()
            sample("after_warm_up")
            self.traffic.set()

        self.traffic = asyncio.Event()
        self.traffic.set()
        await asyncio.gather(*(self.client_loop(deadline) for _ in range(CONCURRENCY)),
                             self.faults_loop(started, deadline), sample_rss())
        rss["duration_s"] = time.monotonic() - started
        await quiet()
        sample("at_end")
        return rss


def metrics_totals(text: str) -> dict[tuple[str, str], float]:
    totals: dict[tuple[str, str], float] = {}
    for match in re.finditer(r'^pyruntime_requests_total\{app="([^"]+)",status="(\d+)"\} ([0-9.e+]+)$', text, re.M):
        totals[(match.group(1), match.group(2))] = float(match.group(3))
    return totals


def check(soak: Soak, rss: dict[str, float], metrics_text: str) -> list[str]:
    failures: list[str] = []
    expected = {(app, op): statuses for app, op, _, statuses, _ in KINDS}
    lines = [line for line in soak.log() if line["event"] == "request"]
    by_id: dict[str, list[dict]] = collections.defaultdict(list)
    for line in lines:
        by_id[line.get("request_id", "")].append(line)

    # In flight on some worker when one was killed: if it was the killed one, the connection died
    # with it, and so did the log lines still in its buffers. Such requests have at most one line.
    at_kill = [o for o in soak.outcomes if o.in_flight_at(soak.kill_at)]
    for outcome in soak.outcomes + soak.retries:
        allowed = expected[(outcome.app, outcome.op)] | (WILD_ALSO if outcome.app == "wild" else set())
        logged = by_id.get(outcome.request_id, [])
        if outcome in at_kill and (outcome.status is None or not logged):
            if len(logged) > 1:
                failures.append(f"{outcome.request_id}: {len(logged)} request lines")
            continue
        if outcome.error == "left":
            if len(logged) != 1:
                failures.append(f"{outcome.request_id} (client left): {len(logged)} request lines")
            continue
        if outcome.status is None:
            # Only the misbehaving app's requests may lose their connection (a stream its dying engine had started).
            if outcome.app != "wild":
                failures.append(f"{outcome.request_id} {outcome.app}/{outcome.op}: no answer: {outcome.error}")
            elif len(logged) > 1:
                failures.append(f"{outcome.request_id}: {len(logged)} request lines")
            continue
        if outcome.status not in allowed:
            failures.append(f"{outcome.request_id} {outcome.app}/{outcome.op}: status {outcome.status}")
        if [line["status"] for line in logged] != [outcome.status]:
            failures.append(f"{outcome.request_id}: request lines {[line['status'] for line in logged]}, "
                            f"client got {outcome.status}")
    for retry in soak.retries:
        if retry.status is None and retry.error != "left" or retry.app == "shop" and retry.status != 200:
            failures.append(f"retry {retry.request_id} failed: {retry.status} {retry.error}")
    known = {o.request_id for o in soak.outcomes + soak.retries}
    strays = [rid for rid in by_id if rid not in known]
    if strays:
        failures.append(f"request lines for requests the client never sent: {strays[:5]}")

    totals = metrics_totals(metrics_text)
    for app in ("shop", "wild"):
        in_metrics = sum(v for (a, _), v in totals.items() if a == app)
        in_log = sum(1 for line in lines if line.get("app") == app)
        unlogged = sum(1 for o in at_kill if o.app == app and not by_id.get(o.request_id))
        if not in_log <= in_metrics <= in_log + unlogged:
            failures.append(f"{app}: metrics count {in_metrics:g} requests, the log {in_log} "
                            f"(+ at most {unlogged} in flight on the killed worker)")
        answered = [o for o in soak.outcomes + soak.retries if o.app == app]
        for status in {o.status for o in answered if o.status is not None}:
            got = sum(1 for o in answered if o.status == status)
            if totals.get((app, str(status)), 0) < got:
                failures.append(f"{app}: metrics count {totals.get((app, str(status)), 0):g} {status}s, "
                                f"the client got {got}")
    shop_200_client = sum(1 for o in soak.outcomes + soak.retries if o.app == "shop" and o.status == 200)
    shop_lost = sum(1 for o in at_kill if o.app == "shop" and o.status is None)
    if not shop_200_client <= totals.get(("shop", "200"), 0) <= shop_200_client + shop_lost:
        failures.append(f"shop: metrics count {totals.get(('shop', '200'), 0):g} 200s; the client got "
                        f"{shop_200_client}, plus at most {shop_lost} lost with the killed worker")

    # A leak shows in the processes that serve the normal traffic: the supervisor, the workers
    # and shop's engines. wild's engines hold what its memory hogs may take, bounded by its limits.
    growth = rss["at_end_steady_kb"] / rss["after_warm_up_steady_kb"] - 1
    if growth >= RSS_GROWTH_LIMIT:
        failures.append(f"RSS of the supervisor, workers and shop engines grew {growth:.1%} after warm-up "
                        f"(limit {RSS_GROWTH_LIMIT:.0%})")
    for when in ("after_warm_up", "at_end"):
        if rss[f"{when}_wild_max_kb"] > WILD_ENGINE_BOUND_KB:
            failures.append(f"a wild engine held {rss[f'{when}_wild_max_kb'] // 1024:.0f} MB {when}, over its "
                            f"bound of {WILD_ENGINE_BOUND_KB // 1024} MB")
    return failures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pyruntime-soak-") as tmp:
        soak = Soak(Path(tmp))
        server = soak.start()
        try:
            rss = asyncio.run(soak.run(server.pid))
            metrics_text = httpx.get(soak.url + "/metrics", timeout=30).text
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(120)
        try:
            failures = check(soak, rss, metrics_text)
        except json.JSONDecodeError as exc:
            failures = [f"a log line is not JSON: {exc}"]
        if code != 0:
            failures.append(f"the server exited with {code}")
        log = soak.log() if not failures or "JSON" not in failures[-1] else []
        report(soak, rss, log)
        for failure in failures[:50]:
            print("FAIL:", failure)
        print("soak:", "FAILED" if failures else "passed")
        return 1 if failures else 0


def report(soak: Soak, rss: dict[str, float], log: list[dict]) -> None:
    everything = soak.outcomes + soak.retries
    statuses = collections.Counter((o.app, o.status if o.status is not None else o.error and o.error.split("(")[0])
                                   for o in everything)
    hostile = collections.Counter(o.op.split("?")[0] for o in soak.outcomes
                                  if o.app == "wild" and o.op not in ("hello",))
    lost = [o for o in soak.outcomes if o.status is None and o.error != "left" and o.in_flight_at(soak.kill_at)]
    events = collections.Counter(line["event"] for line in log)
    print(f"duration: {rss['duration_s']:.0f} s, requests: {len(everything)} "
          f"({len(everything) / rss['duration_s']:.0f}/s, concurrency {CONCURRENCY})")
    print("answers by app and status:", dict(sorted(statuses.items(), key=str)))
    print("hostile requests to wild:", dict(hostile))
    print("faults injected:", dict(soak.faults), "| engine_exited lines:", events["engine_exited"],
          "| worker_exited lines:", events["worker_exited"])
    at_kill = [o for o in soak.outcomes if o.in_flight_at(soak.kill_at)]
    print(f"in flight on the workers at the kill: {len(at_kill)}; lost with the killed worker's connections: "
          f"{len(lost)} (retried: {len(soak.retries)}, retries answered: "
          f"{sum(1 for r in soak.retries if r.status is not None or r.error == 'left')})")
    print(f"request log lines: {events['request']}, worker_output lines: {events['worker_output']}")
    print(f"RSS after warm-up: {rss['after_warm_up_kb'] / 1024:.0f} MB in {rss['processes_after_warm_up']:.0f} "
          f"processes; at the end: {rss['at_end_kb'] / 1024:.0f} MB in {rss['processes_at_end']:.0f} processes "
          f"({rss['at_end_kb'] / rss['after_warm_up_kb'] - 1:+.1%}); without wild's engines: "
          f"{rss['after_warm_up_steady_kb'] / 1024:.0f} MB -> {rss['at_end_steady_kb'] / 1024:.0f} MB "
          f"({rss['at_end_steady_kb'] / rss['after_warm_up_steady_kb'] - 1:+.1%}); largest wild engine at the end: "
          f"{rss['at_end_wild_max_kb'] / 1024:.0f} MB (bound {WILD_ENGINE_BOUND_KB // 1024} MB)")


if __name__ == "__main__":
    sys.exit(main())
