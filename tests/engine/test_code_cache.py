"""Sharing compiled code between the isolates of one app: the first isolate that answers a
request gives its modules' code to the script, and isolates loaded later start with it."""

import asyncio
from pathlib import Path

from pyruntime import _core
from pyruntime.engine import AppIsolate, load_script

APP = {
    "worker.js": """
import { greet } from "./lib/greet.js";
import config from "./config.json";
export default {
  async fetch(request) {
    const url = new URL(request.url);
    return Response.json({ text: greet(url.searchParams.get("name")), config });
  },
};
""",
    "lib/greet.js": "export function greet(name) { return `hello ${name ?? 'nobody'}`; }\n",
    "config.json": '{"level": 3}\n',
}


def write_app(folder: Path) -> Path:
    for name, text in APP.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder / "worker.js"


async def answer(app: AppIsolate, name: str) -> bytes:
    result = await app.fetch("GET", f"http://localhost/?name={name}", [], None)
    app.end_request()
    return result.body


def test_the_first_answered_request_shares_every_modules_code(tmp_path: Path):
    script = load_script(write_app(tmp_path))

    async def run() -> tuple[bytes, bytes, dict[str, bytes]]:
        first = AppIsolate(script)
        await first.load()
        assert script.code_cache == {}  # loading alone compiles only the top level
        one = await answer(first, "a")
        cached = dict(script.code_cache)
        first.close()
        # An isolate loaded from the cache answers as the first did.
        second = AppIsolate(script)
        await second.load()
        two = await answer(second, "b")
        second.close()
        return one, two, cached

    one, two, cached = asyncio.run(run())
    assert one == b'{"text":"hello a","config":{"level":3}}'
    assert two == b'{"text":"hello b","config":{"level":3}}'
    assert set(cached) == set(script.sources) and all(len(code) > 0 for code in cached.values())


def test_a_cache_that_does_not_fit_is_ignored():
    # V8 checks a cache against its source and version; one that does not fit is dropped and
    # the module compiled from source.
    donor = _core.Runtime(128 << 20, 1000, 50)
    assert donor.compile_module("a.js", "export const value = 1;").status == "ok"
    cache = donor.module_code_cache("a.js")
    donor.close()
    assert cache
    for wrong in (cache, b"\0" * len(cache), cache[: len(cache) // 2]):
        runtime = _core.Runtime(128 << 20, 1000, 50)
        try:
            assert runtime.compile_module("b.js", "export const value = 'another source';", wrong).status == "ok"
            assert runtime.evaluate_module("b.js", []).status == "ok"
        finally:
            runtime.close()


def test_service_worker_scripts_and_failed_requests_share_nothing(tmp_path: Path):
    classic = tmp_path / "sw.js"
    classic.write_text("addEventListener('fetch', (e) => e.respondWith(new Response('sw')));\n")
    failing = tmp_path / "failing.js"
    failing.write_text("export default { fetch() { throw new Error('no'); } };\n")

    async def run(path: Path) -> dict[str, bytes]:
        script = load_script(path)
        app = AppIsolate(script)
        await app.load()
        try:
            await app.fetch("GET", "http://localhost/", [], None)
        except Exception:
            pass
        app.end_request()
        app.close()
        return script.code_cache

    assert asyncio.run(run(classic)) == {}
    assert asyncio.run(run(failing)) == {}
