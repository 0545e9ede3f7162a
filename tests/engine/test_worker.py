"""Worker apps in an isolate: module and service-worker scripts, imports, env, async
handlers, waitUntil, outbound fetch, load errors and limits on top-level code."""

import asyncio
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
from fetch_upstream import LoopbackHTTPServer

from pyruntime import JSError, MemoryLimitExceeded, TimeLimitExceeded, UnsettledPromise
from pyruntime.engine import AppIsolate, FetchResult, Limits, load_script
from pyruntime.engine.egress import EgressPolicy
from pyruntime.engine.host_ops import AsyncHostOps


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / next(iter(files))


DEFAULT_LIMITS = Limits()


def serve_once(entry: Path, method="GET", url="http://example.test/", headers=(), body=None, *,
               env=None, limits=DEFAULT_LIMITS, console=None, op_handler=None):
    """Loads the app in a fresh isolate and answers one request (plus its waitUntil work)."""
    async def run():
        worker = AppIsolate(load_script(entry), env=env, limits=limits, console=console, op_handler=op_handler)
        await worker.load()
        result = await worker.fetch(method, url, list(headers), body)
        await worker.wait_until()
        return result
    return asyncio.run(run())


def test_module_worker_with_relative_imports(tmp_path):
    entry = write(tmp_path, {
        "worker.js": """
            import { greet } from "./lib/greet.js";
            import config from "./config.js";
            export default {
              async fetch(request, env, ctx) {
                const url = new URL(request.url);
                return Response.json({ text: greet(url.searchParams.get("name")), config, method: request.method,
                                       body: await request.text(), agent: request.headers.get("user-agent") });
              }
            };""",
        "lib/greet.js": 'import { PREFIX } from "../lib/prefix.js"; export const greet = (n) => `${PREFIX} ${n}`;',
        "lib/prefix.js": 'export const PREFIX = "hello";',
        "config.js": "export default { version: 3 };",
    })
    result = serve_once(entry, "POST", "http://example.test/?name=ada", [("user-agent", "t")], b"payload")
    assert result.status == 200
    assert ("content-type", "application/json") in result.headers
    assert json.loads(result.body) == {"text": "hello ada", "config": {"version": 3}, "method": "POST",
                                       "body": "payload", "agent": "t"}


def test_service_worker_script(tmp_path):
    entry = write(tmp_path, {"sw.js": """
        addEventListener("fetch", (event) => {
          event.respondWith(new Response("from service worker " + new URL(event.request.url).pathname,
                                         { status: 201, headers: { "x-kind": "sw" } }));
        });"""})
    result = serve_once(entry, url="http://example.test/path")
    assert (result.status, result.body) == (201, b"from service worker /path")
    assert ("x-kind", "sw") in result.headers


def test_response_headers_come_back_as_pairs(tmp_path):
    """The worker protocol sends the headers as one flat list; FetchResult pairs them up again."""
    entry = write(tmp_path, {"worker.js": """
        export default { fetch() {
          const headers = new Headers([["x-b", "2"], ["x-a", "1"]]);
          headers.append("set-cookie", "a=1");
          headers.append("set-cookie", "b=2");
          return new Response("ok", { headers });
        } };"""})
    result = serve_once(entry)
    assert sorted(result.headers) == [("content-type", "text/plain;charset=UTF-8"), ("set-cookie", "a=1"),
                                      ("set-cookie", "b=2"), ("x-a", "1"), ("x-b", "2")]


def test_a_flat_header_list_of_odd_length_is_refused():
    with pytest.raises(ValueError):
        FetchResult.from_js([200, "", ["content-type", "text/plain", "x-orphan"], b"", 0, 0], 0.0, 0.0)


ECHO_HEADERS = """
    export default { fetch(request) {
      const seen = [...request.headers].map(([name, value]) => [name, [...value].map((c) => c.charCodeAt(0))]);
      return Response.json(seen);
    } };"""


