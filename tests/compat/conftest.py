"""The compatibility suite: real npm packages, installed from the registry as published into
one temporary project, each served by a tiny app over real HTTP. Every test here is marked
slow, and the whole folder skips with the reason when npm or the registry is unavailable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Major versions as of writing; each is the package's own ES-module build.
PACKAGES = ["hono@4", "itty-router@5", "zod@4", "jose@6", "marked@18", "yaml@2", "@hono/zod-validator@0.9"]
INSTALL_TIMEOUT_S = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def npm_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the packages in node_modules; skips (with npm's reason) if npm cannot install."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("compat suite skipped: npm is not installed")
    folder = tmp_path_factory.mktemp("compat")
    (folder / "package.json").write_text('{"name": "compat-apps", "private": true, "type": "module"}\n')
    try:
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", *PACKAGES],
                              cwd=folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.skip(f"compat suite skipped: npm install did not finish in {INSTALL_TIMEOUT_S} s "
                    "(is the npm registry reachable?)")
    if done.returncode != 0:
        pytest.skip(f"compat suite skipped: npm install failed (is the npm registry reachable?): "
                    f"{done.stderr.strip()[-400:]}")
    return folder


@pytest.fixture
def serve_app(npm_project: Path, start_server):
    """Writes an app into the npm project and serves it; returns the server. The limits are
    generous: a package's first call compiles much of its code, and this suite is not about time."""
    def serve(name: str, source: str):
        (npm_project / f"{name}.js").write_text(source)
        config = npm_project / f"{name}.toml"
        config.write_text(f'[[apps]]\nname = "{name}"\nscript = "{name}.js"\nroutes = ["/*"]\n'
                          "[apps.limits]\ncpu_limit_ms = 5000\ntimeout_ms = 10000\n")
        return start_server("--config", str(config))
    return serve
