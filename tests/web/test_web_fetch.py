"""Behaviour of the fetch family (ext/js/50-99) seen from inside an isolate: streams, Blob,
File, FormData, Headers, Request, Response, fetch() and the worker dispatch."""

import json
import re

import pytest

import pyruntime
from pyruntime import _core
from pyruntime.engine.errors import JSError
from pyruntime.engine.protocol import FetchResult


@pytest.fixture(scope="module")
def iso():
    isolate = pyruntime.Isolate(timeout_ms=5000, cpu_limit_ms=5000)
    yield isolate
    isolate.close()


@pytest.fixture
def fresh():
    isolate = pyruntime.Isolate(timeout_ms=5000, cpu_limit_ms=5000)
    yield isolate
    isolate.close()


def run(iso, body):
    """Runs `body` as the body of an async function and returns its result."""
    return iso.eval(f"(async () => {{ {body} }})()")


def error_of(iso, code):
    """[name, message] of what `code` throws or rejects with, or None."""
    return run(iso, f"try {{ await (async () => {{ {code} }})(); return null; }}"
                    " catch (e) { return [e.name, e.message]; }")


# --- streams --------------------------------------------------------------------------


def test_readable_stream_pull_and_reader(iso):
    assert run(iso, """
        let n = 0;
        const rs = new ReadableStream({ pull(c) { if (n < 3) c.enqueue(n++); else c.close(); } });
        const reader = rs.getReader();
        const out = [];
        for (;;) { const { value, done } = await reader.read(); if (done) break; out.push(value); }
        await reader.closed;
        return [out, rs.locked];
    """) == [[0, 1, 2], True]


def test_readable_stream_strategy_and_desired_size(iso):
    assert run(iso, """
        let ctrl;
        new ReadableStream({ start(c) { ctrl = c; } }, { highWaterMark: 5, size: (s) => s.length });
        const before = ctrl.desiredSize;
        ctrl.enqueue("abc");
        return [before, ctrl.desiredSize];
    """) == [5, 2]
    assert error_of(iso, "new ReadableStream({}, { highWaterMark: -1 })")[0] == "RangeError"
    assert error_of(iso, "new ReadableStream({ pull: 1 })")[0] == "TypeError"


def test_readable_stream_async_iteration_and_from(iso):
    assert run(iso, """
        async function* gen() { yield 1; yield 2; }
        const out = [];
        for await (const x of ReadableStream.from(gen())) out.push(x);
        for await (const x of ReadableStream.from(["a", Promise.resolve("b")])) out.push(x);
        return out;
    """) == [1, 2, "a", "b"]


def test_breaking_out_of_iteration_cancels_unless_prevented(iso):
    assert run(iso, """
        let canceled = 0;
        const make = () => new ReadableStream({ pull(c) { c.enqueue(1); }, cancel() { canceled++; } });
        const a = make();
        for await (const x of a) break;
        const b = make();
        for await (const x of b.values({ preventCancel: true })) break;
        return [canceled, a.locked, b.locked];
    """) == [1, False, False]


def test_tee_delivers_every_chunk_to_both_branches(iso):
    assert run(iso, """
        const [a, b] = ReadableStream.from([1, 2, 3]).tee();
        const read = async (s) => { const out = []; for await (const x of s) out.push(x); return out; };
        return await Promise.all([read(a), read(b)]);
    """) == [[1, 2, 3], [1, 2, 3]]


def test_pipe_through_transform_stream(iso):
    assert run(iso, """
        const ts = new TransformStream({
          transform(chunk, c) { c.enqueue(chunk * 10); },
          flush(c) { c.enqueue("done"); },
        });
        const out = [];
        for await (const x of ReadableStream.from([1, 2]).pipeThrough(ts)) out.push(x);
        return out;
    """) == [10, 20, "done"]


def test_pipe_to_respects_backpressure_and_closes(iso):
    assert run(iso, """
        const log = [];
        let inFlight = 0, maxInFlight = 0;
        const ws = new WritableStream({
          async write(chunk) {
            inFlight++; maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise((r) => setTimeout(r, 1));
            inFlight--; log.push(chunk);
          },
          close() { log.push("closed"); },
        }, new CountQueuingStrategy({ highWaterMark: 2 }));
        await ReadableStream.from([1, 2, 3, 4]).pipeTo(ws);
        return [log, maxInFlight];
    """) == [[1, 2, 3, 4, "closed"], 1]


def test_pipe_to_propagates_errors_both_ways(iso):
    assert run(iso, """
        let aborted, canceled;
        const bad = new ReadableStream({ start(c) { c.error(new Error("src")); } });
        const r1 = await bad.pipeTo(new WritableStream({ abort(e) { aborted = e.message; } }))
          .catch((e) => e.message);
        const src = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel(e) { canceled = e.message; } });
        const r2 = await src.pipeTo(new WritableStream({ write() { throw new Error("sink"); } }))
          .catch((e) => e.message);
        return [r1, aborted, r2, canceled];
    """) == ["src", "src", "sink", "sink"]


def test_pipe_to_honours_abort_signal(iso):
    assert run(iso, """
        const ac = new AbortController();
        const tick = (c) => new Promise((r) => setTimeout(() => { try { c.enqueue(1); } catch {} r(); }, 2));
        const src = new ReadableStream({ pull: tick });
        const p = src.pipeTo(new WritableStream(), { signal: ac.signal });
        setTimeout(() => ac.abort(new Error("stop")), 10);
        return await p.catch((e) => e.message);
    """) == "stop"


def test_writable_stream_writer(iso):
    assert run(iso, """
        const chunks = [];
        const ws = new WritableStream({ write(c) { chunks.push(c); } });
        const w = ws.getWriter();
        const size = w.desiredSize;
        await w.write("a"); await w.write("b"); await w.close();
        await w.closed;
        const lockedError = await ws.close().catch((e) => e.name);
        return [size, chunks, lockedError];
    """) == [1, ["a", "b"], "TypeError"]