def test_request_headers_reach_js_byte_for_byte_as_bytes_or_latin1_text(tmp_path):
    """ASGI's byte pairs go to JS undecoded (each byte one code unit, as the Fetch standard's
    byte strings are); str pairs are taken as Latin-1, so both give the same Request."""
    entry = write(tmp_path, {"worker.js": ECHO_HEADERS})
    as_bytes = serve_once(entry, headers=[(b"X-Name", b"caf\xe9 \x80\xff"), (b"accept", b"*/*")])
    as_text = serve_once(entry, headers=[("X-Name", "caf\xe9 \x80\xff"), ("accept", "*/*")])
    expected = [["accept", [42, 47, 42]], ["x-name", [99, 97, 102, 0xE9, 32, 0x80, 0xFF]]]
    assert json.loads(as_bytes.body) == expected
    assert json.loads(as_text.body) == expected


@pytest.mark.parametrize(("headers", "message"), [
    ([("x-price", "5 €")], "a header value must be Latin-1 text"),
    ([(b"x-a", b"1", b"extra")], "a header must be a (name, value) pair"),
    ([(b"x-a", 1)], "a header value must be bytes or str, not int"),
])
def test_request_headers_that_cannot_be_bytes_are_refused_by_name(tmp_path, headers, message):
    """Refused before JS runs: the same isolate answers the next request."""
    async def run():
        worker = AppIsolate(load_script(write(tmp_path, {"worker.js": ECHO_HEADERS})))
        await worker.load()
        with pytest.raises(TypeError, match=re.escape(message)):
            await worker.fetch("GET", "http://example.test/", headers, None)
        worker.end_request()
        return await worker.fetch("GET", "http://example.test/", [(b"x-next", b"1")], None)
    assert json.loads(asyncio.run(run()).body) == [["x-next", [49]]]


def test_env_bindings_and_async_handler_with_timers(tmp_path):
    entry = write(tmp_path, {"worker.js": """
        export default {
          async fetch(request, env) {
            await new Promise((resolve) => setTimeout(resolve, 30));
            return new Response(`${env.GREETING} ${env.SETTINGS.level} ${typeof env.SECRET}`);
          }
        };"""})
    result = serve_once(entry, env={"GREETING": "hi", "SETTINGS": {"level": 2}, "SECRET": "s3cr3t"})
    assert result.body == b"hi 2 string"


def test_env_is_converted_once_and_is_the_same_object_for_every_request_and_cron_run(tmp_path):
    entry = write(tmp_path, {"worker.js": """
        const seen = new Set();
        export default {
          fetch(request, env) {
            seen.add(env);
            return new Response(`${seen.size} ${env.GREETING}`);
          },
          scheduled(controller, env) {
            seen.add(env);
          },
        };"""})

    async def run():
        worker = AppIsolate(load_script(entry), env={"GREETING": "hi"})
        await worker.load()
        bodies = []
        for _ in range(3):
            bodies.append((await worker.fetch("GET", "http://example.test/", [], None)).body)
            worker.end_request()
        await worker.scheduled("* * * * *", 0)
        bodies.append((await worker.fetch("GET", "http://example.test/", [], None)).body)
        worker.close()
        return bodies

    assert asyncio.run(run()) == [b"1 hi", b"1 hi", b"1 hi", b"1 hi"]


def test_wait_until_runs_after_the_response(tmp_path):
    lines = []
    entry = write(tmp_path, {"worker.js": """
        export default {
          fetch(request, env, ctx) {
            const background = () => { console.log("background done") };
            ctx.waitUntil(new Promise((resolve) => setTimeout(() => { background(); resolve() }, 20)));
            console.log("responding");
            return new Response("ok");
          }
        };"""})
    result = serve_once(entry, console=lambda level, text: lines.append(text))
    assert result.body == b"ok"
    assert lines == ["responding", "background done"]


