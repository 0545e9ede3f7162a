"""The server end to end: real `python -m pyruntime serve` processes, real HTTP clients."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import textwrap
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from conftest import HTTP_SERVERS, Server, write_app

SECRET = "s3cr3t-value"
CONFIG = textwrap.dedent("""\
    [server]
    metrics_path = "/_/metrics"

    [[apps]]
    name = "main"
    script = "app/worker.js"
    routes = ["/api/*", "main.test"]
    env = { APP = "main", GREETING = "hi" }
    secrets = ["TEST_SECRET"]
    pool_size = 2

    [apps.limits]
    timeout_ms = 2000
    cpu_limit_ms = 5000
    memory_limit_mb = 64
    max_body_mb = 1
    request_timeout_s = 5

    [[apps]]
    name = "cpu"
    script = "app/worker.js"
    routes = ["/cpu/*"]
    env = { APP = "cpu", GREETING = "hey" }
    pool_size = 1
    limits = { timeout_ms = 5000, cpu_limit_ms = 100 }

    [[apps]]
    name = "small"
    script = "app/worker.js"
    routes = ["/small/*"]
    env = { APP = "small", GREETING = "yo" }
    pool_size = 1
    max_queue = 1
    """)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module", params=HTTP_SERVERS)
def http_server(request: pytest.FixtureRequest) -> str:
    """Every scenario here runs on each HTTP server that `serve --server` offers."""
    return request.param


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, http_server: str):
    """One multi-app server shared by the tests that do not stop or restart it."""
    folder = tmp_path_factory.mktemp("multi")
    write_app(folder / "app")
    (folder / "pyruntime.toml").write_text(CONFIG)
    srv = Server(["--config", "pyruntime.toml", "--server", http_server], folder, {"TEST_SECRET": SECRET})
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0


@pytest.fixture
def client(server: Server):
    with httpx.Client(base_url=server.url, timeout=20) as c:
        yield c


def assert_serves(client: httpx.Client, prefix: str = "/api") -> None:
    response = client.get(f"{prefix}/hello")
    assert response.status_code == 200, response.text


def test_routes_by_path_prefix_and_host(client: httpx.Client):
    assert client.get("/api/hello").text == "app:main hi"
    assert client.get("/cpu/hello").text == "app:cpu hey"
    assert client.get("/small/hello").text == "app:small yo"
    assert client.get("/hello", headers={"host": "main.test"}).text == "app:main hi"
    # The app sees the full URL the client asked for, prefix included.
    assert client.get("/api/url?q=1").text.endswith("/api/url?q=1")


def test_a_host_header_that_could_move_the_url_is_400(client: httpx.Client):
    for bad in ("evil.test/x", "user@evil.test", "main.test:0", "main.test:70000", "[::1"):
        for _ in range(2):  # judged once, then remembered: answered alike each time
            response = client.get("/api/url", headers={"host": bad})
            assert response.status_code == 400, bad
            assert "invalid Host header" in response.text
    assert client.get("/api/url", headers={"host": "ok.test:8080"}).text == "http://ok.test:8080/api/url"


def test_unknown_routes_are_404(client: httpx.Client):
    for path in ("/", "/nothing/hello", "/apix/hello"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["x-request-id"]
    assert client.get("/hello", headers={"host": "other.test"}).status_code == 404


def test_env_and_secrets_reach_the_app(client: httpx.Client):
    assert client.get("/api/hello").text.endswith(" hi")
    assert client.get("/api/secret").text == SECRET


def test_health_and_metrics_paths_are_not_routed_to_apps(server: Server, client: httpx.Client):
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert client.get("/_/metrics").headers["content-type"].startswith("text/plain")
    assert client.get("/metrics").status_code == 404  # moved by the config


def test_http2_cleartext(server: Server, http_server: str):
    if http_server == "h1":  # HTTP/1.1 only: the HTTP/2 preface is refused, in HTTP/1.1's words
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 505 ") and b"HTTP/1.1" in answer.partition(b"\r\n\r\n")[2]
        return
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=10) as h2:
        response = h2.get("/api/hello")
    assert response.http_version == "HTTP/2"
    assert response.text == "app:main hi"


def test_while_true_is_503_naming_the_time_limit(client: httpx.Client):
    response = client.get("/api/spin")
    assert response.status_code == 503
    assert "time limit" in response.text and "timeout" in response.text
    assert_serves(client)


def test_cpu_limit_is_503_naming_the_cpu_limit(client: httpx.Client):
    response = client.get("/cpu/spin")
    assert response.status_code == 503
    assert "CPU" in response.text and "(cpu)" in response.text
    assert_serves(client, "/cpu")


def test_memory_limit_is_503_and_the_isolate_is_replaced(server: Server, client: httpx.Client):
    created_before = len(server.events("isolate_created", app="main"))
    response = client.get("/api/mem")
    assert response.status_code == 503
    assert "memory" in response.text
    disposed = server.wait_for_event("isolate_disposed", app="main", reason="memory_limit")
    assert disposed
    server.wait_for_event("isolate_created", app="main", count=created_before + 1)
    for _ in range(4):  # both isolates of the pool, including the fresh one
        assert_serves(client)


def test_spinning_request_does_not_block_other_requests_to_the_same_app(server: Server):
    async def scenario() -> tuple[httpx.Response, list[httpx.Response], bool]:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as aclient:
            spin = asyncio.create_task(aclient.get("/api/spin"))
            await asyncio.sleep(0.05)  # let the spin request take its isolate
            others = [await aclient.get("/api/hello")]
            answered_while_spinning = not spin.done()
            others += await asyncio.gather(*(aclient.get("/api/hello") for _ in range(3)))
            return await spin, others, answered_while_spinning

    spin, others, answered_while_spinning = asyncio.run(scenario())
    assert spin.status_code == 503
    assert [r.status_code for r in others] == [200] * 4
    assert answered_while_spinning


@pytest.mark.parametrize("op", ["throw", "bad"])
def test_js_errors_are_500_without_details(server: Server, client: httpx.Client, op: str):
    response = client.get(f"/api/{op}")
    assert response.status_code == 500
    assert response.text == "Internal Server Error\n"
    request_id = response.headers["x-request-id"]
    errors = server.wait_for_event("error", request_id=request_id)
    assert errors[0]["app"] == "main"
    if op == "throw":
        assert "boom with private detail" in errors[0]["message"]
        assert "worker.js" in errors[0]["stack"]
    else:
        assert errors[0]["name"] == "TypeError"
    assert_serves(client)


def test_body_over_max_body_mb_is_413(client: httpx.Client):
    assert client.post("/api/echo", content=b"x" * 1000).text == "1000"
    response = client.post("/api/echo", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413

    def chunks():  # no content-length: the limit holds while streaming
        for _ in range(3):
            yield b"y" * (512 * 1024)

    assert client.post("/api/echo", content=chunks()).status_code == 413
    assert_serves(client)


def test_full_queue_is_503_with_retry_after(server: Server, client: httpx.Client):
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as aclient:
            return await asyncio.gather(*(aclient.get("/small/sleep?ms=400") for _ in range(4)))

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"].isdigit()
    assert "busy" in refused.text
    assert_serves(client, "/small")


def test_request_id_is_echoed_or_generated(client: httpx.Client):
    echoed = client.get("/api/hello", headers={"x-request-id": "abc-123.x"}).headers["x-request-id"]
    assert echoed == "abc-123.x"
    for bad in ("has space", "x" * 200, "quote\"d", ""):
        generated = client.get("/api/hello", headers={"x-request-id": bad}).headers["x-request-id"]
        assert generated != bad and re.fullmatch(r"[0-9a-f]{32}", generated)
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/api/hello").headers["x-request-id"])


def test_every_response_has_a_current_date_header(client: httpx.Client):
    """Hypercorn's Date is made once a second (asgi.py), not per response: it must still move on."""
    def date_of(path: str) -> float:
        return parsedate_to_datetime(client.get(path).headers["date"]).timestamp()

    first = date_of("/api/hello")
    assert abs(first - time.time()) < 60
    assert abs(date_of("/nothing-here") - time.time()) < 60  # the server's own answers too
    time.sleep(1.1)
    assert date_of("/api/hello") >= first + 1