def test_transform_terminate_closes_readable(iso):
    assert run(iso, """
        const ts = new TransformStream({ transform(chunk, c) { c.enqueue(chunk); c.terminate(); } });
        ts.writable.getWriter().write("x").catch(() => {});
        const r = ts.readable.getReader();
        return [await r.read(), await r.read()];
    """) == [{"value": "x", "done": False}, {"value": None, "done": True}]


def test_text_encoder_and_decoder_streams(iso):
    assert run(iso, """
        const s = ReadableStream.from(["h\u00e9", "\\ud83d", "\\ude00!"])
          .pipeThrough(new TextEncoderStream())
          .pipeThrough(new TextDecoderStream());
        let out = "";
        for await (const x of s) out += x;
        return out;
    """) == "h\u00e9\U0001F600!"


def test_stream_brand_checks_and_tags(iso):
    assert run(iso, """
        const tags = [new ReadableStream(), new WritableStream(), new TransformStream(),
                      new CountQueuingStrategy({ highWaterMark: 1 })]
          .map((o) => Object.prototype.toString.call(o));
        let err;
        try { ReadableStream.prototype.getReader.call({}); } catch (e) { err = e.name; }
        let ctor;
        try { new ReadableStreamDefaultController(); } catch (e) { ctor = e.name; }
        return [tags, err, ctor];
    """) == [["[object ReadableStream]", "[object WritableStream]", "[object TransformStream]",
              "[object CountQueuingStrategy]"], "TypeError", "TypeError"]


def test_locked_stream_errors(iso):
    assert run(iso, """
        const rs = new ReadableStream();
        rs.getReader();
        let again;
        try { rs.getReader(); } catch (e) { again = e.name; }
        return [again, await rs.cancel().catch((e) => e.name)];
    """) == ["TypeError", "TypeError"]


def test_byte_stream_byob_reader(iso):
    assert run(iso, """
        let i = 0;
        const rs = new ReadableStream({
          type: "bytes",
          pull(c) {
            const req = c.byobRequest;
            if (i >= 3) { c.close(); req.respond(0); return; }
            req.view[0] = 65 + i++;
            req.respond(1);
          },
        });
        const reader = rs.getReader({ mode: "byob" });
        const out = [];
        for (;;) {
          const { value, done } = await reader.read(new Uint8Array(4));
          if (done) break;
          out.push(...value);
        }
        return out;
    """) == [65, 66, 67]


def test_byte_stream_queue_feeds_byob_reads_with_min(iso):
    assert run(iso, """
        const rs = new ReadableStream({
          type: "bytes",
          start(c) { c.enqueue(new Uint8Array([1, 2, 3, 4, 5])); c.close(); },
        });
        const r = rs.getReader({ mode: "byob" });
        const a = await r.read(new Uint8Array(2));
        const b = await r.read(new Uint8Array(4), { min: 1 });
        const c = await r.read(new Uint8Array(4));
        return [[...a.value], [...b.value], c.done, c.value.byteLength];
    """) == [[1, 2], [3, 4, 5], True, 0]


def test_byte_stream_auto_allocate_and_default_reader(iso):
    assert run(iso, """
        let n = 0;
        const rs = new ReadableStream({
          type: "bytes",
          autoAllocateChunkSize: 8,
          pull(c) {
            const req = c.byobRequest;
            if (n++ < 2) { req.view.set([7, 7]); req.respond(2); } else { c.close(); req.respond(0); }
          },
        });
        const sizes = [];
        for await (const chunk of rs) sizes.push(chunk.length);
        let notBytes;
        try { new ReadableStream().getReader({ mode: "byob" }); } catch (e) { notBytes = e.name; }
        return [sizes, notBytes];
    """) == [[2, 2], "TypeError"]


def test_body_streams_are_byte_streams(iso):
    assert run(iso, """
        const res = new Response("hello world");
        const reader = res.body.getReader({ mode: "byob" });
        const first = await reader.read(new Uint8Array(5));
        reader.releaseLock();
        let rest = "";
        for await (const chunk of res.body) rest += new TextDecoder().decode(chunk);
        const [a, b] = new Blob(["xy"]).stream().tee();
        const fromB = await b.getReader({ mode: "byob" }).read(new Uint8Array(8));
        return [new TextDecoder().decode(first.value), rest, [...fromB.value], await new Response(a).text()];
    """) == ["hello", " world", [120, 121], "xy"]


# --- Blob, File, FormData -------------------------------------------------------------


def test_blob_parts_type_and_slicing(iso):
    assert run(iso, """
        const b = new Blob(["ab", new Uint8Array([67]), new Blob(["d"])], { type: "Text/Plain" });
        return [b.size, b.type, await b.text(), await b.slice(-2).text(), b.slice(1, 2, "X/Y").type,
                [...await b.bytes()], (await b.arrayBuffer()).byteLength,
                new Blob([], { type: "\u00e9" }).type];
    """) == [4, "text/plain", "abCd", "Cd", "x/y", [97, 98, 67, 100], 4, ""]


def test_blob_stream_and_file(iso):
    assert run(iso, """
        let s = "";
        for await (const chunk of new Blob(["stream me"]).stream()) s += new TextDecoder().decode(chunk);
        const f = new File(["x"], "a.txt", { type: "text/plain", lastModified: 7 });
        return [s, f.name, f.lastModified, f.type, f instanceof Blob, Object.prototype.toString.call(f)];
    """) == ["stream me", "a.txt", 7, "text/plain", True, "[object File]"]


