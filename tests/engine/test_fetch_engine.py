"""Outbound fetch inside an AppIsolate against a real upstream on loopback: methods and bodies,
streaming both ways, redirects, abort, limits, and cancellation when the request ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from fetch_upstream import Upstream

from pyruntime.engine import AppIsolate, Limits, load_script
from pyruntime.engine.egress import EgressPolicy
from pyruntime.engine.host_ops import AsyncHostOps, FetchLimits

# Not about time: no tight JS budgets on a busy machine.
LIMITS = Limits(cpu_limit_ms=None, timeout_ms=None, total_timeout_ms=60_000)


class App:
    """One app isolate serving requests in an event loop of its own; `records` are its subrequests."""

    def __init__(self, tmp_path: Path, source: str, upstream: Upstream, *, allow=("127.0.0.1",),
                 fetch_limits: FetchLimits | None = None, limits: Limits = LIMITS) -> None:
        script = tmp_path / "worker.js"
        script.write_text(source)
        self.records: list = []
        self.loop = asyncio.new_event_loop()
        ops = AsyncHostOps(EgressPolicy.parse(allow=list(allow)), fetch_limits, app="t", observer=self.records.append)
        self.isolate = AppIsolate(load_script(script), env={"UP": upstream.url, "PORT": str(upstream.port)},
                                  limits=limits, op_handler=ops)
        self.loop.run_until_complete(self.isolate.load())

    def request(self, path: str = "/", method: str = "GET", body: bytes | None = None, *, end: bool = True):
        async def run():
            result = await self.isolate.fetch(method, "http://app.test" + path, [], body, request_id="req-1")
            data = result.body
            if result.stream_id:
                chunks = []
                while (chunk := await self.isolate.read_chunk(result.stream_id)) is not None:
                    chunks.append(chunk)
                data = b"".join(chunks)
            await self.isolate.wait_until()
            if end:
                self.isolate.end_request()
            return result.status, data.decode()
        return self.loop.run_until_complete(run())

    def end_request(self) -> None:
        async def end():
            self.isolate.end_request()
        self.loop.run_until_complete(end())

    def settle(self, seconds: float = 0.2) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def close(self) -> None:
        self.isolate.close()
        self.loop.close()


@pytest.fixture
def app(tmp_path: Path, upstream: Upstream):
    made: list[App] = []

    def make(source: str, **kwargs) -> App:
        made.append(App(tmp_path, source, upstream, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


def handler(body: str) -> str:
    """A module worker whose fetch handler is `body` (with env.UP the upstream's URL)."""
    return "export default { async fetch(request, env, ctx) {\n" + body + "\n} };\n"


def test_methods_bodies_and_forbidden_headers(app, upstream):
    worker = app(handler("""
        const results = [];
        const send = async (method, body, headers = {}) => {
          const r = await fetch(env.UP + "/echo?x=1", { method, body, headers });
          const seen = await r.json();
          results.push([seen.method, seen.body, r.headers.get("x-upstream")]);
          return seen;
        };
        await send("GET");
        await send("POST", "hello");
        await send("PUT", new Uint8Array(3_000_000));   // larger than the inline limit: streamed in slices
        await send("DELETE");
        await send("PATCH", JSON.stringify({ a: 1 }));
        const seen = await send("POST", "x", {
          host: "evil.example", cookie: "a=1", "sec-fetch-mode": "cors", "proxy-authorization": "p",
          "x-http-method-override": "TRACE", connection: "close", "x-kept": "yes" });
        return Response.json({ results, headers: seen.headers });
    """))
    status, text = worker.request()
    assert status == 200
    answer = json.loads(text)
    assert answer["results"] == [["GET", 0, "yes"], ["POST", 5, "yes"], ["PUT", 3_000_000, "yes"],
                                 ["DELETE", 0, "yes"], ["PATCH", 7, "yes"], ["POST", 1, "yes"]]
    headers = answer["headers"]
    assert headers["host"] == f"127.0.0.1:{upstream.port}"
    assert headers["x-kept"] == "yes"
    for dropped in ("cookie", "sec-fetch-mode", "proxy-authorization", "x-http-method-override"):
        assert dropped not in headers
    assert headers.get("connection") != "close"
    assert [r.method for r in worker.records] == ["GET", "POST", "PUT", "DELETE", "PATCH", "POST"]
    assert all(r.status == 200 and r.outcome == "ok" and r.host == "127.0.0.1" for r in worker.records)


def test_request_body_stream_is_streamed_to_the_upstream(app, upstream):
    worker = app(handler("""
        let sent = 0;
        const body = new ReadableStream({
          pull(controller) {
            if (sent === 100) return controller.close();
            sent++;
            controller.enqueue(new Uint8Array(10_000).fill(sent));
          },
        });
        const r = await fetch(env.UP + "/echo", { method: "POST", body, duplex: "half" });
        const seen = await r.json();
        return new Response(`${seen.body} ${seen.headers["transfer-encoding"]}`);
    """))
    assert worker.request() == (200, "1000000 chunked")


def test_response_body_is_pulled_as_js_reads(app, upstream):
    worker = app(handler("""
        const r = await fetch(env.UP + "/bytes?n=" + 256 * 1024 * 1024);
        const reader = r.body.getReader();
        const first = await reader.read();
        globalThis.held = reader;  // not read further
        return new Response(String(first.value.byteLength));
    """))
    status, text = worker.request(end=False)
    assert status == 200 and 0 < int(text) <= 1024 * 1024
    worker.settle(1.0)
    # Kernel socket buffers hold some; nothing reads the rest of the 256 MB.
    assert upstream.sent < 32 * 1024 * 1024
    worker.end_request()
    worker.settle(0.5)
    assert upstream.closed.wait(10)


def test_redirect_modes(app, upstream):
    worker = app(handler("""
        const up = env.UP;
        const to = (status, target) => `${up}/redirect?status=${status}&to=${encodeURIComponent(target)}`;
        const out = {};
        const followed = await fetch(to(302, "/echo"));
        out.follow = [followed.status, followed.redirected, followed.url, (await followed.json()).method];
        const manual = await fetch(to(301, "/echo"), { redirect: "manual" });
        out.manual = [manual.status, manual.headers.get("location"), manual.redirected];
        out.error = await fetch(to(302, "/echo"), { redirect: "error" }).catch((e) => [e.name, e.message]);
        out.loop = await fetch(up + "/loop/0").catch((e) => e.message);
        const see = await (await fetch(to(303, "/echo"), { method: "POST", body: "x" })).json();
        out.see = [see.method, see.body];
        const keep = await (await fetch(to(307, "/echo"), { method: "POST", body: "abc" })).json();
        out.keep = [keep.method, keep.body];
        const stream = new ReadableStream({ start(c) { c.enqueue(new Uint8Array(3)); c.close(); } });
        out.stream = await fetch(to(307, "/echo"), { method: "POST", body: stream, duplex: "half" })
          .catch((e) => e.message);
        out.scheme = await fetch(to(302, "file:///etc/passwd")).catch((e) => e.message);
        return Response.json(out);
    """))
    status, text = worker.request()
    out = json.loads(text)
    assert out["follow"] == [200, True, f"{upstream.url}/echo", "GET"]
    assert out["manual"] == [301, "/echo", False]
    assert out["error"] == ["TypeError", "fetch failed: redirected to \"/echo\" with redirect mode 'error'"]
    assert out["loop"] == "fetch failed: more than 20 redirects"
    assert out["see"] == ["GET", 0]
    assert out["keep"] == ["POST", 3]
    assert out["stream"] == "fetch failed: a request whose body is a stream cannot follow a redirect"
    assert out["scheme"] == "fetch failed: redirect to a file: URL is not followed"
    assert len([p for p in upstream.seen if p["path"].startswith("/loop/")]) == 21


def test_every_redirect_hop_is_checked(app, upstream):
    # localhost is allowed by name; a redirect to 127.0.0.1 (not allowed) must not be followed.
    worker = app(handler("""
        const target = encodeURIComponent(`http://127.0.0.1:${env.PORT}/echo`);
        try {
          await fetch(`http://localhost:${env.PORT}/redirect?status=302&to=${target}`);
          return new Response("reached");
        } catch (e) {
          return new Response(e.message, { status: 502 });
        }
    """), allow=("localhost",))
    status, text = worker.request()
    assert status == 502
    assert "'127.0.0.1' is refused: it resolves to 127.0.0.1" in text
    assert [p["path"].split("?")[0] for p in upstream.seen] == ["/redirect"]


def test_abort_signal_and_timeout_close_the_connection(app, upstream):
    worker = app(handler("""
        const controller = new AbortController();
        const pending = fetch(env.UP + "/hold", { signal: controller.signal });
        setTimeout(() => controller.abort(new Error("stop")), 50);
        const aborted = await pending.catch((e) => e.message);
        const r = await fetch(env.UP + "/drip", { signal: AbortSignal.timeout(300) });
        let body;
        try {
          for await (const _ of r.body) {}
        } catch (e) {
          body = e.name;
        }
        return Response.json([aborted, body]);
    """))
    assert worker.request() == (200, '["stop","TimeoutError"]')
    assert upstream.closed.wait(10)
    worker.settle(0.5)
    assert {r.outcome for r in worker.records} == {"aborted"}


def test_request_end_cancels_its_subrequests(app, upstream):
    worker = app(handler("""
        fetch(env.UP + "/hold").catch(() => {});   // never answered
        return new Response("answered at once");
    """))
    assert worker.request(end=False) == (200, "answered at once")
    deadline = time.monotonic() + 10
    while not upstream.seen and time.monotonic() < deadline:
        worker.settle(0.05)
    assert not upstream.closed.is_set()
    worker.end_request()
    worker.settle(0.2)
    assert upstream.closed.wait(10)
    assert worker.isolate._outbound.open_exchanges == 0
    assert worker.request() == (200, "answered at once")  # the isolate serves on


def test_concurrent_subrequests_with_promise_all(app, upstream):
    worker = app(handler("""
        const all = await Promise.all(Array.from({ length: 12 }, (_, i) => fetch(`${env.UP}/echo?i=${i}`)
          .then((r) => r.json()).then((seen) => seen.path)));
        return Response.json(all);
    """))
    status, text = worker.request()
    assert json.loads(text) == [f"/echo?i={i}" for i in range(12)]
    assert len(upstream.connections) > 1


LIMITED = handler("""
    const url = new URL(request.url);
    const out = [];
    try {
      if (url.pathname === "/count") {
        for (let i = 0; i < 5; i++) { await (await fetch(env.UP + "/echo")).arrayBuffer(); out.push(i); }
      } else if (url.pathname === "/open") {
        const held = [];
        for (let i = 0; i < 5; i++) { held.push(await fetch(env.UP + "/echo")); out.push(i); }
      } else if (url.pathname === "/slow") {
        await fetch(env.UP + "/slow?s=30");
      }
    } catch (e) {
      out.push(e.message);
    }
    return Response.json(out);
""")


def test_subrequest_limits_reject_and_the_app_serves_on(app, upstream):
    worker = app(LIMITED, fetch_limits=FetchLimits(max_subrequests=3, max_concurrent_subrequests=2,
                                                   subrequest_timeout_s=0.5))
    status, text = worker.request("/count")
    assert json.loads(text) == [0, 1, 2, "fetch failed: max_subrequests (3) reached: a request may make at most 3 "
                                         "subrequests"]
    status, text = worker.request("/open")
    assert json.loads(text) == [0, 1, "fetch failed: max_concurrent_subrequests (2) reached: read or cancel the "
                                      "bodies of earlier responses first"]
    started = time.monotonic()
    status, text = worker.request("/slow")
    assert "fetch failed: subrequest_timeout_s (0.5 s) passed before the response" in json.loads(text)[0]
    assert time.monotonic() - started < 15  # the upstream answers after 30 s: the timeout cut it
    # Each request starts with a fresh count: the limit was per request.
    assert json.loads(worker.request("/count")[1])[:3] == [0, 1, 2]


def test_a_subrequest_head_past_128_kib_is_a_type_error_and_never_sent(app, upstream):
    worker = app(handler("""
        const count = Number(new URL(request.url).searchParams.get("count"));
        const headers = {};
        for (let i = 0; i < count; i++) headers["x-big-" + i] = "a".repeat(60000);
        try { return new Response(`sent: ${(await fetch(env.UP + "/echo", { headers })).status}`) }
        catch (e) { return new Response(`${e.name}: ${e.message}`) }"""))
    assert worker.request("/?count=2") == (200, "sent: 200")
    status, text = worker.request("/?count=3")
    assert text.startswith("TypeError: fetch(): the request's method, URL and headers take 180")
    assert text.endswith(" bytes, more than the 131072 (128 KiB) allowed")
    assert worker.request("/?count=2") == (200, "sent: 200")  # the app's next subrequests go on
    assert [len(seen["headers"]["x-big-1"]) for seen in upstream.seen] == [60000, 60000]


def test_bytes_held_by_the_host_count_against_the_memory_limit(app, upstream):
    worker = app(handler("""
        if (request.url.endsWith("/ping")) return new Response("alive");
        const chunk = new Uint8Array(200_000);
        const ballast = [];
        for (const size of [1 << 20, 1 << 16]) {
          try {
            for (;;) ballast.push(new ArrayBuffer(size));
          } catch (e) {}
        }
        // The isolate is full: the host may not take another copy of the chunk for it.
        const body = new ReadableStream({ start(c) { c.enqueue(chunk); c.close(); } });
        const message = await fetch(env.UP + "/echo", { method: "POST", body, duplex: "half" })
          .then(() => "sent", (e) => e.message);
        return new Response(message);
    """), limits=LIMITS.with_(memory_limit_mb=32))
    status, message = worker.request()
    # Refused by the host (bytes it would hold) or, first, by the engine's check of the
    # operation's payload against what the isolate has left: either way, the memory limit.
    assert message.startswith("fetch failed: ") and "memory limit" in message, message
    assert worker.isolate._outbound.held_bytes == 0
    # The isolate serves on (its garbage ballast is collected only when V8 decides to).
    assert worker.request("/ping") == (200, "alive")


def test_data_urls_are_answered_locally(app, upstream):
    worker = app(handler("""
        const a = await fetch("data:text/plain;base64,aGVsbG8=");
        const b = await fetch("data:,a%20b%2");
        const bad = await fetch("data:text/plain;base64,@@@").catch((e) => e.message);
        return Response.json([await a.text(), a.headers.get("content-type"), await b.text(),
                              b.headers.get("content-type"), bad]);
    """))
    assert json.loads(worker.request()[1]) == ["hello", "text/plain", "a b%2", "text/plain;charset=US-ASCII",
                                               "fetch failed: invalid base64 in data: URL"]
    assert worker.records == [] and upstream.seen == []


def test_refusals_name_the_address_in_the_message(app, upstream):
    worker = app(handler("""
        const out = [];
        for (const url of [env.UP + "/echo", `http://localhost:${env.PORT}/`, "http://127.1:" + env.PORT,
                           "http://0x7f000001:" + env.PORT, `http://[::ffff:127.0.0.1]:${env.PORT}/`,
                           "ftp://127.0.0.1/"]) {
          out.push(await fetch(url).then((r) => r.status, (e) => e.message));
        }
        return Response.json(out);
    """), allow=("public",))
    out = json.loads(worker.request()[1])
    refused = ("fetch failed: '{}' is refused: it resolves to {}, which this app's egress policy does not allow "
               "(only public addresses unless [apps.egress] allow names the host or range)")
    loopback = refused.format("127.0.0.1", "127.0.0.1")
    # The URL parser spells 127.1 and 0x7f000001 as 127.0.0.1; the mapped address stays IPv6;
    # localhost is loopback in both families (RFC 6761, engine/dns.py).
    assert out[:5] == [loopback, refused.format("localhost", "::1, 127.0.0.1"), loopback, loopback,
                       refused.format("::ffff:7f00:1", "::ffff:7f00:1")]
    assert out[5] == "fetch failed: only http: and https: URLs can be fetched, not 'ftp://127.0.0.1/'"
    assert upstream.seen == []


def test_an_unread_upstream_body_goes_back_to_the_host(app, upstream):
    """`return fetch(url)`: the result names the exchange (a negative stream id) and the host
    reads the body itself (`take_upstream`, or `read_chunk` as for any stream); a body JS
    made its own (a tee's branch) stays JS's stream; one no one takes is closed with its request."""
    worker = app(handler("""
        const r = await fetch(env.UP + "/bytes?n=" + 300000);
        if (new URL(request.url).pathname === "/teed") return new Response(r.body.tee()[0]);
        return r;
    """))
    assert worker.request() == (200, "x" * 300000)  # through read_chunk, as a stream
    assert [(record.outcome, record.bytes) for record in worker.records] == [("ok", 300000)]

    async def taken():
        result = await worker.isolate.fetch("GET", "http://app.test/", [], None, request_id="req-2")
        assert result.stream_id < 0 and not worker.isolate.has_background_work
        body = worker.isolate.take_upstream()
        assert body is not None and worker.isolate.take_upstream() is None
        worker.isolate.end_request()  # the isolate is done with the request; the body is the host's
        chunks = []
        while (chunk := await body.read()) is not None:
            chunks.append(chunk)
        return b"".join(chunks)

    assert worker.loop.run_until_complete(taken()) == b"x" * 300000
    assert worker.records[-1].request_id == "req-2" and worker.records[-1].outcome == "ok"


    async def teed():
        result = await worker.isolate.fetch("GET", "http://app.test/teed", [], None)
        assert result.stream_id > 0 and worker.isolate.take_upstream() is None  # JS reads it
        chunks = []
        while (chunk := await worker.isolate.read_chunk(result.stream_id)) is not None:
            chunks.append(chunk)
        worker.isolate.end_request()
        return b"".join(chunks)

    assert worker.loop.run_until_complete(teed()) == b"x" * 300000

    async def untaken():
        result = await worker.isolate.fetch("GET", "http://app.test/", [], None)
        assert result.stream_id < 0
        worker.isolate.end_request()

    worker.loop.run_until_complete(untaken())
    worker.settle(0.2)
    assert worker.records[-1].outcome == "aborted"
    assert worker.isolate._outbound.open_exchanges == 0


def _established_to(port: int) -> int:
    """Open TCP connections whose local end is `port` (the upstream's side), from /proc."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def test_each_isolate_keeps_its_own_connections_until_its_bodies_are_sent(app, upstream):
    """An isolate's requests reuse its connections; a body it handed over is sent whole after
    the isolate is gone, and then its connections close."""
    worker = app(handler("""
        return fetch(env.UP + (new URL(request.url).pathname === "/big" ? "/bytes?n=300000" : "/echo"));
    """))
    assert worker.request()[0] == 200 and worker.request()[0] == 200
    assert len(upstream.connections) == 1  # the second request went over the first's connection

    async def handed_over_then_closed():
        result = await worker.isolate.fetch("GET", "http://app.test/big", [], None)
        body = worker.isolate.take_upstream()
        assert result.stream_id < 0 and body is not None
        worker.isolate.end_request()
        worker.isolate.close()  # the isolate goes; the body it handed over is still sent
        chunks = []
        while (chunk := await body.read()) is not None:
            chunks.append(chunk)
        await asyncio.sleep(0.1)  # the pool's close, scheduled when the body ended
        return b"".join(chunks)

    assert worker.loop.run_until_complete(handed_over_then_closed()) == b"x" * 300000
    deadline = time.monotonic() + 10
    while _established_to(upstream.port) and time.monotonic() < deadline:
        worker.settle(0.1)
    assert _established_to(upstream.port) == 0