def test_json_log_lines(server: Server, client: httpx.Client):
    client.get("/api/log", headers={"x-request-id": "log-test-1"})
    client.get("/api/spin", headers={"x-request-id": "log-test-2"})
    client.get("/api/hello", headers={"x-request-id": "log-test-3"})
    server.wait_for_event("request", request_id="log-test-3")
    lines = server.log_lines()  # every line parses as JSON
    for line in lines:
        assert TIMESTAMP.match(line["timestamp"]), line
        assert line["level"] in ("debug", "info", "warn", "error"), line
        assert line["event"]
        if "request_id" in line and line["event"] != "request" or line["event"] == "console":
            assert line["app"], line

    request = server.events("request", request_id="log-test-1")[0]
    assert request["app"] == "main" and request["method"] == "GET" and request["path"] == "/api/log"
    assert request["status"] == 200
    assert request["duration_ms"] >= 0 and request["cpu_ms"] >= 0
    console = server.events("console", request_id="log-test-1")
    assert [(c["level"], c["message"]) for c in console] == [
        ("info", "a log line"), ("warn", "a warning"), ("error", "an error")]
    assert all(c["app"] == "main" for c in console)

    limit = server.events("limit_exceeded", request_id="log-test-2")[0]
    assert limit["limit"] == "timeout" and limit["app"] == "main"
    assert server.events("request", request_id="log-test-2")[0]["status"] == 503

    loaded = {line["app"] for line in server.events("app_loaded")}
    assert loaded == {"main", "cpu", "small"}
    assert server.events("isolate_created", app="main")