def test_form_data_entries(iso):
    assert run(iso, """
        const fd = new FormData();
        fd.append("a", "1");
        fd.append("b", new Blob(["z"], { type: "x/y" }));
        fd.append("c", new File(["q"], "orig.txt"), "renamed.txt");
        fd.append("a", "2");
        const got = [fd.get("a"), fd.getAll("a"), fd.get("b").name, fd.get("b").type, fd.get("c").name,
                     fd.has("z")];
        fd.set("a", "3");
        fd.delete("b");
        return [got, [...fd].map(([k, v]) => [k, typeof v === "string" ? v : v.name])];
    """) == [["1", ["1", "2"], "blob", "x/y", "renamed.txt", False], [["a", "3"], ["c", "renamed.txt"]]]
    assert error_of(iso, "new FormData().append('x', 'str', 'name.txt')")[0] == "TypeError"


# --- Headers --------------------------------------------------------------------------


def test_headers_combining_sorting_and_set_cookie(iso):
    assert run(iso, """
        const h = new Headers({ "X-B": " 2 ", "x-a": "1" });
        h.append("X-A", "3");
        h.append("Set-Cookie", "a=1");
        h.append("Set-Cookie", "b=2");
        return [h.get("x-a"), [...h], h.getSetCookie(), h.get("set-cookie")];
    """) == ["1, 3", [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-a", "1, 3"], ["x-b", "2"]],
             ["a=1", "b=2"], "a=1, b=2"]


def test_headers_constructor_errors(iso):
    assert error_of(iso, "new Headers([['only-name']])") == [
        "TypeError", "Failed to construct 'Headers': a header pair must be [name, value], got 1 item"]
    assert error_of(iso, "new Headers('a: b')")[0] == "TypeError"
    assert error_of(iso, "new Headers({ 'bad name': 'x' })")[0] == "TypeError"
    assert error_of(iso, "new Headers({ a: 'x\\ny' })")[0] == "TypeError"


# --- Request --------------------------------------------------------------------------


def test_request_defaults_and_normalisation(iso):
    assert run(iso, """
        const r = new Request("https://example.com/p?q#h", { method: "post", body: "hi" });
        return [r.method, r.url, r.headers.get("content-type"), r.redirect, r.mode, r.credentials,
                r.cache, r.referrer, r.signal.aborted, new Request("https://x/", { method: "patch" }).method];
    """) == ["POST", "https://example.com/p?q#h", "text/plain;charset=UTF-8", "follow", "cors",
             "same-origin", "default", "about:client", False, "patch"]


@pytest.mark.parametrize("code", [
    "new Request('/relative')",
    "new Request('https://x/', { method: 'TRACE' })",
    "new Request('https://x/', { method: 'connect' })",
    "new Request('https://x/', { method: 'GET', body: 'x' })",
    "new Request('https://x/', { method: 'HEAD', body: 'x' })",
    "new Request('https://x/', { method: 'no spaces' })",
    "new Request('https://x/', { redirect: 'sometimes' })",
    "new Request('https://user:pw@x/')",
])
def test_request_rejects(iso, code):
    assert error_of(iso, code)[0] == "TypeError"


def test_request_clone_and_reuse(iso):
    assert run(iso, """
        const r = new Request("https://x/", { method: "PUT", body: "data" });
        const c = r.clone();
        const texts = [await r.text(), await c.text()];
        const used = await r.text().catch((e) => e.name);
        const src = new Request("https://x/", { method: "PUT", body: "moved" });
        const copy = new Request(src, { headers: { a: "b" } });
        let reuse;
        try { new Request(src); } catch (e) { reuse = e.name; }
        return [texts, used, r.bodyUsed, await copy.text(), copy.headers.get("a"), src.bodyUsed, reuse];
    """) == [["data", "data"], "TypeError", True, "moved", "b", True, "TypeError"]


def test_request_signal_follows_init_signal(iso):
    assert run(iso, """
        const ac = new AbortController();
        const r = new Request("https://x/", { signal: ac.signal });
        ac.abort("why");
        return [r.signal.aborted, r.signal.reason];
    """) == [True, "why"]


# --- Response -------------------------------------------------------------------------


def test_response_basics(iso):
    assert run(iso, """
        const r = new Response("body", { status: 201, statusText: "Created", headers: { a: "b" } });
        return [r.status, r.ok, r.statusText, r.headers.get("a"), r.headers.get("content-type"),
                r.type, r.url, r.redirected, await r.clone().text(), await r.text()];
    """) == [201, True, "Created", "b", "text/plain;charset=UTF-8", "default", "", False, "body", "body"]


@pytest.mark.parametrize("code,name", [
    ("new Response('', { status: 199 })", "RangeError"),
    ("new Response('', { status: 600 })", "RangeError"),
    ("new Response('x', { status: 204 })", "TypeError"),
    ("new Response('x', { status: 304 })", "TypeError"),
    ("new Response('', { statusText: 'a\\nb' })", "TypeError"),
    ("Response.redirect('https://x/', 200)", "RangeError"),
    ("Response.redirect('/relative')", "TypeError"),
    ("Response.json(undefined)", "TypeError"),
])
def test_response_rejects(iso, code, name):
    assert error_of(iso, code)[0] == name


def test_response_static_constructors(iso):
    assert run(iso, """
        const j = Response.json({ a: [1] }, { status: 202 });
        const red = Response.redirect("https://x/next", 307);
        const err = Response.error();
        const immutable = (h) => { try { h.set("a", "b"); return false; } catch (e) { return e.name; } };
        return [j.status, j.headers.get("content-type"), await j.json(),
                red.status, red.headers.get("location"), immutable(red.headers),
                err.type, err.status, err.body, immutable(err.headers),
                new Response(null, { status: 204 }).body];
    """) == [202, "application/json", {"a": [1]}, 307, "https://x/next", "TypeError",
             "error", 0, None, "TypeError", None]


# --- body mixin -----------------------------------------------------------------------


def test_body_init_types_and_content_types(iso):
    assert run(iso, """
        const ct = (b) => new Response(b).headers.get("content-type");
        return [
          ct("s"), ct(new Uint8Array(1)), ct(new Blob([], { type: "x/y" })), ct(new Blob([])),
          ct(new URLSearchParams("a=1")), ct(new ReadableStream()), ct(null),
          [...await new Response(new Uint16Array([258])).bytes()],
          await new Response(new DataView(new Uint8Array([104, 105]).buffer)).text(),
          await new Response(new URLSearchParams({ a: "1 2" })).text(),
          await new Response({}).text(),
          await new Response().text(),
        ];
    """) == ["text/plain;charset=UTF-8", None, "x/y", None,
             "application/x-www-form-urlencoded;charset=UTF-8", None, None,
             [2, 1], "hi", "a=1+2", "[object Object]", ""]


def test_body_consumers(iso):
    assert run(iso, """
        const bytes = new Uint8Array([0xEF, 0xBB, 0xBF, 0x7B, 0x7D]);
        const blob = await new Response("xyz", { headers: { "content-type": "text/x" } }).blob();
        return [
          await new Response(bytes).text(),
          await new Response(bytes).json(),
          (await new Response("abc").arrayBuffer()).byteLength,
          [...await new Response("ab").bytes()],
          [blob.type, await blob.text()],
        ];
    """) == ["{}", {}, 3, [97, 98], ["text/x", "xyz"]]


def test_body_is_consumed_once(iso):
    assert run(iso, """
        const r = new Response("x");
        const before = r.bodyUsed;
        await r.text();
        return [before, r.bodyUsed, await r.text().catch((e) => e.name), await r.json().catch((e) => e.name)];
    """) == [False, True, "TypeError", "TypeError"]


def test_body_from_readable_stream(iso):
    assert run(iso, """
        const ok = new Response(ReadableStream.from([new Uint8Array([104]), new Uint8Array([105])]));
        const bad = new Response(ReadableStream.from(["not bytes"]));
        const locked = new ReadableStream(); locked.getReader();
        let lockedError;
        try { new Response(locked); } catch (e) { lockedError = e.name; }
        return [await ok.text(), await bad.text().catch((e) => e.name), lockedError];
    """) == ["hi", "TypeError", "TypeError"]


def test_form_data_round_trip_through_multipart(iso):
    assert run(iso, """
        const fd = new FormData();
        fd.append("text", "line1\\nline2");
        fd.append("q\\"name", "v");
        const bin = new Blob([new Uint8Array([0, 255, 13, 10])], { type: "application/x-bin" });
        fd.append("file", bin, "a\\"b.bin");
        const r = new Response(fd);
        const type = r.headers.get("content-type");
        const parsed = await r.clone().formData();
        const file = parsed.get("file");
        const raw = await r.text();
        return [/^multipart\\/form-data; boundary=[-\\w]+$/.test(type), parsed.get("text"),
                parsed.get('q"name'),
                file.name, file.type, [...await file.bytes()], raw.includes('filename="a%22b.bin"')];
    """) == [True, "line1\r\nline2", "v", 'a"b.bin', "application/x-bin", [0, 255, 13, 10], True]


def test_form_data_with_a_long_text_value_round_trips_through_multipart():
    # Past the RegExp guards' cap (4M characters under 128 MB), line breaks are made CRLF a
    # piece at a time: a CRLF across a piece's end stays one, a lone CR at a piece's end is one.
    piece = "x" * 65534 + "\r\n" + "y" * 65535 + "\r" + "z\n\r\n\n\r\r" + "é" * 100
    text = piece * 40
    expected = re.sub(r"\r(?!\n)|(?<!\r)\n", "\r\n", text)
    assert len(text) > 5_000_000
    # Its own isolate, with no wall-clock bound: the test is about the text, not time.
    with pyruntime.Isolate(timeout_ms=None, cpu_limit_ms=20_000, total_timeout_ms=None) as iso:
        iso.eval("globalThis.keepText = (t) => { globalThis.longText = t; }")
        iso.call("keepText", text)
        assert run(iso, """
            const fd = new FormData();
            fd.append("long", longText);
            const parsed = await new Response(fd).formData();
            return parsed.get("long");
        """) == expected
        # 2.5M line breaks under the default 128 MB: a replace's results, ropes of their matches,
        # held past the limit.
        assert run(iso, """
            const fd = new FormData();
            fd.append("lines", "a\\n".repeat(2.5e6));
            const text = (await new Response(fd).formData()).get("lines");
            return [text.length, text.slice(0, 6)];
        """) == [7_500_000, "a\r\na\r\n"]


def test_blob_native_endings_make_every_line_break_lf(iso):
    # Short text, and text past the guards' caps (a piece at a time, never cut inside CR LF).
    piece = "a\r\nb\rc\nd" + "x" * 65530 + "\r\n" + "y" * 10 + "\r"
    iso.eval("globalThis.keepText = (t) => { globalThis.longText = t; }")
    for text in ("one\r\ntwo\rthree\nfour\r\r\n\n", piece * 80):
        iso.call("keepText", text)
        assert run(iso, """
            const blob = new Blob([longText], { endings: "native" });
            const kept = new Blob([longText]);
            return [await blob.text(), (await kept.text()).length];
        """) == [re.sub(r"\r\n?", "\n", text), len(text)]


def test_form_data_parsing(iso):
    assert run(iso, """
        const urlencoded = await new Response("a=1&b=%C3%A9+x", {
          headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
        const body = '--XyZ\\r\\nContent-Disposition: form-data; name="f"; filename="t.txt"\\r\\n'
          + '\\r\\nhello\\r\\n'
          + '--XyZ\\r\\nContent-Disposition: form-data; name="n"\\r\\n\\r\\nv\\r\\n--XyZ--\\r\\n';
        const type = 'multipart/form-data; boundary="XyZ"';
        const multi = await new Response(body, { headers: { "content-type": type } }).formData();
        const f = multi.get("f");
        return [[...urlencoded], f.name, f.type, await f.text(), multi.get("n")];
    """) == [[["a", "1"], ["b", "\u00e9 x"]], "t.txt", "text/plain", "hello", "v"]


def test_form_data_rejects_other_content_types(iso):
    name, message = error_of(
        iso, "await new Response('x', { headers: { 'content-type': 'text/plain' } }).formData()")
    assert name == "TypeError"
    assert "multipart/form-data" in message and "text/plain" in message
    assert error_of(iso, "await new Response('garbage', { headers: { 'content-type': "
                         "'multipart/form-data; boundary=b' } }).formData()")[0] == "TypeError"


# --- fetch() --------------------------------------------------------------------------


def test_fetch_uses_the_host_operations():
    seen = []
    chunks = [b"po", b"ng"]

    def handler(name, payload):
        seen.append((name, payload))
        if name == "fetch":
            return {"status": 200, "statusText": "OK",
                    "headers": [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]]}
        return chunks.pop(0) if chunks else None

    iso = pyruntime.Isolate(op_handler=handler)
    try:
        result = run(iso, """
            const init = { method: "POST", body: "ping", headers: { "x-y": "z" } };
            const r = await fetch("https://example.com/start", init);
            let immutable;
            try { r.headers.set("a", "b"); } catch (e) { immutable = e.name; }
            return [r.status, r.statusText, await r.text(), r.url, r.redirected, r.headers.getSetCookie(),
                    immutable];
        """)
    finally:
        iso.close()
    assert result == [200, "OK", "pong", "https://example.com/start", False, ["a=1", "b=2"], "TypeError"]
    (name, payload), *reads = seen
    assert name == "fetch" and payload.pop("available") > 0
    assert payload == {"id": payload["id"], "method": "POST", "url": "https://example.com/start", "body": b"ping",
                       "stream": False, "headers": [["x-y", "z"], ["content-type", "text/plain;charset=UTF-8"]]}
    assert reads == [("fetch.read", payload["id"])] * 3


