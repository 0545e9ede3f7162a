"""`scheduled` handlers in real V8: module and service-worker syntax, the controller's
fields, waitUntil, errors and the CPU limit (after which the isolate still serves)."""

import asyncio
from pathlib import Path

import pytest

from pyruntime import JSError, TimeLimitExceeded
from pyruntime.engine import AppIsolate, Limits, load_script

MODULE = """
let runs = [];
export default {
  async scheduled(controller, env, ctx) {
    if (controller.cron === "spin") while (true) {}
    if (controller.cron === "throw") throw new Error("cron failed");
    if (controller.cron === "retry") controller.noRetry();
    ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 5)).then(() => runs.push("waited")));
    runs.push([controller.cron, controller.scheduledTime, env.LABEL,
               Object.prototype.toString.call(controller)].join("|"));
  },
  async fetch() { return Response.json(runs); },
};
"""
SERVICE_WORKER = """
let seen = [];
addEventListener("scheduled", (event) => {
  event.waitUntil(Promise.resolve().then(() => seen.push("waited:" + LABEL)));
  seen.push(event.cron + "|" + event.scheduledTime + "|" + (event instanceof ScheduledEvent));
});
addEventListener("fetch", (event) => event.respondWith(Response.json(seen)));
"""


def scenario(entry: Path, crons: list[str], limits: Limits | None = None):
    """Runs the scheduled handler for each cron; returns the outcomes and what fetch reports after."""
    async def go():
        worker = AppIsolate(load_script(entry), env={"LABEL": "env-value"}, limits=limits or Limits())
        outcomes = []
        try:
            await worker.load()
            for cron in crons:
                try:
                    result = await worker.scheduled(cron, 1_700_000_000_000)
                    await worker.wait_until()
                    outcomes.append(("retry" if result.no_retry else "ok", result.cpu_ms >= 0))
                except (JSError, TimeLimitExceeded) as exc:
                    outcomes.append((type(exc).__name__, str(exc)))
                worker.end_request()
            response = await worker.fetch("GET", "http://example.test/", [], None)
            return outcomes, response.body.decode()
        finally:
            worker.close()
    return asyncio.run(go())


def test_module_scheduled_handler_gets_controller_env_and_ctx(tmp_path):
    entry = tmp_path / "worker.js"
    entry.write_text(MODULE)
    outcomes, seen = scenario(entry, ["*/5 * * * *", "retry"])
    assert outcomes == [("ok", True), ("retry", True)]
    assert seen == ('["*/5 * * * *|1700000000000|env-value|[object ScheduledController]","waited",'
                    '"retry|1700000000000|env-value|[object ScheduledController]","waited"]')


def test_service_worker_scheduled_listener_and_env_globals(tmp_path):
    entry = tmp_path / "worker.js"
    entry.write_text(SERVICE_WORKER)
    outcomes, seen = scenario(entry, ["0 * * * *"])
    assert outcomes == [("ok", True)]
    assert seen == '["0 * * * *|1700000000000|true","waited:env-value"]'


def test_errors_and_the_cpu_limit_end_a_run_and_the_isolate_still_serves(tmp_path):
    entry = tmp_path / "worker.js"
    entry.write_text(MODULE)
    outcomes, seen = scenario(entry, ["throw", "spin", "after"], Limits(cpu_limit_ms=200, timeout_ms=None))
    assert outcomes[0] == ("JSError", "Error: cron failed")
    assert outcomes[1][0] == "TimeLimitExceeded" and "CPU" in outcomes[1][1].upper()
    assert outcomes[2] == ("ok", True)
    assert '"after|' in seen


def test_a_throwing_scheduled_listener_fails_the_run(tmp_path):
    entry = tmp_path / "worker.js"
    entry.write_text("addEventListener('scheduled', () => { throw new RangeError('listener failed'); });\n"
                     "addEventListener('fetch', (e) => e.respondWith(new Response('still serving')));")
    outcomes, body = scenario(entry, ["* * * * *"])
    assert outcomes == [("JSError", "RangeError: listener failed")]
    assert body == "still serving"


def test_a_worker_without_a_scheduled_handler_says_so(tmp_path):
    entry = tmp_path / "worker.js"
    entry.write_text("export default { fetch() { return new Response('x'); } };")
    outcomes, _ = scenario(entry, ["* * * * *"])
    assert outcomes[0][0] == "JSError" and "no scheduled handler" in outcomes[0][1]
    sw = tmp_path / "sw.js"
    sw.write_text("addEventListener('fetch', e => e.respondWith(new Response('x')));")
    outcomes, _ = scenario(sw, ["* * * * *"])
    assert "no \"scheduled\" event listener" in outcomes[0][1]


def test_a_scheduled_only_module_loads_and_refuses_fetch_with_a_clear_error(tmp_path):
    entry = tmp_path / "worker.js"
    entry.write_text("export default { scheduled() {} };")

    async def go():
        worker = AppIsolate(load_script(entry))
        try:
            await worker.load()
            with pytest.raises(JSError, match=r"the default export has no fetch\(\) method"):
                await worker.fetch("GET", "http://example.test/", [], None)
        finally:
            worker.close()
    asyncio.run(go())
