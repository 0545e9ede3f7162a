"""The startup snapshot's warm-up: it runs requests in a throwaway context so that the blob
carries the request path's compiled code. It must succeed, and leave no trace an app can see."""

import asyncio
from pathlib import Path

from pyruntime import _core
from pyruntime.engine import AppIsolate, Isolate, load_script


def test_the_warm_up_ran_without_error():
    # A failed warm-up falls back to a cold snapshot silently for users; here it is an error.
    assert _core.snapshot_warmup_error() is None


def test_a_fresh_isolate_sees_nothing_of_the_warm_up():
    with Isolate() as isolate:
        # No handler, no globals, no pending work and a real time origin.
        assert isolate.eval("typeof globalThis.handle + typeof globalThis.warmUp") == "undefinedundefined"
        assert isolate.eval("performance.timeOrigin > Date.UTC(2020, 0, 1)") is True
        assert isolate.eval("Object.keys(globalThis).filter((k) => /warm/i.test(k)).length") == 0


def test_an_app_without_a_handler_is_not_answered_by_the_warm_up_handler(tmp_path: Path):
    entry = tmp_path / "worker.js"
    entry.write_text("addEventListener('scheduled', () => {});\n")

    async def run() -> str:
        app = AppIsolate(load_script(entry))
        await app.load()
        try:
            await app.fetch("GET", "http://localhost/", [], None)
        except Exception as error:  # the worker protocol's TypeError, as JSError
            return str(error)
        finally:
            app.close()
        return "answered"

    assert "no fetch handler" in asyncio.run(run())


def test_the_first_request_of_a_fresh_isolate_runs_the_same_paths(tmp_path: Path):
    # Streams, JSON, redirects and errors behave on a first request as on later ones.
    entry = tmp_path / "worker.js"
    entry.write_text("""
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/json") return Response.json(await request.json());
    if (url.pathname === "/stream") return new Response(new ReadableStream({
      start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } }));
    return new Response("hello " + url.searchParams.get("q"));
  },
};
""")

    async def first(method: str, url: str, body: bytes | None) -> tuple[int, bytes]:
        app = AppIsolate(load_script(entry))
        await app.load()
        try:
            result = await app.fetch(method, url, [("content-type", "application/json")], body)
            data = result.body or b""
            if result.stream_id:
                while (chunk := await app.read_chunk(result.stream_id)) is not None:
                    data += chunk
            return result.status, data
        finally:
            app.close()

    assert asyncio.run(first("GET", "http://localhost/?q=1", None)) == (200, b"hello 1")
    assert asyncio.run(first("POST", "http://localhost/json", b'{"a": [1]}')) == (200, b'{"a":[1]}')
    assert asyncio.run(first("GET", "http://localhost/stream", None)) == (200, b"streamed")
