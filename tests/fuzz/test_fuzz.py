"""Property-based fuzzing (Hypothesis) of the two places where outside data enters the engine:
value conversion between Python and JS, and HTTP requests turned into a JS `Request`.

The property is always the same: no crash, no hang, a clear answer, and the isolate (or
app) still works afterwards. Example counts are fixed so the run is bounded.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyruntime
from pyruntime import WorkerApp
from pyruntime.server.config import AppLimits

SAFE = 2**53 - 1
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text() | st.binary(max_size=256))
values = st.recursive(scalars, lambda children: st.lists(children, max_size=6)
                      | st.dictionaries(st.text(max_size=12), children, max_size=6), max_leaves=40)


def normalised(value: object) -> object:
    """What a value comes back as: integral floats in the safe range become ints, tuples lists."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= SAFE:
        return int(value)
    if isinstance(value, list | tuple):
        return [normalised(item) for item in value]
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    return value


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)


@pytest.fixture(scope="module")
def iso():
    with pyruntime.Isolate(cpu_limit_ms=2000, timeout_ms=None) as isolate:
        isolate.eval("globalThis.echo = (v) => v; globalThis.clone = (v) => structuredClone(v); undefined")
        yield isolate


@FUZZ
@given(values)
def test_python_values_round_trip_through_js(iso, value):
    assert same(iso.call("echo", value), normalised(value))
    assert same(iso.call("clone", value), normalised(value))


json_values = st.recursive(st.none() | st.booleans() | st.integers(-SAFE, SAFE) | st.text(),
                           lambda children: st.lists(children, max_size=5)
                           | st.dictionaries(st.text(max_size=8), children, max_size=5), max_leaves=30)


@FUZZ
@given(json_values)
def test_js_values_come_back_as_python_values(iso, value):
    source = json.dumps(value)
    assert iso.eval(f"({source})") == value
    assert iso.eval(f"JSON.parse({json.dumps(source)})") == value


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_source_never_harms_the_isolate(iso, source):
    try:
        iso.eval(source, "fuzz.js")
    except (pyruntime.Error, TypeError):
        pass  # a JS error, a limit, or a value Python cannot hold: all are clear answers
    assert iso.eval("1 + 1") == 2


APP = """
export default {
  async fetch(request) {
    const body = await request.arrayBuffer();
    const names = [...request.headers.keys()];
    return Response.json({ method: request.method, url: request.url, names, size: body.byteLength });
  },
};
"""

token = st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                min_size=1, max_size=12)
header_values = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@pytest.fixture(scope="module")
def worker_app(tmp_path_factory: pytest.TempPathFactory) -> WorkerApp:
    folder = tmp_path_factory.mktemp("fuzzapp")
    (folder / "worker.js").write_text(APP)
    return WorkerApp(folder / "worker.js", name="fuzz", pool_size=1,
                     limits=AppLimits(cpu_limit_ms=2000, timeout_ms=None))


async def _asgi(app: WorkerApp, scope: dict, body: bytes) -> tuple[int, bytes]:
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)  # no disconnect while the app answers
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 60)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=token, path=st.binary(max_size=60), query=st.binary(max_size=30),
       headers=st.lists(st.tuples(token.map(str.lower), header_values), max_size=8),
       host=st.binary(max_size=30), body=st.binary(max_size=200))
def test_any_asgi_request_gets_a_clear_answer(worker_app, method, path, query, headers, host, body):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path.decode("latin-1"), "raw_path": path, "query_string": query,
             "root_path": "", "headers": [(b"host", host), *[(n.encode(), v) for n, v in headers]],
             "server": ("127.0.0.1", 80)}
    status, payload = asyncio.run(_asgi(worker_app, scope, body))
    assert status in (200, 400, 500), (status, payload)
    if status == 200:
        answer = json.loads(payload)
        assert answer["size"] == (len(body) if method not in ("GET", "HEAD") else 0)
        assert answer["url"].startswith("http://")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=300))
def test_raw_bytes_on_the_socket_never_crash_the_server(fuzz_server, data):
    with socket.create_connection(("127.0.0.1", fuzz_server.port), timeout=30) as sock:
        try:
            sock.sendall(data + b"\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # the server may close a garbage connection at once
    assert fuzz_server.process.poll() is None


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory):
    from conftest import Server

    folder: Path = tmp_path_factory.mktemp("fuzzserver")
    (folder / "worker.js").write_text(APP)
    server = Server([str(folder / "worker.js")], folder)
    server.wait_ready()
    yield server
    assert server.process.poll() is None
    import httpx

    assert httpx.get(server.url + "/after", timeout=30).status_code == 200
    server.stop()
