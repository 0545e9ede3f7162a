"""Process isolation: an app whose engine process dies costs the other apps nothing.

Real servers on loopback; the engine of app A is killed from the test (SIGKILL, or a
native crash) while requests of A and B are in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import marshal
import os
import signal
import struct
import textwrap
import threading
from pathlib import Path

import httpx
import pytest

from pyruntime.server.config import ConfigError, isolation_of, load_config
from pyruntime.server.frames import MAX_FRAME, ChannelClosed, app_from_wire, encode, read_frame, wire_app

COUNTER_APP = textwrap.dedent("""\
    let count = 0;  // module state: reset only if the engine holding it is replaced

    export default {
      async fetch(request) {
        const url = new URL(request.url);
        const op = url.pathname.split("/").pop();
        if (op === "count") return new Response(String(++count));
        if (op === "sleep") {
          console.log("sleeping");
          await new Promise(resolve => setTimeout(resolve, Number(url.searchParams.get("ms"))));
          return new Response("slept");
        }
        if (op === "stream") {
          let sent = 0;
          return new Response(new ReadableStream({
            async pull(controller) {
              if (sent++ === 0) {
                console.log("streaming"); controller.enqueue(new TextEncoder().encode("first chunk\\n")); return; }
              await new Promise(resolve => setTimeout(resolve, 20000));
              controller.close();
            },
          }));
        }
        if (op === "echo") return new Response(String((await request.arrayBuffer()).byteLength));
        return new Response("not here", { status: 404 });
      },
    };
    """)


def two_apps(folder: Path, server: str = "", a: str = "", b: str = "") -> Path:
    (folder / "counter.js").write_text(COUNTER_APP)
    config = folder / "pyruntime.toml"
    config.write_text(textwrap.dedent(f"""\
        [server]
        {server}

        [[apps]]
        name = "a"
        script = "counter.js"
        routes = ["/a/*"]
        pool_size = 8
        {a}

        [[apps]]
        name = "b"
        script = "counter.js"
        routes = ["/b/*"]
        pool_size = 1
        {b}
        """))
    return config


def engine_pid(server, app: str) -> int:
    return server.wait_for_event("engine_started", app=app)[-1]["engine_pid"]


def in_background(requests: list[tuple[str, str, dict]]) -> tuple[list[threading.Thread], dict[str, object]]:
    """Sends each (request id, url, options) from a thread; results[request id] is a response or an error."""
    results: dict[str, object] = {}

    def send(request_id: str, url: str, options: dict) -> None:
        try:
            with httpx.Client(timeout=60) as client:
                if options.get("stream"):
                    with client.stream("GET", url, headers={"x-request-id": request_id}) as response:
                        results[request_id + ":status"] = response.status_code
                        results[request_id] = b"".join(response.iter_raw())
                else:
                    results[request_id] = client.get(url, headers={"x-request-id": request_id})
        except httpx.HTTPError as exc:
            results[request_id] = exc

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    return threads, results


def test_a_dead_engine_costs_the_other_app_nothing(start_server, tmp_path: Path):
    server = start_server("--config", str(two_apps(tmp_path)))
    pid_a, pid_b = engine_pid(server, "a"), engine_pid(server, "b")
    assert len({pid_a, pid_b, server.process.pid}) == 3  # two engines, apart from the server
    for expected in ("1", "2", "3"):
        assert httpx.get(server.url + "/b/count", timeout=30).text == expected

    b_ids = [f"b-{i}" for i in range(6)]
    a_ids = [f"a-{i}" for i in range(4)]
    threads, results = in_background(
        [(rid, server.url + "/b/sleep?ms=3000", {}) for rid in b_ids]
        + [(rid, server.url + "/a/sleep?ms=20000", {}) for rid in a_ids]
        + [("a-stream", server.url + "/a/stream", {"stream": True})])
    # Every request is in its engine before the kill: A's sleeps and its stream run, B's first
    # sleep runs and the others wait for B's one isolate (one isolate: one module state to check).
    for rid in [*a_ids, "a-stream"]:
        server.wait_for_event("console", request_id=rid, timeout=60)
    server.wait_for_event("console", app="b", timeout=60)
    assert len(server.events("request", app="b")) == 3  # B's six sleeps (18 s in all) are in flight
    os.kill(pid_a, signal.SIGKILL)
    for thread in threads:
        thread.join(90)

    for rid in b_ids:  # B's requests in flight at the same time all succeed
        response = results[rid]
        assert isinstance(response, httpx.Response) and response.status_code == 200 and response.text == "slept"
    for rid in a_ids:  # A's get an answer that says what happened, not an empty reply
        response = results[rid]
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 502 and "engine process exited" in response.text
        assert response.headers["x-request-id"] == rid
    # A's stream had sent its status and first chunk: its connection is closed, not completed.
    assert results["a-stream:status"] == 200 and isinstance(results["a-stream"], httpx.HTTPError)

    exited = server.wait_for_event("engine_exited", app="a")
    assert exited[0]["engine_pid"] == pid_a and exited[0]["reason"] == "signal SIGKILL"
    assert exited[0]["in_flight"] == len(a_ids) + 1
    assert httpx.get(server.url + "/b/count", timeout=30).text == "4"  # B's module state survived
    assert not server.events("engine_exited", app="b")

    # A serves again, from a new engine (fresh module state).
    new_pid = server.wait_for_event("engine_started", app="a", count=2, timeout=60)[-1]["engine_pid"]
    assert new_pid != pid_a
    assert httpx.get(server.url + "/a/count", timeout=30).text == "1"

    # One request line each, with the status the client saw; the metrics count the front's 502s.
    for rid in a_ids:
        assert [line["status"] for line in server.events("request", request_id=rid)] == [502]
    assert [line["status"] for line in server.events("request", request_id="a-stream")] == [200]
    for rid in b_ids:
        assert [line["status"] for line in server.events("request", request_id=rid)] == [200]
    metrics = httpx.get(server.url + "/metrics", timeout=30).text
    assert f'pyruntime_requests_total{{app="a",status="502"}} {float(len(a_ids))}' in metrics
    assert 'pyruntime_engine_exits_total{app="a"} 1.0' in metrics
    assert 'pyruntime_engine_exits_total{app="b"} 0.0' in metrics
    assert server.stop() == 0


def test_an_aborting_engine_is_logged_as_json_and_restarted(start_server, tmp_path: Path):
    """A native crash (SIGBUS, which the process guard leaves alone): with PYTHONFAULTHANDLER
    the engine writes raw text on the way out, as V8 does, and the log must stay JSON."""
    server = start_server("--config", str(two_apps(tmp_path)), env={"PYTHONFAULTHANDLER": "1"})
    pid_a = engine_pid(server, "a")
    assert httpx.get(server.url + "/a/count", timeout=30).text == "1"
    os.kill(pid_a, signal.SIGBUS)
    exited = server.wait_for_event("engine_exited", app="a", timeout=30)
    assert exited[0]["reason"] == "signal SIGBUS" and exited[0]["in_flight"] == 0
    output = server.events("worker_output", engine_pid=pid_a, stream="stderr")
    assert any("Fatal Python error: Bus error" in line["message"] for line in output), output
    assert all(line["app"] == "a" and line["level"] == "error" for line in output)
    # A request arriving while the engine restarts waits for it (bounded), or is told to retry.
    response = httpx.get(server.url + "/a/count", timeout=60)
    assert response.status_code == 200 or (response.status_code == 503 and response.headers["retry-after"])
    server.wait_for_event("engine_started", app="a", count=2, timeout=60)
    assert httpx.get(server.url + "/a/count", timeout=30).status_code == 200
    assert server.stop() == 0
    server.log_lines()  # every line is JSON (this raises on any other line)


def test_relayed_requests_keep_bodies_headers_and_status(start_server, tmp_path: Path):
    server = start_server("--config", str(two_apps(tmp_path)))
    body = os.urandom(3 * 1024 * 1024)  # several ASGI body messages, pulled one at a time
    response = httpx.post(server.url + "/a/echo", content=body, timeout=30,
                          headers={"x-request-id": "big-body"})
    assert response.status_code == 200 and response.text == str(len(body))
    assert response.headers["x-request-id"] == "big-body"
    assert httpx.get(server.url + "/a/nothing", timeout=30).status_code == 404
    # Without an id from the client, the front's id is the one the engine logs and answers with.
    response = httpx.get(server.url + "/a/count", timeout=30)
    lines = server.wait_for_event("request", request_id=response.headers["x-request-id"])  # the log trails
    assert len(lines) == 1 and lines[0]["status"] == 200 and lines[0]["pid"] == engine_pid(server, "a")
    assert server.stop() == 0


def test_isolation_defaults_and_overrides(tmp_path: Path):
    config = load_config(two_apps(tmp_path))
    assert [isolation_of(config, app) for app in config.apps] == ["process", "process"]
    config = load_config(two_apps(tmp_path, server='isolation = "shared"', b='isolation = "process"'))
    assert [isolation_of(config, app) for app in config.apps] == ["shared", "process"]
    single = tmp_path / "single.toml"
    single.write_text('[[apps]]\nname = "a"\nscript = "counter.js"\nroutes = ["/*"]\n')
    config = load_config(single)
    assert isolation_of(config, config.apps[0]) == "shared"  # no other app to protect
    with pytest.raises(ConfigError, match=r'apps\[0\] \(a\)\.isolation: expected "process" or "shared"'):
        load_config(two_apps(tmp_path, a='isolation = "thread"'))
    with pytest.raises(ConfigError, match=r'server\.isolation: expected "process" or "shared"'):
        load_config(two_apps(tmp_path, server="isolation = 1"))
    # The scheduler runs cron handlers on the worker's own pools: such an app is not isolated.
    config = load_config(two_apps(tmp_path, a='crons = ["*/5 * * * *"]'))
    assert [isolation_of(config, app) for app in config.apps] == ["shared", "process"]
    with pytest.raises(ConfigError, match=r'apps\[0\] \(a\)\.isolation: an app with crons runs in the worker'):
        load_config(two_apps(tmp_path, a='crons = ["*/5 * * * *"]\nisolation = "process"'))


def test_every_app_setting_reaches_the_engine_process(tmp_path: Path):
    """The engine gets the app's whole configuration (egress policy and limits included) as
    plain values, and builds the same configuration back."""
    (tmp_path / "w.js").write_text("export default { fetch() { return new Response('ok') } };\n")
    (tmp_path / "pyruntime.toml").write_text(textwrap.dedent("""\
        [[apps]]
        name = "a"
        script = "w.js"
        routes = ["/a/*"]
        env = { K = "v" }
        [apps.egress]
        allow = ["public", "127.0.0.1", "10.0.0.0/8", "*.internal.test"]
        deny = ["192.168.1.0/24"]
        [apps.limits]
        cpu_limit_ms = 20
        timeout_ms = "off"
        max_subrequests = 7
        [[apps]]
        name = "b"
        script = "w.js"
        routes = ["/b/*"]
        """))
    for app in load_config(tmp_path / "pyruntime.toml").apps:
        back = app_from_wire(marshal.loads(marshal.dumps(wire_app(app))))
        assert dataclasses.replace(back, routes=app.routes) == app


def test_a_frame_past_the_cap_closes_the_channel_without_buffering_it():
    """An engine that announces a frame larger than MAX_FRAME is treated as gone (its app's
    requests get 502 and it is replaced), before a byte of that frame is held."""
    async def scenario() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(struct.pack(">I", MAX_FRAME + 1) + b"x" * 64)
        with pytest.raises(ChannelClosed, match="larger than"):
            await read_frame(reader)
        fine = asyncio.StreamReader()
        fine.feed_data(encode("send", 1, {"type": "http.response.body", "body": b"ok"}))
        assert await read_frame(fine) == ("send", 1, {"type": "http.response.body", "body": b"ok"})
    asyncio.run(scenario())