def test_wait_until_work_settled_within_the_request_needs_no_wait_and_is_not_kept(tmp_path):
    """Work that settled before the handler's slice ended (logging, as most waitUntil use is)
    leaves the host no waitUntil call to make; work still waiting on a timer is counted, and
    settled work from earlier requests never adds to the count."""
    lines = []
    entry = write(tmp_path, {"worker.js": """
        export default {
          fetch(request, env, ctx) {
            const url = new URL(request.url);
            if (url.pathname === "/log") ctx.waitUntil(Promise.resolve().then(() => console.log("logged")));
            if (url.pathname === "/fail") ctx.waitUntil(Promise.reject(new Error("background failed")));
            if (url.pathname === "/later") {
              ctx.waitUntil(new Promise((resolve) => setTimeout(() => { console.log("later"); resolve() }, 10)));
            }
            return new Response("ok");
          }
        };"""})

    async def run() -> list[int]:
        worker = AppIsolate(load_script(entry), limits=DEFAULT_LIMITS, console=lambda level, text: lines.append(text))
        await worker.load()
        counts = []
        for path in ["/log"] * 200 + ["/fail", "/later"]:
            result = await worker.fetch("GET", f"http://example.test{path}", [], None)
            counts.append(result.wait_until)
            if path == "/later":
                assert worker.has_background_work
                await worker.wait_until()
            else:
                assert not worker.has_background_work
            worker.end_request()
        worker.close()
        return counts

    assert asyncio.run(run()) == [0] * 201 + [1]
    assert lines.count("logged") == 200
    assert any("background failed" in line for line in lines)
    assert lines[-1] == "later"


def test_wait_until_work_cut_off_by_a_limit_does_not_count_for_later_requests(tmp_path):
    entry = write(tmp_path, {"worker.js": """
        export default {
          fetch(request, env, ctx) {
            const forever = () => new Promise((resolve) => setTimeout(resolve, 60000));
            if (request.url.endsWith("/stuck")) ctx.waitUntil(forever());
            else if (request.url.endsWith("/throw")) { ctx.waitUntil(forever()); throw new Error("handler failed") }
            else ctx.waitUntil(Promise.resolve());
            return new Response("ok");
          }
        };"""})

    async def run() -> list[int]:
        # The stuck work ends at this limit; the requests themselves take milliseconds.
        worker = AppIsolate(load_script(entry), limits=Limits(total_timeout_ms=1000))
        await worker.load()
        stuck = await worker.fetch("GET", "http://example.test/stuck", [], None)
        with pytest.raises(TimeLimitExceeded):
            await worker.wait_until()
        worker.end_request()
        counts = [stuck.wait_until]
        # A handler that fails after waitUntil: the host never waits for that work.
        with pytest.raises(JSError):
            await worker.fetch("GET", "http://example.test/throw", [], None)
        worker.end_request()
        for _ in range(3):
            counts.append((await worker.fetch("GET", "http://example.test/", [], None)).wait_until)
            assert not worker.has_background_work
            worker.end_request()
        worker.close()
        return counts

    assert asyncio.run(run()) == [1, 0, 0, 0]


def test_a_scheduler_wait_cut_off_by_the_time_limit_is_gone_from_the_next_request(tmp_path):
    """`scheduler.wait()` is a timer like any other: a request that waits past its total time
    limit ends, and its wait never fires in a later request on the same isolate."""
    entry = write(tmp_path, {"worker.js": """
        let fired = 0;
        export default {
          async fetch(request) {
            if (request.url.endsWith("/hang")) {
              await scheduler.wait(60000);
              fired++;
            }
            await scheduler.wait(1);
            return new Response(`fired ${fired}`);
          }
        };"""})

    async def run() -> list[bytes]:
        worker = AppIsolate(load_script(entry), limits=Limits(total_timeout_ms=1000))
        await worker.load()
        with pytest.raises(TimeLimitExceeded):
            await worker.fetch("GET", "http://example.test/hang", [], None)
        worker.end_request()
        bodies = []
        for _ in range(2):
            bodies.append((await worker.fetch("GET", "http://example.test/", [], None)).body)
            worker.end_request()
        worker.close()
        return bodies

    assert asyncio.run(run()) == [b"fired 0", b"fired 0"]