def test_fetch_null_body_status_and_get_without_body():
    def handler(name, payload):
        if name == "fetch":
            assert payload["body"] is None
            return {"status": 204, "statusText": "No Content", "headers": []}
        return None  # the (empty) body's end

    iso = pyruntime.Isolate(op_handler=handler)
    try:
        assert run(iso, "const r = await fetch('https://x/'); return [r.status, r.body, r.redirected];") \
            == [204, None, False]
    finally:
        iso.close()


def test_fetch_failure_is_type_error_with_cause(iso):
    assert run(iso, """
        try { await fetch("https://example.com/"); return null; }
        catch (e) { return [e.name, e.message, e.cause instanceof Error]; }
    """) == ["TypeError", "fetch failed: fetch is not available in this isolate (no op_handler)", True]
    assert error_of(iso, "await fetch('/relative')")[0] == "TypeError"


def test_fetch_honours_abort_signal(iso):
    assert run(iso, """
        const before = await fetch("https://x/", { signal: AbortSignal.abort(new Error("early")) })
          .catch((e) => e.message);
        const ac = new AbortController();
        const p = fetch("https://x/", { signal: ac.signal });
        ac.abort();
        return [before, await p.catch((e) => e.name)];
    """) == ["early", "AbortError"]


# --- worker dispatch ------------------------------------------------------------------
# The server reaches internal.dispatchFetch and friends through the runtime's internal
# calls; these tests drive them the same way.