def test_every_request_of_a_burst_has_its_line_when_the_server_stops_at_once(start_server, tmp_path: Path,
                                                                              http_server: str):
    """Request lines are written once per event-loop pass (JsonLogger.write_record_soon): none
    is lost when many end together, nor when SIGTERM comes right after the last answer."""
    script = write_app(tmp_path / "app")
    server = start_server(str(script), "--server", http_server, "--name", "burst")

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=server.url, timeout=20, limits=limits) as c:
            answers = await asyncio.gather(*(c.get("/hello", headers={"x-request-id": f"burst-{n}"})
                                             for n in range(300)))
        return [answer.status_code for answer in answers]

    assert asyncio.run(burst()) == [200] * 300
    assert server.stop() == 0
    ids = {line["request_id"] for line in server.events("request", app="burst")}
    assert {f"burst-{n}" for n in range(300)} <= ids


def metric(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}\{{{re.escape(label_text)}\}} (\S+)$", re.MULTILINE)
    match = pattern.search(text)
    assert match, f"{name}{{{label_text}}} not in metrics"
    return float(match.group(1))


def test_metrics_contents(client: httpx.Client):
    before = client.get("/_/metrics").text
    ok_before = metric(before, "pyruntime_requests_total", app="main", status="200")
    client.get("/api/hello")
    client.get("/api/hello")
    client.get("/api/spin")
    text = client.get("/_/metrics").text
    assert metric(text, "pyruntime_requests_total", app="main", status="200") == ok_before + 2
    assert metric(text, "pyruntime_requests_total", app="main", status="503") >= 1
    assert metric(text, "pyruntime_request_duration_seconds_count", app="main") >= 3
    assert metric(text, "pyruntime_request_duration_seconds_bucket", app="main", le="+Inf") >= 3
    assert metric(text, "pyruntime_isolates", app="main") == 2
    assert metric(text, "pyruntime_isolates", app="small") == 1
    assert metric(text, "pyruntime_isolate_heap_used_bytes", app="main") > 0
    assert metric(text, "pyruntime_limit_exceeded_total", app="main", limit="timeout") >= 1
    assert metric(text, "pyruntime_limit_exceeded_total", app="small", limit="memory") == 0


# A request that logs when its JS has begun, then waits: in flight for as long as a test needs.
DRAIN_APP = """\
export default {
  async fetch(request) {
    if (new URL(request.url).pathname !== "/slow") return new Response("hello");
    console.log("slow request started");
    await new Promise(resolve => setTimeout(resolve, 8000));
    return new Response("slept");
  },
};
"""


def test_sigterm_drains_in_flight_requests(start_server, tmp_path: Path, http_server: str):
    script = tmp_path / "drain.js"
    script.write_text(DRAIN_APP)
    server = start_server(str(script), "--server", http_server, "--name", "drain")
    result: dict[str, httpx.Response] = {}

    def slow_request() -> None:
        result["response"] = httpx.get(server.url + "/slow", timeout=60)

    thread = threading.Thread(target=slow_request)
    thread.start()
    server.wait_for_event("console", message="slow request started", timeout=60)
    server.process.send_signal(signal.SIGTERM)
    # The worker's own line (the supervisor logs one too, before it signals the workers).
    server.wait_for_event("shutdown", signal="SIGTERM", timeout=60)
    # The server stops accepting as its drain begins: a request may still slip in at that
    # moment, but new connections are refused while the slow request is in flight.
    for _ in range(20):
        try:
            httpx.get(server.url + "/hello", timeout=2)
        except httpx.TransportError:
            break
    else:
        pytest.fail("new connections were still served while the server drained")
    assert thread.is_alive(), "the slow request ended before new connections were refused"
    thread.join(60)
    assert result["response"].status_code == 200
    assert result["response"].text == "slept"
    assert server.process.wait(30) == 0
    assert server.events("stopped")


