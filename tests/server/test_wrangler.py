"""Wrangler projects served as they are: wrangler.toml (name, main, vars, routes, crons,
limits, environments), `.dev.vars` secrets, and the keys that do not apply listed once."""

import textwrap
from pathlib import Path

import httpx
import pytest

from pyruntime.server.config import ConfigError, Route, load_config
from pyruntime.server.wrangler import load_wrangler, read_dotenv

WRANGLER_TOML = textwrap.dedent("""\
    name = "shop"
    main = "src/index.ts"
    compatibility_date = "2024-09-23"
    compatibility_flags = ["nodejs_compat"]
    routes = [{ pattern = "shop.example.com/*", zone_name = "example.com" }, "api.example.com/v1/*"]

    [vars]
    GREETING = "hello"
    LEVEL = 3

    [triggers]
    crons = ["*/5 * * * *", "0 0 * * *"]

    [limits]
    cpu_ms = 150

    [[kv_namespaces]]
    binding = "CACHE"
    id = "abc"

    [env.staging]
    route = "staging.example.com/*"
    [env.staging.vars]
    GREETING = "hello from staging"
    [env.staging.triggers]
    crons = ["0 * * * *"]
    [[env.staging.d1_databases]]
    binding = "DB"
""")
INDEX_TS = textwrap.dedent("""\
    interface Env { GREETING: string; LEVEL?: number; API_TOKEN: string }
    export default {
      fetch(request: Request, env: Env): Response {
        return Response.json({ greeting: env.GREETING, level: env.LEVEL ?? null, token: env.API_TOKEN,
                               host: new URL(request.url).host });
      },
    };
""")


def project(folder: Path, toml: str = WRANGLER_TOML) -> Path:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "index.ts").write_text(INDEX_TS)
    (folder / "wrangler.toml").write_text(toml)
    (folder / ".dev.vars").write_text('# development secrets\nAPI_TOKEN="dev-token"\nexport OTHER=plain # note\n')
    (folder / ".dev.vars.staging").write_text("API_TOKEN=staging-token\n")
    return folder / "wrangler.toml"


def test_wrangler_fields_and_ignored_keys(tmp_path):
    config, ignored = load_wrangler(project(tmp_path))
    app = config.apps[0]
    assert (app.name, app.script) == ("shop", (tmp_path / "src" / "index.ts").resolve())
    assert app.routes == (Route.parse("shop.example.com/*"), Route.parse("api.example.com/v1/*"))
    assert app.env == {"GREETING": "hello", "LEVEL": 3, "API_TOKEN": "dev-token", "OTHER": "plain"}
    assert app.crons == ("*/5 * * * *", "0 0 * * *")
    assert app.limits.cpu_limit_ms == 150
    assert app.root == tmp_path.resolve()  # node_modules beside wrangler.toml, main under src/
    assert ignored == ["compatibility_date", "compatibility_flags", "kv_namespaces"]


def test_an_environment_overrides_and_does_not_inherit_vars(tmp_path):
    config, ignored = load_wrangler(project(tmp_path), "staging")
    app = config.apps[0]
    assert app.name == "shop-staging"
    assert app.routes == (Route.parse("staging.example.com/*"),)
    assert app.env == {"GREETING": "hello from staging", "API_TOKEN": "staging-token"}
    assert app.crons == ("0 * * * *",)
    assert "env.staging.d1_databases" in ignored
    with pytest.raises(ConfigError, match=r"--env prod: no \[env.prod\].*environments: staging"):
        load_wrangler(tmp_path / "wrangler.toml", "prod")


@pytest.mark.parametrize(("toml", "message"), [
    ('name = "x"\n', "main: the worker's entry script is required"),
    ('name = "x"\nmain = "missing.js"\n', "main: file not found"),
    ('name = "x y"\nmain = "src/index.ts"\n', "name: expected an app name"),
    ('name = "x"\nmain = "src/index.ts"\n[triggers]\ncrons = ["61 * * * *"]\n', "invalid cron expression"),
    ('name = "x"\nmain = "src/index.ts"\n[limits]\ncpu_ms = -1\n', "limits.cpu_ms"),
    ('name = "x"\nmain = "src/index.ts"\n[limits]\nsubrequests = 5\n', "limits.subrequests: unknown key"),
    ('name = "x"\nmain = "src/index.ts"\nroutes = [{ zone_name = "a" }]\n', "routes: expected a pattern"),
])
def test_invalid_wrangler_files_name_the_key(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message):
        load_wrangler(project(tmp_path, toml))