def internal_call(iso, name, *args):
    return iso._run(lambda rt: rt.call_internal(name, args))


def dispatch(iso, method, url, headers, body):
    """dispatchFetch as the host calls it (headers as a HeaderList), the answer decoded as a FetchResult."""
    return FetchResult.from_js(internal_call(iso, "dispatchFetch", method, url, _core.HeaderList(headers), body),
                               0.0, 0.0)


def load_module(iso, source, name="worker.js"):
    iso._run(lambda rt: rt.compile_module(name, source))
    iso._run(lambda rt: rt.evaluate_module(name, []))
    iso._run(lambda rt: rt.bind_worker_module(name))


MODULE = """
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    ctx.passThroughOnException();
    if (url.pathname === "/echo") {
      return new Response(`${request.method} ${await request.text()} ${env.NAME}`, {
        status: 201, statusText: "Made", headers: { "x-in": request.headers.get("x-in") ?? "none" } });
    }
    if (url.pathname === "/later") {
      ctx.waitUntil(new Promise((r) => setTimeout(() => { globalThis.later = "ran"; r(); }, 5)));
      return new Response(null, { status: 204 });
    }
    if (url.pathname === "/stream") {
      return new Response(ReadableStream.from(["a", "b"]).pipeThrough(new TextEncoderStream()));
    }
    if (url.pathname === "/undefined") return undefined;
    if (url.pathname === "/object") return { status: 200 };
    if (url.pathname === "/throw") throw new RangeError("handler broke");
    return new Response("other");
  },
};
"""


def test_module_worker_dispatch(fresh):
    load_module(fresh, MODULE)
    internal_call(fresh, "setWorkerEnv", {"NAME": "env"})
    result = dispatch(fresh, "POST", "https://app.test/echo", [("X-In", "yes")], b"payload")
    assert result == FetchResult(201, "Made", [("x-in", "yes"), ("content-type", "text/plain;charset=UTF-8")],
                                 b"POST payload env", 0, 0)
    # A body whose bytes are not known up front is pulled chunk by chunk.
    streamed = dispatch(fresh, "GET", "https://app.test/stream", [], None)
    assert streamed.body == b"" and streamed.stream_id > 0
    chunks = []
    while isinstance(chunk := internal_call(fresh, "readResponseChunk", streamed.stream_id), bytes):
        chunks.append(chunk)
    assert b"".join(chunks) == b"ab"
    assert chunk == 0  # the end: no waitUntil work pending