def test_a_streamed_body_that_ends_with_no_waituntil_work_pending_needs_no_wait(tmp_path):
    entry = write(tmp_path, {"worker.js": """
        const enc = new TextEncoder();
        export default {
          fetch(request, env, ctx) {
            const later = request.url.endsWith("/later");
            let i = 0;
            return new Response(new ReadableStream({
              pull(c) {
                if (i++ < 2) return c.enqueue(enc.encode(`part ${i};`));
                // Work the stream adds as it ends: pending on a timer, or settled at once.
                ctx.waitUntil(later ? new Promise((resolve) => setTimeout(resolve, 20)) : Promise.resolve());
                c.close();
              },
            }));
          }
        };"""})

    async def run(path: str) -> tuple[bytes, bool]:
        worker = AppIsolate(load_script(entry), limits=DEFAULT_LIMITS)
        await worker.load()
        result = await worker.fetch("GET", f"http://example.test{path}", [], None)
        assert worker.has_background_work  # a stream may add waitUntil work while it is read
        body = b""
        while (chunk := await worker.read_chunk(result.stream_id)) is not None:
            body += chunk
        background = worker.has_background_work
        await worker.wait_until()
        worker.end_request()
        worker.close()
        return body, background

    assert asyncio.run(run("/now")) == (b"part 1;part 2;", False)
    assert asyncio.run(run("/later")) == (b"part 1;part 2;", True)


def test_a_read_takes_the_chunks_a_stream_has_at_hand_in_one(tmp_path):
    """One-byte chunks a `pull` enqueues without waiting come to the host joined (each read
    costs the host some 100 µs beyond its JS), in order and whole; chunks that come after a
    wait come one per read, and a read whose `pull` is costly runs that one, as before."""
    entry = write(tmp_path, {"worker.js": """
        export default {
          fetch(request) {
            const kind = new URL(request.url).pathname;
            let i = 0;
            return new Response(new ReadableStream({
              async pull(c) {
                if (i === 5000) return c.close();
                if (kind === "/waits") await new Promise((resolve) => setTimeout(resolve, 0));
                if (kind === "/costly") { let x = 0; for (let j = 0; j < 5e6; j++) x = (x + j) | 0; }
                if (kind === "/busy") { const end = Date.now() + 30; while (Date.now() < end); }
                c.enqueue(new Uint8Array([i++ % 251]));
              },
            }));
          }
        };"""})
    expected = bytes(i % 251 for i in range(5000))
    generous = Limits(cpu_limit_ms=5000, timeout_ms=None)  # not about time: the joins, on a busy machine too

    async def reads(path: str, limit: int, limits: Limits = generous) -> list[bytes]:
        worker = AppIsolate(load_script(entry), limits=limits)
        await worker.load()
        result = await worker.fetch("GET", f"http://example.test{path}", [], None)
        chunks = []
        while len(chunks) < limit and (chunk := await worker.read_chunk(result.stream_id)) is not None:
            chunks.append(chunk)
        worker.close()
        return chunks

    at_hand = asyncio.run(reads("/at-hand", 5000))
    assert b"".join(at_hand) == expected and len(at_hand) < 100
    waits = asyncio.run(reads("/waits", 5000))
    assert b"".join(waits) == expected and len(waits) == 5000
    costly = asyncio.run(reads("/costly", 20))
    assert b"".join(costly) == expected[:len(b"".join(costly))] and max(map(len, costly)) == 1
    # A pull of 30 ms under the default 50 ms: each read runs one, so none passes the limit.
    assert asyncio.run(reads("/busy", 3, DEFAULT_LIMITS)) == [expected[:1], expected[1:2], expected[2:3]]