def test_dotenv_format(tmp_path):
    file = tmp_path / ".dev.vars"
    file.write_text('A=1\nB="two words"\nC=\'single # kept\'\nD="line\\nbreak"\n\n# comment\nE = spaced  \n')
    assert read_dotenv(file) == {"A": "1", "B": "two words", "C": "single # kept", "D": "line\nbreak",
                                 "E": "spaced"}
    file.write_text("not a pair\n")
    with pytest.raises(ConfigError, match=r"\.dev\.vars:1: expected KEY=value"):
        read_dotenv(file)


def test_pyruntime_toml_has_root_and_crons(tmp_path):
    (tmp_path / "apps" / "api").mkdir(parents=True)
    (tmp_path / "apps" / "api" / "worker.js").write_text("export default {}")
    config_file = tmp_path / "pyruntime.toml"
    config_file.write_text('[[apps]]\nname = "api"\nscript = "apps/api/worker.js"\nroutes = ["/*"]\n'
                           'root = "."\ncrons = ["*/10 * * * *"]\nenv = { A = "1" }\n')
    app = load_config(config_file).apps[0]
    assert (app.root, app.crons, app.env) == (tmp_path.resolve(), ("*/10 * * * *",), {"A": "1"})
    config_file.write_text('[[apps]]\nname = "api"\nscript = "apps/api/worker.js"\nroutes = ["/*"]\n'
                           'root = "apps/other"\n')
    (tmp_path / "apps" / "other").mkdir()
    with pytest.raises(ConfigError, match="does not contain the script"):
        load_config(config_file)


def test_serve_runs_a_wrangler_project_as_it_is(start_server, tmp_path):
    toml = project(tmp_path / "shop")
    server = start_server("--config", str(toml))
    response = httpx.get(server.url + "/", headers={"host": "shop.example.com"}, timeout=20)
    assert response.json() == {"greeting": "hello", "level": 3, "token": "dev-token", "host": "shop.example.com"}
    assert httpx.get(server.url + "/", headers={"host": "other.example.com"}, timeout=20).status_code == 404
    ignored = server.events("config_ignored")
    assert len(ignored) == 1 and ignored[0]["keys"] == ["compatibility_date", "compatibility_flags",
                                                        "kv_namespaces"]
    assert server.wait_for_event("app_loaded", app="shop")


def test_serve_finds_wrangler_toml_in_the_current_folder_and_selects_an_environment(tmp_path):
    import subprocess
    import sys

    from conftest import Server

    folder = tmp_path / "shop"
    project(folder)
    server = Server(["--env", "staging", "--workers", "2"], folder)
    try:
        server.wait_ready()
        response = httpx.get(server.url + "/", headers={"host": "staging.example.com"}, timeout=20)
        assert response.json()["greeting"] == "hello from staging"
        assert response.json()["token"] == "staging-token"
        assert len(server.events("config_ignored")) == 1  # once, not once per worker process
        # Worker 0 imports the server while the supervisor reads the file; worker 1 waits for
        # the file's verdict.
        order = [(line["event"], line.get("slot")) for line in server.log_lines()
                 if line["event"] in ("worker_started", "config_ignored")]
        assert order == [("worker_started", 0), ("config_ignored", None), ("worker_started", 1)]
    finally:
        server.stop()
    bare = subprocess.run([sys.executable, "-m", "pyruntime", "serve"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert bare.returncode == 2 and "or a wrangler.toml in this folder" in bare.stderr


def test_serve_root_reaches_a_monorepos_hoisted_node_modules(start_server, tmp_path):
    import subprocess
    import sys

    api = tmp_path / "repo" / "packages" / "api"
    api.mkdir(parents=True)
    (api / "worker.js").write_text('import { shout } from "shared-lib";\n'
                                   'export default { fetch() { return new Response(shout("hoisted")); } };\n')
    lib = tmp_path / "repo" / "node_modules" / "shared-lib"
    lib.mkdir(parents=True)
    (lib / "package.json").write_text('{"name": "shared-lib", "type": "module", "exports": "./index.js"}')
    (lib / "index.js").write_text("export const shout = (s) => s.toUpperCase();\n")
    refused = subprocess.run([sys.executable, "-m", "pyruntime", "serve", str(api / "worker.js")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "cannot find package 'shared-lib'" in refused.stderr
    server = start_server(str(api / "worker.js"), "--root", str(tmp_path / "repo"), "--workers", "2")
    assert httpx.get(server.url + "/", timeout=20).text == "HOISTED"