def test_module_worker_wait_until(fresh):
    load_module(fresh, MODULE)
    result = dispatch(fresh, "GET", "https://app.test/later", [], None)
    assert result == FetchResult(204, "", [], b"", 0, 1)  # one waitUntil promise pending
    assert fresh.eval("globalThis.later") is None
    internal_call(fresh, "pendingWaitUntil")
    assert fresh.eval("globalThis.later") == "ran"


ECHO_HEADERS = """
export default {
  fetch(request) {
    return new Response(JSON.stringify([...request.headers]));
  },
};
"""


def test_dispatch_request_headers_are_what_append_gives(fresh):
    # The host's headers are checked as append() checks them: trimmed, lowercased, combined,
    # or refused with append()'s error. One header append() would change or refuse sends the
    # whole list through it; the others would each have been adopted as they are.
    load_module(fresh, ECHO_HEADERS)
    sent = [("X-Plain", "a  b"), ("x-trim", " \tpadded\t "), ("X-Empty", ""), ("x-latin", "caf\xe9"),
            ("x-plain", "second"), ("X-Tab-Inside", "a\tb")]
    body = dispatch(fresh, "GET", "https://app.test/", sent, None).body
    assert json.loads(body) == [["x-empty", ""], ["x-latin", "caf\xe9"], ["x-plain", "a  b, second"],
                                ["x-tab-inside", "a\tb"], ["x-trim", "padded"]]
    for name, value, message in [("bad name", "v", "Invalid header name"), ("x-crlf", "a\r\nb", "Invalid header value"),
                                 ("x-nul", "a\0b", "Invalid header value"), ("x-lf", "a\nb", "Invalid header value"),
                                 ("", "v", "Invalid header name"), ("x:y", "v", "Invalid header name")]:
        with pytest.raises(JSError, match=re.escape(message)):
            dispatch(fresh, "GET", "https://app.test/", [("host", "app.test"), (name, value)], None)


def test_request_headers_in_the_shape_headers_keeps_are_adopted_whole_and_behave_as_any(fresh):
    """Lowercase names and plain values (what the servers' parsers hand over) are adopted by
    the Headers class as one list: reading, combining, iterating, changing and copying them
    behave as for headers that append() built, and the request's copies do not share the list."""
    load_module(fresh, """
        export default {
          fetch(request) {
            const h = request.headers;
            const before = [...h];
            const read = [h.get("accept"), h.get("ACCEPT"), h.has("x-a"), h.get("missing")];
            const copy = new Request(request);
            const clone = request.clone();
            h.append("x-new", " added ");
            h.set("accept", "text/html");
            h.delete("x-a");
            return Response.json({ before, read, after: [...h], copy: [...copy.headers], clone: [...clone.headers],
                                   cookies: h.getSetCookie() });
          },
        };
    """)
    sent = [(b"host", b"app.test"), (b"accept", b"*/*"), (b"x-a", b"1"), (b"accept", b"text/plain"),
            (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"x-latin", b"caf\xe9"), (b"x-empty", b"")]
    seen = json.loads(dispatch(fresh, "GET", "https://app.test/", sent, None).body)
    listed = [["accept", "*/*, text/plain"], ["host", "app.test"], ["set-cookie", "a=1"], ["set-cookie", "b=2"],
              ["x-a", "1"], ["x-empty", ""], ["x-latin", "caf\xe9"]]
    assert seen["before"] == listed
    assert seen["read"] == ["*/*, text/plain", "*/*, text/plain", True, None]
    assert seen["after"] == [["accept", "text/html"], ["host", "app.test"], ["set-cookie", "a=1"],
                             ["set-cookie", "b=2"], ["x-empty", ""], ["x-latin", "caf\xe9"], ["x-new", "added"]]
    assert seen["copy"] == listed and seen["clone"] == listed
    assert seen["cookies"] == ["a=1", "b=2"]


def test_incoming_request_signal_is_made_at_first_use_and_kept(fresh):
    load_module(fresh, """
        export default {
          fetch(request) {
            const signal = request.signal;
            const same = signal === request.signal && signal instanceof AbortSignal && !signal.aborted;
            const copy = request.clone().signal;
            return new Response(`${same} ${copy !== signal && copy instanceof AbortSignal && !copy.aborted}`);
          },
        };
    """)
    assert dispatch(fresh, "GET", "https://app.test/", [], None).body == b"true true"


def test_headers_are_filled_by_the_append_algorithm_not_the_replaceable_methods(fresh):
    assert fresh.eval("""
        Headers.prototype.append = () => { throw new Error("the patched append ran"); };
        Headers.prototype.has = () => { throw new Error("the patched has ran"); };
        const response = new Response("x", { headers: { "X-A": " 1 " } });
        const request = new Request("https://a.test/", { method: "POST", body: "y", headers: [["X-B", "2"]] });
        [...response.headers, ...request.headers].join(";")
    """) == "content-type,text/plain;charset=UTF-8;x-a,1;content-type,text/plain;charset=UTF-8;x-b,2"


@pytest.mark.parametrize("path,name,message", [
    ("/undefined", "TypeError", "fetch handler returned undefined, expected a Response"),
    ("/object", "TypeError", "fetch handler returned an object, expected a Response"),
    ("/throw", "RangeError", "handler broke"),
])
def test_module_worker_bad_results(fresh, path, name, message):
    load_module(fresh, MODULE)
    with pytest.raises(JSError) as info:
        dispatch(fresh, "GET", "https://app.test" + path, [], None)
    assert info.value.name == name
    assert message in str(info.value)


@pytest.mark.parametrize("source,message", [
    ("export const x = 1;", "the module has no default export"),
    ("export default {};", "the default export has no fetch() or scheduled() method"),
    ("export default 42;", "the default export is a number, expected an object with a fetch() method"),
])
def test_set_worker_module_explains_what_is_wrong(fresh, source, message):
    with pytest.raises(JSError) as info:
        load_module(fresh, source)
    assert info.value.name == "TypeError"
    assert message in str(info.value)


