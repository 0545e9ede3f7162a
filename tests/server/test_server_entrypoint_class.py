"""A `WorkerEntrypoint` class served over HTTP on every server (`cloudflare:workers`): each
request gets its own instance, its `waitUntil` work runs after the response, an instance
whose constructor throws fails only its own request (500), a spinning request is stopped by
its limit and the next is served, and `/__scheduled` runs the class's `scheduled`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest
from conftest import HTTP_SERVERS

APP = textwrap.dedent("""\
    import { WorkerEntrypoint, env, waitUntil } from "cloudflare:workers";
    let made = 0;
    let background = 0;
    let breakNext = false;
    export default class extends WorkerEntrypoint {
      constructor(ctx, env) {
        super(ctx, env);
        made++;
        if (breakNext) {
          breakNext = false;
          throw new Error("constructor failure");
        }
      }
      async fetch(request) {
        const path = new URL(request.url).pathname;
        if (path === "/spin") while (true) {}
        if (path === "/break-next") breakNext = true;
        waitUntil(Promise.resolve().then(() => { background++; }));
        return Response.json({ made, background, greeting: this.env.GREETING, same: this.env === env });
      }
      async scheduled(controller) {
        console.log(`cron ${controller.cron} ${env.GREETING}`);
      }
    }
    """)

CONFIG = textwrap.dedent("""\
    [[apps]]
    name = "entry"
    script = "worker.js"
    routes = ["/*"]
    pool_size = 1
    [apps.env]
    GREETING = "hi"
    [apps.limits]
    cpu_limit_ms = 100
    """)


@pytest.mark.parametrize("server_name", HTTP_SERVERS)
def test_a_worker_entrypoint_class_serves_requests_and_crons(start_server, tmp_path: Path, server_name: str):
    (tmp_path / "worker.js").write_text(APP)
    (tmp_path / "pyruntime.toml").write_text(CONFIG)
    server = start_server("--config", "pyruntime.toml", "--server", server_name, "--test-scheduled")
    client = httpx.Client(base_url=server.url, timeout=30)
    first = client.get("/a").json()
    second = client.get("/b").json()
    assert (first["greeting"], first["same"], second["same"]) == ("hi", True, True)
    assert second["made"] == first["made"] + 1  # an instance per request, on the app's one isolate
    assert second["background"] >= first["background"] + 1  # the first request's waitUntil work ran
    client.get("/break-next")
    assert client.get("/x").status_code == 500  # its instance threw in its constructor
    assert client.get("/y").json()["same"] is True  # the next request gets a working one
    assert server.wait_for_event("error", name="Error", message="constructor failure")
    assert client.get("/spin").status_code == 503
    assert client.get("/c").json()["greeting"] == "hi"  # a new isolate, the same class
    ran = client.get("/__scheduled", params={"cron": "manual"})
    assert (ran.status_code, ran.text) == (200, "Ran scheduled event: ok\n")
    assert server.wait_for_event("console", message="cron manual hi")
