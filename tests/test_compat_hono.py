"""Code written for Cloudflare Workers runs unchanged: the Hono web framework, installed
from npm as published, served over real HTTP. Skipped where npm cannot install it."""

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

APP = """
import { Hono } from "./node_modules/hono/dist/index.js";

const app = new Hono();
app.get("/", (c) => c.text("Hello Hono"));
app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") }));
app.post("/echo", async (c) => c.json(await c.req.json(), 201));
export default app;
"""


@pytest.fixture(scope="module")
def hono_app(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hono")
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    try:
        install = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "hono@4"], cwd=folder,
                                 capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install of hono timed out (registry unreachable?)")
    if install.returncode != 0:
        pytest.skip(f"npm could not install hono: {install.stderr[-300:]}")
    (folder / "worker.js").write_text(APP)
    return folder / "worker.js"


def test_hono_app_is_served_unchanged(start_server, hono_app: Path):
    server = start_server(str(hono_app), "--name", "hono")
    with httpx.Client(base_url=server.url, timeout=20) as client:
        assert client.get("/").text == "Hello Hono"
        assert client.get("/users/42?q=x").json() == {"id": "42", "q": "x"}
        echoed = client.post("/echo", json={"a": [1, 2]})
        assert (echoed.status_code, echoed.json()) == (201, {"a": [1, 2]})
        assert client.get("/missing").status_code == 404
