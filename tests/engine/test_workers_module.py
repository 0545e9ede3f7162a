"""The built-in module `cloudflare:workers` (ext/runtime_modules.cc, ext/js/90_worker.js):
`WorkerEntrypoint` for a class default export made per request with its `ctx` and the
app's `env`, the module-level `env`, and `waitUntil` for the current request or cron run."""

import asyncio
from pathlib import Path

import pytest

from pyruntime import JSError
from pyruntime.engine import AppIsolate, load_script
from pyruntime.engine.resolver import ScriptLoadError

ENTRYPOINT = """
import { WorkerEntrypoint, env, waitUntil } from "cloudflare:workers";
import { describe } from "./lib.js";

let made = 0;
const settled = [];
export default class Handler extends WorkerEntrypoint {
  constructor(ctx, env) {
    super(ctx, env);
    this.number = ++made;
  }
  async fetch(request) {
    waitUntil(new Promise((resolve) => setTimeout(resolve, 5)).then(() => settled.push(this.number)));
    this.ctx.waitUntil(Promise.resolve());
    return Response.json({ number: this.number, sameEnv: this.env === env, greeting: env.GREETING,
                           url: request.url, settled: [...settled], lib: describe() });
  }
  async scheduled(controller) {
    waitUntil(Promise.resolve());
    settled.push(`cron ${controller.cron} ${this.number} ${this.env.GREETING}`);
  }
}
"""

LIB = """
import { WorkerEntrypoint } from "cloudflare:workers";
export const describe = () => typeof WorkerEntrypoint;
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder / next(iter(files))


def test_a_worker_entrypoint_class_is_made_per_request_with_its_ctx_and_the_env(tmp_path):
    entry = write(tmp_path, {"worker.js": ENTRYPOINT, "lib.js": LIB})

    async def run() -> list:
        worker = AppIsolate(load_script(entry), env={"GREETING": "hi"})
        await worker.load()
        seen = []
        for path in ("/a", "/b"):
            result = await worker.fetch("GET", f"http://example.test{path}", [], None)
            seen.append((result.body, result.wait_until))
            await worker.wait_until()  # the module's waitUntil counts as ctx.waitUntil does
            worker.end_request()
        cron = await worker.scheduled("*/5 * * * *", 0)
        last = await worker.fetch("GET", "http://example.test/c", [], None)
        worker.close()
        return [seen, cron.wait_until, last.body]

    seen, cron_wait_until, last = asyncio.run(run())
    assert seen[0] == (b'{"number":1,"sameEnv":true,"greeting":"hi","url":"http://example.test/a",'
                       b'"settled":[],"lib":"function"}', 1)
    assert seen[1][0].startswith(b'{"number":2,"sameEnv":true,"greeting":"hi","url":"http://example.test/b",'
                                 b'"settled":[1],')
    assert cron_wait_until == 1
    assert b'"number":4' in last and b'"settled":[1,2,"cron */5 * * * * 3 hi"]' in last


@pytest.mark.parametrize(("source", "message"), [
    ('import { WorkerEntrypoint } from "cloudflare:workers";\n'
     "export default class extends WorkerEntrypoint { other() {} }", r"class has no fetch\(\) or scheduled\(\) method"),
    ("export default class { fetch() { return new Response('x'); } }", "does not extend WorkerEntrypoint"),
    ('import { DurableObject } from "cloudflare:workers";\nexport default {}', "DurableObject"),
])
def test_what_the_module_does_not_offer_is_named_at_load(tmp_path, source: str, message: str):
    """The refused app fails its load alone: an entrypoint app loaded next in the same process
    serves as ever."""
    entry = write(tmp_path, {"worker.js": source})

    async def load(path: Path) -> AppIsolate:
        worker = AppIsolate(load_script(path), env={"GREETING": "hi"})
        try:
            await worker.load()
        except BaseException:
            worker.close()
            raise
        return worker

    with pytest.raises(JSError, match=message):
        asyncio.run(load(entry))

    good = write(tmp_path / "good", {"worker.js": ENTRYPOINT, "lib.js": LIB})

    async def serve() -> bytes:
        worker = await load(good)
        result = await worker.fetch("GET", "http://example.test/", [], None)
        worker.close()
        return result.body

    assert asyncio.run(serve()).startswith(b'{"number":1,"sameEnv":true,"greeting":"hi"')


def test_other_built_in_modules_are_refused_by_name(tmp_path):
    entry = write(tmp_path, {"worker.js": 'import { connect } from "cloudflare:sockets";\nexport default {}'})
    with pytest.raises(ScriptLoadError, match="'cloudflare:sockets'.*except 'cloudflare:workers'"):
        load_script(entry)


def test_a_file_of_the_app_named_like_the_module_does_not_hide_it(tmp_path):
    """`./cloudflare:workers` is the app's own file and `cloudflare:workers` the built-in module,
    whichever is linked first: the core keeps the built-in apart from the app's modules."""
    entry = write(tmp_path, {
        "worker.js": 'import { mine } from "./cloudflare:workers";\n'
                     'import { WorkerEntrypoint } from "cloudflare:workers";\n'
                     "export default { fetch() { return new Response(`${mine} ${typeof WorkerEntrypoint}`); } };\n",
        "cloudflare:workers": 'export const mine = "own file";\n'})

    async def run() -> bytes:
        worker = AppIsolate(load_script(entry))
        await worker.load()
        result = await worker.fetch("GET", "http://example.test/", [], None)
        worker.close()
        return result.body

    assert asyncio.run(run()) == b"own file function"