def test_handler_that_returns_no_response_is_a_type_error(tmp_path):
    entry = write(tmp_path, {"worker.js": "export default { fetch() { return { status: 200 } } };"})
    with pytest.raises(JSError) as info:
        serve_once(entry)
    assert info.value.name == "TypeError"
    assert "expected a Response" in info.value.message


@pytest.mark.parametrize("status_text", ["", "Fine"])
def test_a_response_head_past_128_kib_is_a_type_error_naming_its_size(tmp_path, status_text: str):
    """Status text and headers count as written (`name: value` and a line break each): a head
    of exactly 128 KiB is answered, one byte more is the handler's error, not host memory."""
    entry = write(tmp_path, {"worker.js": """
        export default { fetch(request) {
          const size = Number(new URL(request.url).searchParams.get("size"));
          const statusText = new URL(request.url).searchParams.get("text");
          const headers = new Headers({ "x-a": "1" });
          headers.set("x-big", "v".repeat(size - statusText.length - (3 + 1 + 4) - (5 + 4)));
          return new Response(null, { headers, statusText });
        } };"""})
    url = f"http://example.test/?text={status_text}&size="
    result = serve_once(entry, url=url + str(128 * 1024))
    assert result.status == 200 and result.status_text == status_text
    assert sum(len(name) + len(value) + 4 for name, value in result.headers) + len(status_text) == 128 * 1024
    with pytest.raises(JSError) as info:
        serve_once(entry, url=url + str(128 * 1024 + 1))
    assert info.value.name == "TypeError"
    assert f"status text and headers take {128 * 1024 + 1} bytes, more than the 131072 (128 KiB) allowed" in \
        info.value.message


def test_handler_promise_that_can_never_settle_fails_at_once(tmp_path):
    entry = write(tmp_path, {"worker.js": "export default { fetch() { return new Promise(() => {}) } };"})
    with pytest.raises(UnsettledPromise):
        serve_once(entry)


def test_missing_default_export_is_named(tmp_path):
    entry = write(tmp_path, {"worker.js": "export const handler = 1;"})
    with pytest.raises(JSError, match="default export"):
        serve_once(entry)


def test_syntax_error_in_a_module_names_file_line_and_column(tmp_path):
    entry = write(tmp_path, {"worker.js": 'import "./bad.js"; export default {}', "bad.js": "let a = 1;\nlet a = 2;"})
    with pytest.raises(JSError) as info:
        load_script(entry)
    assert info.value.name == "SyntaxError"
    assert info.value.stack.startswith("bad.js:2:")


def test_throw_in_top_level_code_names_file_and_line(tmp_path):
    entry = write(tmp_path, {"worker.js": "const x = 1;\nthrow new Error('top-level failure');\nexport default {};"})
    with pytest.raises(JSError) as info:
        serve_once(entry)
    assert "top-level failure" in info.value.message
    assert "worker.js:2:" in info.value.stack


@pytest.mark.parametrize("top_level", [
    "while (true) {}",
    "await new Promise((resolve) => setTimeout(() => { for (;;) {} }, 1));",
])
def test_top_level_code_runs_under_the_time_limit(tmp_path, top_level):
    entry = write(tmp_path, {"worker.js": top_level + "\nexport default {};"})
    with pytest.raises(TimeLimitExceeded):
        serve_once(entry, limits=Limits(timeout_ms=50))


def test_top_level_code_runs_under_the_memory_limit(tmp_path):
    entry = write(tmp_path, {"worker.js": "const a = []; while (true) a.push({ n: a.length });\nexport default {};"})
    with pytest.raises(MemoryLimitExceeded):
        serve_once(entry, limits=Limits(timeout_ms=None, cpu_limit_ms=None, memory_limit_mb=32))


def test_a_worker_isolate_serves_many_requests(tmp_path):
    entry = write(tmp_path, {"worker.js": """
        let count = 0;
        export default { fetch() { count += 1; return new Response(String(count)) } };"""})

    async def run():
        worker = AppIsolate(load_script(entry))
        await worker.load()
        bodies = [(await worker.fetch("GET", "http://x/", [], None)).body for _ in range(50)]
        return bodies
    assert asyncio.run(run())[-1] == b"50"