def test_service_worker_fetch_event(fresh):
    fresh.eval("""
        addEventListener("fetch", (event) => {
          const ok = event instanceof FetchEvent && event.request instanceof Request;
          event.waitUntil(new Promise((resolve) => setTimeout(resolve, 20)));
          const { method } = event.request;
          event.respondWith((async () => new Response(`${ok} ${method} ${await event.request.text()}`))());
        });
    """)
    result = dispatch(fresh, "PUT", "https://sw.test/", [], b"data")
    # The waitUntil work waits on a timer: still pending when the host reads the result.
    assert result == FetchResult(200, "", [("content-type", "text/plain;charset=UTF-8")], b"true PUT data", 0, 1)
    internal_call(fresh, "pendingWaitUntil")


def test_no_fetch_handler(fresh):
    with pytest.raises(JSError, match="no fetch handler"):
        dispatch(fresh, "GET", "https://x/", [], None)
    fresh.eval("addEventListener('fetch', () => {})")
    with pytest.raises(JSError, match="respondWith"):
        dispatch(fresh, "GET", "https://x/", [], None)


def test_respond_with_after_dispatch_is_invalid_state(fresh):
    fresh.eval("""
        globalThis.late = "unset";
        addEventListener("fetch", (e) => {
          e.respondWith(new Response("first"));
          try { e.respondWith(new Response("second")); } catch (err) { globalThis.twice = err.name; }
          setTimeout(() => {
            try { e.respondWith(new Response("x")); } catch (err) { globalThis.late = err.name; }
          });
        });
    """)
    assert dispatch(fresh, "GET", "https://x/", [], None).body == b"first"
    fresh.run_loop()
    assert fresh.eval("[globalThis.twice, globalThis.late]") == ["InvalidStateError", "InvalidStateError"]


def test_console_shows_fetch_objects_readably():
    lines = []
    iso = pyruntime.Isolate(console=lambda level, text: lines.append(text))
    try:
        iso.eval("""console.log(new Headers({ a: "1" }), new Blob(["ab"], { type: "t/x" }),
                                new ReadableStream());
                    console.log(new Response(null, { status: 204 }))""")
    finally:
        iso.close()
    assert lines[0] == ("Headers { 'a' => '1' } Blob { size: 2, type: 't/x' }"
                        " ReadableStream { locked: false, state: 'readable' }")
    assert "status: 204" in lines[1] and "body: null" in lines[1]


# --- BYOB reads transfer their buffers -----------------------------------------------------


def test_byob_read_transfers_the_callers_buffer(iso):
    assert run(iso, """
        const s = new ReadableStream({ type: "bytes", pull(c) {
            const v = c.byobRequest.view; v[0] = 1; v[1] = 2; c.byobRequest.respond(2);
        } });
        const reader = s.getReader({ mode: "byob" });
        const view = new Uint16Array(4);
        const { value } = await reader.read(view);
        // The caller's buffer is detached; the result owns the same memory under a new buffer.
        return [view.buffer.byteLength, view.length, value instanceof Uint16Array, value.length,
                value.buffer.byteLength, value.buffer !== view.buffer, new Uint8Array(value.buffer)[1]];
    """) == [0, 0, True, 1, 8, True, 2]


def test_byob_enqueue_and_respond_with_new_view_transfer(iso):
    assert run(iso, """
        const chunk = new Uint8Array([5, 6, 7]);
        let replaced;
        const s = new ReadableStream({ type: "bytes", start(c) { c.enqueue(chunk); }, pull(c) {
            replaced = new Uint8Array(c.byobRequest.view.buffer, c.byobRequest.view.byteOffset, 1);
            replaced[0] = 9;
            c.byobRequest.respondWithNewView(replaced);
        } });
        const reader = s.getReader({ mode: "byob" });
        const first = await reader.read(new Uint8Array(8));
        const second = await reader.read(new Uint8Array(8));
        return [chunk.byteLength, [...first.value], replaced.byteLength, [...second.value]];
    """) == [0, [5, 6, 7], 0, [9]]


def test_byob_read_refuses_buffers_it_cannot_transfer(iso):
    assert run(iso, """
        const reader = () => new ReadableStream({ type: "bytes" }).getReader({ mode: "byob" });
        const detached = new Uint8Array(4); structuredClone(detached.buffer, { transfer: [detached.buffer] });
        const wasm = new Uint8Array(new WebAssembly.Memory({ initial: 1 }).buffer, 0, 4);
        const out = [];
        for (const view of [detached, wasm]) {
            try { await reader().read(view); out.push("read"); } catch (e) { out.push(e.name); }
        }
        return out;
    """) == ["TypeError", "TypeError"]


# --- body-disturbed semantics (WPT fetch/api/response/response-stream-disturbed-*) ----------


@pytest.mark.parametrize(("make", "source"), [
    ("new Response('body')", "bytes"), ("new Request('http://a.test/', { method: 'POST', body: 'body' })", "bytes"),
    ("new Response(new ReadableStream({ pull(c) { c.enqueue(new TextEncoder().encode('body')); c.close(); } }))",
     "stream"),
])
def test_a_consumed_body_cannot_be_read_again(iso, make, source):
    assert run(iso, f"""
        const r = {make};
        const before = [r.bodyUsed, r.body.locked];
        const text = await r.text();
        const after = [r.bodyUsed, r.body.locked, r.body === r.body];
        const errors = [];
        for (const attempt of [() => r.body.getReader(), () => r.clone()]) {{
            try {{ attempt(); errors.push("ok"); }} catch (e) {{ errors.push(e.name); }}
        }}
        for (const method of ["text", "arrayBuffer", "blob", "json", "bytes"]) {{
            try {{ await r[method](); errors.push("ok"); }} catch (e) {{ errors.push(e.name); }}
        }}
        return [text, before, after, errors];
    """) == ["body", [False, False], [True, True, True], ["TypeError"] * 7], source