def wait_for_count(client: httpx.Client, expected: int) -> str:
    """/metrics once `pyruntime_requests_total` of the app reached `expected` 200s (each is
    counted once its response is sent, which may be just after the client read it)."""
    deadline = time.monotonic() + 10
    while True:
        text = client.get("/metrics").text
        served = metric(text, "pyruntime_requests_total", app="multi", status="200")
        if served >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert served == expected
    return text


def test_workers_share_the_port_and_a_dead_worker_is_replaced(start_server, tmp_path: Path, http_server: str):
    script = write_app(tmp_path / "app")
    server = start_server(str(script), "--server", http_server, "--name", "multi", "--workers", "2")
    started = server.wait_for_event("worker_started", count=2)
    with httpx.Client(base_url=server.url, timeout=20) as c:
        for _ in range(6):
            assert c.get("/hello").status_code == 200
        # A request is counted just after its response is sent: the kill waits for the six
        # counts, or it could land between a response and its count.
        wait_for_count(c, 6)
        os.kill(started[0]["worker_pid"], signal.SIGKILL)
        exited = server.wait_for_event("worker_exited")
        assert exited[0]["worker_pid"] == started[0]["worker_pid"] and "SIGKILL" in exited[0]["reason"]
        for _ in range(6):  # the other worker keeps serving meanwhile
            assert c.get("/hello").status_code == 200
        replacement = server.wait_for_event("worker_started", count=3)[2]
        deadline = time.monotonic() + 30
        while not any(e["pid"] == replacement["worker_pid"] for e in server.events("app_loaded")) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        # Metrics are the sum over processes: the killed worker's requests still count.
        wait_for_count(c, 12)
        # The replacement's isolates count from its first answer, or half a second into serving.
        isolates = 2 * (os.cpu_count() or 1)
        deadline = time.monotonic() + 10
        while metric(c.get("/metrics").text, "pyruntime_isolates", app="multi") != isolates \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metric(c.get("/metrics").text, "pyruntime_isolates", app="multi") == isolates
    assert server.stop() == 0
    assert server.process.returncode == 0


def test_reload_picks_up_changes_and_keeps_serving_after_a_failed_reload(start_server, tmp_path: Path,
                                                                         http_server: str):
    script = write_app(tmp_path / "app")
    label = tmp_path / "app" / "lib" / "label.js"
    server = start_server(str(script), "--server", http_server, "--name", "dev", "--reload")
    with httpx.Client(base_url=server.url, timeout=20) as c:
        assert c.get("/hello").text == "app:undefined undefined"
        result: dict[str, httpx.Response] = {}
        in_flight = threading.Thread(target=lambda: result.update(r=c.get("/sleep?ms=1500")))
        in_flight.start()
        time.sleep(0.3)
        label.write_text('export function label(app) { return "v2"; }\n')
        server.wait_for_event("app_loaded", reload=True)
        assert c.get("/hello").text == "v2 undefined"
        in_flight.join(20)
        assert result["r"].status_code == 200  # the reload dropped nothing in flight

        label.write_text("export function label(app) { return \n")  # a syntax error
        failed = server.wait_for_event("reload_failed")
        assert "SyntaxError" in failed[0]["message"] or "SyntaxError" in failed[0].get("stack", "")
        assert c.get("/hello").text == "v2 undefined"  # the old version still serves
        label.write_text('export function label(app) { return "v3"; }\n')
        server.wait_for_event("app_loaded", reload=True, count=2)
        assert c.get("/hello").text == "v3 undefined"


def test_a_client_leaving_mid_request_leaves_the_app_healthy(server: Server, client: httpx.Client):
    for _ in range(3):
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(server.url + "/api/spin", timeout=httpx.Timeout(10, read=0.05))
    for _ in range(6):
        assert_serves(client)
