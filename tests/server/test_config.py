"""Config files: valid ones load, bad ones fail at start naming the file, key and problem."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import write_app

from pyruntime.server.config import AppLimits, ConfigError, Route, load_config

GOOD = textwrap.dedent("""\
    [server]
    port = 9000
    metrics_path = "/_/metrics"

    [[apps]]
    name = "api"
    script = "app/worker.js"
    routes = ["/api/*", "api.example.com", "*.example.org/v1/*"]
    env = { MODE = "prod", RETRIES = 3 }
    secrets = ["API_TOKEN"]
    pool_size = 3
    max_queue = 10

    [apps.limits]
    timeout_ms = 100
    cpu_limit_ms = "off"
    memory_limit_mb = 64
    max_body_mb = 2.5
    max_buffered_body_mb = 20

    [[apps]]
    name = "site"
    script = "app/worker.js"
    routes = ["/*"]
    """)


def write_config(folder: Path, text: str) -> Path:
    write_app(folder / "app")
    path = folder / "pyruntime.toml"
    path.write_text(text)
    return path


def test_a_valid_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("API_TOKEN", "t0k")
    config = load_config(write_config(tmp_path, GOOD))
    assert config.port == 9000 and config.host == "127.0.0.1"
    assert config.metrics_path == "/_/metrics" and config.health_path == "/healthz"
    api, site = config.apps
    assert api.script == (tmp_path / "app" / "worker.js").resolve()
    assert api.resolved_env() == {"MODE": "prod", "RETRIES": 3, "API_TOKEN": "t0k"}
    assert api.limits.timeout_ms == 100 and api.limits.cpu_limit_ms is None  # "off" turns it off
    assert api.limits.memory_limit_mb == 64 and api.limits.max_body_mb == 2.5
    assert api.limits.stream_cpu_ms == 2000  # the default
    assert AppLimits(cpu_limit_ms=5000).stream_cpu_budget_ms == 5000  # never less than one call's limit
    assert AppLimits(cpu_limit_ms=None).stream_cpu_budget_ms == 2000
    assert api.limits.buffered_body_bytes == 20 * 1024 * 1024
    assert site.limits.buffered_body_bytes == 64 * 1024 * 1024  # the default
    assert api.limits.request_timeout_s == 30.0
    assert api.pool_size == 3 and api.max_queue == 10
    assert site.pool_size is None


@pytest.mark.parametrize(("host", "path", "expected"), [
    ("x", "/api", True), ("x", "/api/users/1", True), ("x", "/apix", False), ("x", "/", False),
])
def test_path_prefix_routes(host: str, path: str, expected: bool):
    assert Route.parse("/api/*").matches(host, path) is expected


def test_host_routes():
    assert Route.parse("api.example.com").matches("api.example.com", "/anything")
    assert not Route.parse("api.example.com").matches("example.com", "/anything")
    wildcard = Route.parse("*.example.org/v1/*")
    assert wildcard.matches("a.example.org", "/v1/x")
    assert not wildcard.matches("a.example.org", "/v2/x")
    assert not wildcard.matches("example.org", "/v1/x")
    assert Route.parse("/exact").matches("h", "/exact") and not Route.parse("/exact").matches("h", "/exact/x")


@pytest.mark.parametrize(("edit", "key", "problem"), [
    (("timeout_ms = 100", 'timeout_ms = "fast"'), "apps[0] (api).limits.timeout_ms", "expected a number"),
    (("timeout_ms = 100", "timeout_ms = inf"), "apps[0] (api).limits.timeout_ms", "must be a finite number"),
    (("timeout_ms = 100", "timeout_ms = nan"), "apps[0] (api).limits.timeout_ms", "must be a finite number"),
    (("timeout_ms = 100", "timeout_ms = 1e15"), "apps[0] (api).limits.timeout_ms", "in (0, 3.6e+06]"),
    (("timeout_ms = 100", "timeout_ms = 0"), "apps[0] (api).limits.timeout_ms", "must be > 0"),
    (("max_buffered_body_mb = 20", "max_buffered_body_mb = 0"), "apps[0] (api).limits.max_buffered_body_mb",
     "must be > 0"),
    (("max_buffered_body_mb = 20", "stream_cpu_ms = 0"), "apps[0] (api).limits.stream_cpu_ms", "must be > 0"),
    (("max_buffered_body_mb = 20", "stream_cpu_ms = 4e6"), "apps[0] (api).limits.stream_cpu_ms",
     "in (0, 3.6e+06]"),
    (("memory_limit_mb = 64", "memory_limit_mb = 4"), "apps[0] (api).limits.memory_limit_mb",
     "from 16 to"),
    (("memory_limit_mb = 64", "memory_limt_mb = 64"), "apps[0] (api).limits.memory_limt_mb",
     "unknown key"),
    (('script = "app/worker.js"\nroutes = ["/api/*"', 'script = "app/missing.js"\nroutes = ["/api/*"'),
     "apps[0] (api).script", "file not found"),
    (('routes = ["/*"]', "routes = []"), "apps[1] (site).routes", "expected a non-empty list"),
    (('routes = ["/*"]', 'routes = ["/api/*"]'), "apps (site).routes", "already used by app 'api'"),
    (('routes = ["/*"]', 'routes = ["/a*b"]'), "apps[1] (site).routes", "invalid path pattern"),
    (('name = "site"', 'name = "api"'), "apps", "two apps are named 'api'"),
    (('name = "site"', 'name = "bad name"'), "apps[1].name", "not a valid app name"),
    (("pool_size = 3", "pool_size = 0"), "apps[0] (api).pool_size", "must be >= 1"),
    (("pool_size = 3", "pool_size = 3\nmax_pool_size = 2"), "apps[0] (api).max_pool_size",
     "must be at least pool_size (3), got 2"),
    (("pool_size = 3", "pool_size = 3\nmax_pool_size = 1.5"), "apps[0] (api).max_pool_size", "expected an integer"),
    (('secrets = ["API_TOKEN"]', 'secrets = ["NOT_SET_ANYWHERE"]'), "apps[0] (api).secrets",
     "environment variable NOT_SET_ANYWHERE is not set"),
    (("port = 9000", "port = 80.5"), "server.port", "expected an integer"),
    (("port = 9000", "prot = 9000"), "server.prot", "unknown key"),
    (('metrics_path = "/_/metrics"', 'metrics_path = "metrics"'), "server.metrics_path", "absolute path"),
])
def test_bad_config_messages_name_file_key_and_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      edit: tuple[str, str], key: str, problem: str):
    monkeypatch.setenv("API_TOKEN", "t0k")
    assert edit[0] in GOOD
    path = write_config(tmp_path, GOOD.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message


def test_invalid_toml_and_missing_apps(tmp_path: Path):
    path = write_config(tmp_path, "[[apps]\nname = 1\n")
    with pytest.raises(ConfigError, match=r"pyruntime.toml: invalid TOML"):
        load_config(path)
    path.write_text("[server]\nport = 1\n")
    with pytest.raises(ConfigError, match=r"pyruntime.toml: apps: at least one \[\[apps\]\] entry"):
        load_config(path)
    with pytest.raises(ConfigError, match="missing.toml: file not found"):
        load_config(tmp_path / "missing.toml")


def test_serve_with_a_bad_config_fails_at_start(tmp_path: Path):
    path = write_config(tmp_path, GOOD.replace("pool_size = 3", "pool_size = -1"))
    result = subprocess.run([sys.executable, "-m", "pyruntime", "serve", "--config", str(path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "API_TOKEN": "x"})
    assert result.returncode == 2
    assert f"{path}: apps[0] (api).pool_size: must be >= 1" in result.stderr
    # The first worker started before the supervisor read the file; it is stopped unheard,
    # so the error is said once, by the supervisor.
    assert result.stderr.count("pyruntime: error:") == 1
    events = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    assert events == ["worker_started"]


def test_workers_named_by_the_config_file_all_start(tmp_path: Path):
    """Worker 0 starts before the supervisor reads the file; the file's `workers` starts the rest."""
    path = write_config(tmp_path, '[server]\nworkers = 2\n[[apps]]\nname = "api"\nscript = "app/worker.js"\n'
                                   'routes = ["/*"]\n')
    with socket.socket() as taken:  # the port is taken: the server stops once both workers loaded
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "pyruntime", "serve", "--config", str(path), "--port",
                                 str(port)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    started = [json.loads(line)["slot"] for line in result.stdout.splitlines() if '"worker_started"' in line]
    assert started == [0, 1]
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
