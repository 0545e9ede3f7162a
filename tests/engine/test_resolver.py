"""Module resolution as bundlers and Node do it, in real V8: node_modules packages with
`exports`/`imports`/`module`/`main`, JSON modules, the project root as a boundary, CommonJS
refused by name, and module detection by parsing (one-line bundles, service workers)."""

import asyncio
import json
import os
from pathlib import Path

import pytest

from pyruntime import JSError
from pyruntime.engine import AppIsolate, load_script
from pyruntime.engine.scripts import ScriptLoadError


def write(root: Path, files: dict[str, str | dict]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if isinstance(content, dict) else content)
    return root / next(iter(files))


def body_of(entry: Path, root: Path | None = None, env: dict | None = None) -> str:
    async def run() -> str:
        worker = AppIsolate(load_script(entry, root=root), env=env)
        try:
            await worker.load()
            return (await worker.fetch("GET", "http://example.test/", [], None)).body.decode()
        finally:
            worker.close()
    return asyncio.run(run())


ECHO = 'export default {{ fetch() {{ return new Response({}); }} }};\n'


def test_bare_specifier_uses_exports_conditions_in_workers_order(tmp_path):
    entry = write(tmp_path, {
        "worker.js": 'import { who } from "pkg"; import sub from "pkg/feature"; ' + ECHO.format('who + "," + sub'),
        "node_modules/pkg/package.json": {
            "name": "pkg", "main": "./main.cjs",
            "exports": {
                ".": {"node": "./node.js", "import": "./import.js", "workerd": "./workerd.js",
                      "default": "./default.js"},
                "./feature": {"browser": "./feature-browser.js", "default": "./feature.js"},
            }},
        "node_modules/pkg/workerd.js": 'export const who = "workerd";',
        "node_modules/pkg/import.js": 'export const who = "import";',
        "node_modules/pkg/node.js": 'export const who = "node";',
        "node_modules/pkg/default.js": 'export const who = "default";',
        "node_modules/pkg/feature-browser.js": 'export default "browser";',
        "node_modules/pkg/feature.js": 'export default "plain";',
    })
    assert body_of(entry) == "workerd,browser"


def test_subpath_patterns_module_field_and_scoped_packages(tmp_path):
    entry = write(tmp_path, {
        "worker.js": 'import a from "@scope/lib/adapters/http"; import b from "old"; ' + ECHO.format('a + b'),
        "node_modules/@scope/lib/package.json": {"name": "@scope/lib", "exports": {
            "./adapters/*": {"import": "./dist/adapters/*.mjs", "require": "./dist/adapters/*.cjs"}}},
        "node_modules/@scope/lib/dist/adapters/http.mjs": 'export default "http-adapter;";',
        "node_modules/old/package.json": {"name": "old", "main": "index.cjs", "module": "esm/index.js"},
        "node_modules/old/esm/index.js": 'export default "module-field";',
    })
    assert body_of(entry) == "http-adapter;module-field"


def test_package_imports_another_package_by_name_from_its_own_node_modules(tmp_path):
    entry = write(tmp_path, {
        "worker.js": 'import outer from "outer"; ' + ECHO.format("outer"),
        "node_modules/outer/package.json": {"name": "outer", "type": "module", "main": "index.js",
                                            "imports": {"#tag": "./lib/tag.js"}},
        "node_modules/outer/index.js": 'import inner from "inner"; import { tag } from "#tag"; '
                                       'export default "outer+" + inner + tag;',
        "node_modules/outer/lib/tag.js": 'export const tag = "#internal";',
        "node_modules/outer/node_modules/inner/package.json": {"name": "inner", "exports": "./inner.mjs"},
        "node_modules/outer/node_modules/inner/inner.mjs": 'export default "nested-inner";',
        "node_modules/inner/package.json": {"name": "inner", "exports": "./wrong.mjs"},
        "node_modules/inner/wrong.mjs": 'export default "hoisted-inner";',
    })
    assert body_of(entry) == "outer+nested-inner#internal"


def test_json_imports_are_modules_with_a_default_export(tmp_path):
    entry = write(tmp_path, {
        "worker.js": 'import data from "./data.json"; import pkg from "lib/package.json"; '
                     + ECHO.format("JSON.stringify([data.items.length, data.name, pkg.version])"),
        "data.json": {"name": "config", "items": [1, 2, 3]},
        "node_modules/lib/package.json": {"name": "lib", "version": "1.2.3"},
    })
    assert json.loads(body_of(entry)) == [3, "config", "1.2.3"]


def test_invalid_json_module_names_the_file(tmp_path):
    entry = write(tmp_path, {"worker.js": 'import d from "./bad.json"; ' + ECHO.format("1"),
                             "bad.json": "{not json"})
    with pytest.raises(ScriptLoadError, match="bad.json: invalid JSON"):
        load_script(entry)


def test_hoisted_node_modules_above_the_app_need_a_configured_root(tmp_path):
    entry = write(tmp_path, {
        "packages/api/worker.js": 'import shared from "shared"; ' + ECHO.format("shared"),
        "node_modules/shared/package.json": {"name": "shared", "exports": {"import": "./index.js"}},
        "node_modules/shared/index.js": 'export default "from the monorepo root";',
    })
    with pytest.raises(ScriptLoadError, match="cannot find package 'shared'"):
        load_script(entry)
    assert body_of(entry, root=tmp_path) == "from the monorepo root"
    # Module names are paths inside the root: no host paths in stack traces.
    assert load_script(entry, root=tmp_path).main == "packages/api/worker.js"


