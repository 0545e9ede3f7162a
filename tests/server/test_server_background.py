"""ctx.waitUntil work over real HTTP: it runs after the response, under the request's limits,
and when it breaks a limit the client already has its answer and the app keeps serving."""

from pathlib import Path

import httpx

APP = """
export default {
  fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/spin-later") {
      ctx.waitUntil(new Promise((resolve) => setTimeout(() => { while (true) {} }, 10)));
      return new Response("answered first");
    }
    if (path === "/log-later") {
      ctx.waitUntil(new Promise((resolve) => setTimeout(() => { console.log("background ran"); resolve(); }, 10)));
      return new Response("answered");
    }
    return new Response("fine");
  },
};
"""


def test_wait_until_runs_after_the_response_and_its_limit_is_contained(start_server, tmp_path: Path):
    script = tmp_path / "app" / "worker.js"
    script.parent.mkdir()
    script.write_text(APP)
    server = start_server(str(script), "--name", "bg")
    with httpx.Client(base_url=server.url, timeout=20) as client:
        assert client.get("/log-later").text == "answered"
        server.wait_for_event("console", app="bg", message="background ran")
        assert client.get("/spin-later").text == "answered first"
        limit = server.wait_for_event("limit_exceeded", app="bg")[0]
        assert (limit["limit"], limit["phase"]) == ("cpu", "waitUntil")
        assert [client.get("/").text for _ in range(4)] == ["fine"] * 4
        metrics = client.get("/metrics").text
        assert 'pyruntime_limit_exceeded_total{app="bg",limit="cpu"} 1.0' in metrics
