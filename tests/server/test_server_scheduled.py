"""Cron triggers over a real server: runs at their times with a `scheduled` log line and
metric, once per server with several worker processes, limits applied, and the dev-only
GET /__scheduled trigger (off unless --test-scheduled)."""

import re
import time
from pathlib import Path

import httpx

WORKER = """
export default {
  async scheduled(controller, env, ctx) {
    if (controller.cron === "spin") while (true) {}
    if (controller.cron === "throw") throw new Error("scheduled failure");
    console.log("tick " + controller.cron);
  },
  fetch() { return new Response("alive"); },
};
"""


def app(tmp_path: Path, crons: list[str]) -> Path:
    (tmp_path / "worker.js").write_text(WORKER)
    listed = ", ".join(f'"{cron}"' for cron in crons)
    config = tmp_path / "pyruntime.toml"
    config.write_text(f'[[apps]]\nname = "cron"\nscript = "worker.js"\nroutes = ["/*"]\ncrons = [{listed}]\n'
                      '[apps.limits]\ncpu_limit_ms = 100\ntimeout_ms = "off"\n')  # the CPU limit stops a spin
    return config


def scheduled_total(server, outcome: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=20).text
    match = re.search(r'pyruntime_scheduled_total\{app="cron",outcome="' + outcome + r'"\} ([0-9.e+]+)', text)
    return float(match.group(1)) if match else 0.0


def test_crons_fire_once_per_server_across_worker_processes(start_server, tmp_path):
    # croniter's optional sixth field is seconds: every second, so the test need not wait a minute.
    server = start_server("--config", str(app(tmp_path, ["* * * * * *"])), "--workers", "2")
    runs = server.wait_for_event("scheduled", count=3, timeout=30, app="cron")
    assert all(run["outcome"] == "ok" and run["cron"] == "* * * * * *" and run["duration_ms"] >= 0
               for run in runs)
    seconds = [run["scheduled_time"] for run in server.events("scheduled")]
    assert len(seconds) == len(set(seconds)), "a firing ran in more than one worker process"
    assert scheduled_total(server, "ok") >= 3
    assert httpx.get(server.url + "/", timeout=20).text == "alive"
    assert httpx.get(server.url + "/__scheduled", timeout=20).text == "alive"  # dev trigger off: the app answers


def test_test_scheduled_trigger_runs_handlers_under_the_limits(start_server, tmp_path):
    server = start_server("--config", str(app(tmp_path, ["0 0 1 1 *"])), "--test-scheduled")
    client = httpx.Client(base_url=server.url, timeout=30)
    ok = client.get("/__scheduled", params={"cron": "manual"})
    assert (ok.status_code, ok.text) == (200, "Ran scheduled event: ok\n")
    spin = client.get("/__scheduled", params={"cron": "spin"})
    assert (spin.status_code, spin.text) == (500, "Ran scheduled event: exceededCpu\n")
    failed = client.get("/__scheduled", params={"cron": "throw"})
    assert (failed.status_code, failed.text) == (500, "Ran scheduled event: exception\n")
    assert client.get("/").text == "alive"  # the server and the app still serve after the limit
    # A line is written before its answer, but reaches the log through the supervisor later.
    runs = server.wait_for_event("scheduled", count=3)
    assert [r["outcome"] for r in runs] == ["ok", "exceededCpu", "exception"]
    assert server.events("limit_exceeded", limit="cpu", phase="scheduled")
    assert any("scheduled failure" in (line.get("message") or "") for line in server.events("error"))
    assert server.events("console", message="tick manual") or any(
        "tick manual" in str(line) for line in server.log_lines())
    deadline = time.monotonic() + 10
    while scheduled_total(server, "exceededCpu") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (scheduled_total(server, "ok"), scheduled_total(server, "exceededCpu"),
            scheduled_total(server, "exception")) == (1, 1, 1)