@pytest.mark.parametrize(("files", "message"), [
    ({"worker.js": 'import x from "lodash"; export default {}'}, "cannot find package 'lodash'"),
    ({"worker.js": 'import x from "https://example.com/x.js"; export default {}'}, "are not supported"),
    ({"worker.js": 'import x from "node:fs"; export default {}'}, "are not supported"),
    ({"worker.js": 'import x from "../outside.js"; export default {}'}, "outside the project root"),
    ({"worker.js": 'import x from "/etc/passwd"; export default {}'}, "use a relative path"),
    ({"worker.js": 'import x from "./missing.js"; export default {}'}, "not found"),
    ({"worker.js": 'import x from "pkg/secret"; export default {}',
      "node_modules/pkg/package.json": {"name": "pkg", "exports": {".": "./i.js"}}}, "does not export './secret'"),
    ({"worker.js": 'import x from "pkg"; export default {}',
      "node_modules/pkg/package.json": {"name": "pkg", "exports": {".": "./../../outside.js"}}},
     "invalid export target"),
    ({"worker.js": 'import x from "#nope"; export default {}', "package.json": {"name": "app"}},
     "not defined in the \"imports\""),
])
def test_imports_that_cannot_resolve_are_refused_with_their_reason(tmp_path, files, message):
    app = tmp_path / "app"
    (tmp_path / "outside.js").write_text("export default 1")
    entry = write(app, files)
    with pytest.raises(ScriptLoadError, match=message):
        load_script(entry)


def test_symlinks_are_resolved_and_checked_against_the_root(tmp_path):
    write(tmp_path / "elsewhere", {"node_modules/evil/package.json": {"name": "evil", "main": "x.mjs"},
                                             "node_modules/evil/x.mjs": 'export default "escaped";',
                                             "secret.js": 'export default "secret";'})
    app = tmp_path / "app"
    entry = write(app, {"worker.js": 'import e from "evil"; ' + ECHO.format("e")})
    (app / "node_modules").mkdir()
    os.symlink(tmp_path / "elsewhere" / "node_modules" / "evil", app / "node_modules" / "evil")
    with pytest.raises(ScriptLoadError, match="links outside the project root"):
        load_script(entry)
    write(app, {"worker.js": 'import s from "./link.js"; ' + ECHO.format("s")})
    os.symlink(tmp_path / "elsewhere" / "secret.js", app / "link.js")
    with pytest.raises(ScriptLoadError, match="outside the project root"):
        load_script(entry)
    # A link that stays inside the root (a workspace package) is followed.
    write(app, {"worker.js": 'import w from "ws-pkg"; ' + ECHO.format("w"),
                "packages/ws/package.json": {"name": "ws-pkg", "exports": "./index.js", "type": "module"},
                "packages/ws/index.js": 'export default "workspace";'})
    os.symlink(app / "packages" / "ws", app / "node_modules" / "ws-pkg")
    assert body_of(entry) == "workspace"


def test_commonjs_only_packages_get_an_error_naming_them_and_suggesting_a_bundler(tmp_path):
    entry = write(tmp_path, {
        "worker.js": 'import x from "legacy"; ' + ECHO.format("x"),
        "node_modules/legacy/package.json": {"name": "legacy", "main": "index.js"},
        "node_modules/legacy/index.js": "module.exports = function legacy() {};",
    })
    with pytest.raises(ScriptLoadError, match=r"package 'legacy' is CommonJS only.*bundler"):
        load_script(entry)
    write(tmp_path, {"worker.js": 'import x from "req-only"; ' + ECHO.format("x"),
                     "node_modules/req-only/package.json": {"name": "req-only",
                                                            "exports": {".": {"require": "./i.js"}}}})
    with pytest.raises(ScriptLoadError, match=r"package 'req-only' is CommonJS only"):
        load_script(entry)


def test_a_minified_one_line_bundle_loads_as_a_module(tmp_path):
    # As esbuild writes it: no `export` at the start of any line.
    filler = ";".join(f"var v{i}=function(){{return {i}}}" for i in range(1500))
    bundle = f'var Rr={{fetch(){{return new Response("bundled "+v7())}}}};{filler};export{{Rr as default}};'
    assert len(bundle) > 20_000 and "\n" not in bundle
    entry = write(tmp_path, {"worker.js": bundle})
    assert load_script(entry).kind == "module"
    assert body_of(entry) == "bundled 7"


def test_a_syntax_error_in_a_long_line_shows_only_a_window_of_it(tmp_path):
    filler = ";".join(f"var v{i}=function(){{return {i}}}" for i in range(1500))
    entry = write(tmp_path, {"worker.js": f"{filler};let a=1;let a=2;{filler};export default {{}};"})
    with pytest.raises(JSError) as info:
        load_script(entry)
    assert info.value.name == "SyntaxError"
    source_line = info.value.stack.splitlines()[1]
    assert "let a=2" in source_line and len(source_line) < 300, source_line[:400]


def test_service_worker_scripts_stay_classic_and_see_env_as_globals(tmp_path):
    entry = write(tmp_path, {"worker.js": 'const prefix = "sw:";\n'
                                          'addEventListener("fetch", (e) => e.respondWith('
                                          'new Response(prefix + GREETING + ":" + typeof this)));\n'})
    assert load_script(entry).kind == "service-worker"
    assert body_of(entry, env={"GREETING": "hi"}) == "sw:hi:object"


def test_package_type_module_and_mjs_decide_without_parsing(tmp_path):
    entry = write(tmp_path, {"worker.js": ECHO.format('"typed"'), "package.json": {"type": "module"}})
    assert load_script(entry).kind == "module"
    cjs = write(tmp_path, {"sw.cjs": 'addEventListener("fetch", e => e.respondWith(new Response("c")));'})
    assert load_script(cjs).kind == "service-worker"