@pytest.mark.parametrize("make", ["new Response('body')", "new Response(new Blob(['body']))",
                                  "new Request('http://a.test/', { method: 'POST', body: 'body' })"])
def test_a_body_read_before_its_stream_was_asked_for_looks_read(iso, make):
    # Bytes bodies make their stream on first use (70_body.js, BytesBody): one read first
    # must leave what a read stream leaves.
    assert run(iso, f"""
        const r = {make};
        const text = await r.text();
        const stream = r.body;
        const errors = [];
        for (const attempt of [() => stream.getReader(), () => r.clone(), () => new Response(stream)]) {{
            try {{ attempt(); errors.push("ok"); }} catch (e) {{ errors.push(e.name); }}
        }}
        return [text, r.bodyUsed, stream.locked, r.body === stream, errors,
                await r.text().then(() => "read", (e) => e.name)];
    """) == ["body", True, True, True, ["TypeError"] * 3, "TypeError"]


def test_clones_of_an_unread_bytes_body_are_read_independently(iso):
    assert run(iso, """
        const r = new Response("body");
        const c = r.clone();
        const first = await r.text();
        const chunks = [];
        for await (const chunk of c.body) chunks.push(new TextDecoder().decode(chunk));
        return [first, chunks.join(""), r.bodyUsed, c.bodyUsed, await c.text().then(() => "read", (e) => e.name)];
    """) == ["body", "body", True, True, "TypeError"]


def test_body_use_states(iso):
    assert run(iso, """
        const states = [];
        // Taking the reader locks the body without using it.
        const locked = new Response("x"); locked.body.getReader();
        states.push([locked.bodyUsed, await locked.text().then(() => "read", (e) => e.name)]);
        // One read() disturbs it.
        const read = new Response("x"); await read.body.getReader().read();
        states.push([read.bodyUsed, await read.text().then(() => "read", (e) => e.name)]);
        // cancel() disturbs it.
        const cancelled = new Response("x"); await cancelled.body.cancel();
        states.push([cancelled.bodyUsed, await cancelled.text().then(() => "read", (e) => e.name)]);
        // Getting `body` alone changes nothing.
        const touched = new Response("x"); touched.body;
        states.push([touched.bodyUsed, await touched.text()]);
        // A null body is never used.
        const empty = new Response(null); await empty.text();
        states.push([empty.bodyUsed, empty.body]);
        return states;
    """) == [[False, "TypeError"], [True, "TypeError"], [True, "TypeError"], [False, "x"], [False, None]]


def test_a_used_request_body_cannot_make_a_new_request(iso):
    assert run(iso, """
        const used = new Request("http://a.test/", { method: "POST", body: "b" });
        await used.text();
        const out = [];
        const makers = [() => new Request(used),
                        () => new Request("http://b.test/", { method: "POST", body: used.body })];
        for (const make of makers) {
            try { make(); out.push("made"); } catch (e) { out.push(e.name); }
        }
        // A request whose body was not used hands it over, and is itself used afterwards.
        const fresh = new Request("http://a.test/", { method: "POST", body: "b" });
        const copy = new Request(fresh);
        out.push(fresh.bodyUsed, await copy.text());
        return out;
    """) == ["TypeError", "TypeError", True, "b"]


# --- structuredClone of Blob and File -------------------------------------------------------


def test_structured_clone_of_blob_and_file(iso):
    assert run(iso, """
        const blob = new Blob(["h\\u00e9llo", new Uint8Array([0, 255])], { type: "Text/Plain" });
        const file = new File(["abc"], "n\\u00e9.txt", { type: "image/png", lastModified: 1234567890123 });
        const [b, f, nested] = structuredClone([blob, file, { twice: [blob, blob] }]);
        return [b instanceof Blob && !(b instanceof File), b !== blob, b.type, b.size, [...await b.bytes()],
                f instanceof File, f.name, f.type, f.lastModified, await f.text(),
                nested.twice[0] === nested.twice[1], nested.twice[0] === b];
    """) == [True, True, "text/plain", 8, [104, 195, 169, 108, 108, 111, 0, 255],
             True, "né.txt", "image/png", 1234567890123, "abc", True, True]


def test_structured_clone_of_blob_subclasses_and_lookalikes(iso):
    assert run(iso, """
        class Sub extends Blob {}
        const sub = structuredClone(new Sub(["x"]));
        const lookalike = structuredClone(Object.create(Blob.prototype));
        const out = [Object.getPrototypeOf(sub) === Blob.prototype, await sub.text(),
                     Object.getPrototypeOf(lookalike) === Object.prototype];
        // A Blob is still an ordinary-looking object to user code.
        const b = new Blob(["y"]);
        out.push(Object.getPrototypeOf(Blob) === Function.prototype, Object.keys(b).length, JSON.stringify(b),
                 Object.prototype.toString.call(b));
        // Transfer lists still work beside Blobs.
        const buffer = new Uint8Array([1, 2]).buffer;
        const [copy, moved] = structuredClone([b, buffer], { transfer: [buffer] });
        out.push(await copy.text(), buffer.byteLength, moved.byteLength);
        return out;
    """) == [True, "x", True, True, 0, "{}", "[object Blob]", "y", 0, 2]


def test_structured_clone_of_blobs_in_a_loop_stays_within_memory(iso):
    """Each clone shares the Blob's immutable bytes: a 1 MB Blob cloned 200 times stays cheap."""
    assert run(iso, """
        const big = new Blob([new Uint8Array(1 << 20)]);
        let last;
        for (let i = 0; i < 200; i++) last = structuredClone({ big }).big;
        return last.size;
    """) == 1 << 20