class _Upstream(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["content-length"]))
        reply = json.dumps({"got": body.decode(), "path": self.path, "header": self.headers["x-test"]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = LoopbackHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_outbound_fetch_is_performed_by_the_host(tmp_path, upstream):
    entry = write(tmp_path, {"worker.js": """
        export default {
          async fetch(request, env) {
            const reply = await fetch(env.UPSTREAM + "/echo", { method: "POST", body: "ping",
                                                              headers: { "x-test": "yes" } });
            return new Response(JSON.stringify({ status: reply.status, data: await reply.json() }));
          }
        };"""})
    loopback = AsyncHostOps(EgressPolicy.parse(allow=["127.0.0.1"]))  # the default allows public addresses only
    result = serve_once(entry, env={"UPSTREAM": upstream}, op_handler=loopback)
    assert json.loads(result.body) == {"status": 200, "data": {"got": "ping", "path": "/echo", "header": "yes"}}


def test_outbound_fetch_failure_is_a_type_error_in_js(tmp_path):
    entry = write(tmp_path, {"worker.js": """
        export default {
          async fetch() {
            try { await fetch("ftp://example.test/file"); return new Response("no error") }
            catch (e) { return new Response(`${e.name}: ${e.message}: ${e.cause?.message}`) }
          }
        };"""})
    assert serve_once(entry).body.startswith(b"TypeError: fetch failed: only http: and https: URLs can be fetched")


WASM_GROW = bytes([0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1,
                   1, 103, 0, 0, 10, 8, 1, 6, 0, 32, 0, 64, 0, 11])  # (memory 1) (func (export "g") memory.grow)


def test_webassembly_works_and_its_memory_counts_against_the_limit():
    from pyruntime import Isolate
    with Isolate(memory_limit_mb=64) as iso:
        iso.eval("function load(bytes) { return WebAssembly.instantiate(bytes).then(r => { globalThis.g = "
                 "r.instance.exports.g; return r.instance instanceof WebAssembly.Instance }) }")
        assert iso.call("load", WASM_GROW) is True
        assert iso.eval("g(1)") == 1  # grown from 1 page to 2
        with pytest.raises(JSError, match="exceed the isolate's memory limit"):
            iso.eval("new WebAssembly.Memory({ initial: 2000 })")
        # Maximums are lowered to what the budget allows (ext/wasm_natives.cc), so growth past
        # it fails from JS (RangeError) and from inside wasm code (memory.grow returns -1).
        with pytest.raises(JSError, match="RangeError"):
            iso.eval("const m = new WebAssembly.Memory({ initial: 1, maximum: 4000 }); while (true) m.grow(100)")
        assert iso.eval("g(2000)") == -1
        assert iso.eval("g(1)") == 2
    with Isolate() as fresh:
        assert fresh.eval("typeof WebAssembly.Memory") == "function"


def test_timers_left_by_a_request_do_not_run_in_the_next(tmp_path):
    entry = write(tmp_path, {"worker.js": """
        let runs = 0;
        export default {
          async fetch(request) {
            if (new URL(request.url).pathname === "/leave") {
              setInterval(() => { runs += 1; const end = Date.now() + 20; while (Date.now() < end) {} }, 1);
              return new Response("left a timer");
            }
            await new Promise((resolve) => setTimeout(resolve, 30));  // timers due meanwhile would run
            return new Response(String(runs));
          }
        };"""})

    async def run():
        worker = AppIsolate(load_script(entry), limits=Limits())
        await worker.load()
        await worker.fetch("GET", "http://x/leave", [], None)
        await worker.wait_until()
        await asyncio.sleep(0.1)
        return [(await worker.fetch("GET", "http://x/", [], None)).body for _ in range(3)]
    assert asyncio.run(run()) == [b"0", b"0", b"0"]
