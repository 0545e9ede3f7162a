"""`AppIsolate.fetch_series`: the handlers of several requests run back to back on one
isolate, as a server's JS pass runs them, each request as alone as if `fetch_now` had run it.
The series goes on only while the last request left the isolate free; the caller gets each
request's outcome in order, and the coroutine of the one that goes on, if any."""

import asyncio
from pathlib import Path

import pytest

from pyruntime import _core
from pyruntime.engine import AppIsolate, Limits, load_script
from pyruntime.engine.egress import EgressPolicy
from pyruntime.engine.errors import JSError, MemoryLimitExceeded, TimeLimitExceeded
from pyruntime.engine.host_ops import AsyncHostOps, Subrequest
from pyruntime.engine.inline_gate import MAX_INLINE_STALL_MS, InlineGate

APP = """
let fired = 0;
export default {
  async fetch(request, env, ctx) {
    const [, kind, n] = new URL(request.url).pathname.split("/");
    switch (kind) {
      case "timer":  // a timer left behind must never run in a later request
        setTimeout(() => { fired++; }, 0);
        return new Response(`timer ${n} ${fired}`);
      case "log":
        console.log(`log ${n}`);
        return new Response(`log ${n}`);
      case "loud":  // 600 KiB of console output
        console.log(`${n}`.repeat(600 * 1024));
        return new Response(`loud ${n}`);
      case "throw": throw new Error(`boom ${n}`);
      case "spin": for (;;) {}
      case "burn": {  // some milliseconds of CPU, within the patient gate's slice
        let sum = 0;
        for (let i = 0; i < 3e6; i++) sum += i % 7;
        return new Response(`burn ${n} ${sum}`);
      }
      case "wait":
        await new Promise((resolve) => setTimeout(resolve, 1));
        return new Response(`wait ${n}`);
      case "later":
        ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 1)));
        return new Response(`later ${n}`);
      case "big": return new Response("x".repeat(Number(n)));
      case "fire":  // an outbound fetch left in flight (port 9 on loopback: refused)
        fetch("http://127.0.0.1:9/").catch(() => {});
        return new Response(`fire ${n}`);
      default: return new Response(`sync ${n}`);
    }
  },
};
"""


class Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, method: str, text: str) -> None:
        self.lines.append(text)


def patient_gate() -> InlineGate:
    """A gate that a slice slowed past the default 1 ms of CPU (a first call's compile, on a busy
    machine) does not cool: these tests are about where a series ends, not about the gate."""
    return InlineGate(max_slice_ms=MAX_INLINE_STALL_MS)


def make_isolate(tmp_path: Path, gate: InlineGate | None) -> AppIsolate:
    (tmp_path / "worker.js").write_text(APP)
    return AppIsolate(load_script(tmp_path / "worker.js"), limits=Limits(cpu_limit_ms=50, timeout_ms=10_000),
                      inline=gate)


def requests(paths: list[str], sinks: dict[str, Sink] | None = None) -> list[tuple]:
    return [("GET", f"http://a.test{path}", [(b"host", b"a.test")], None, f"id-{index}",
             (sinks or {}).get(path)) for index, path in enumerate(paths)]


def body_of(isolate: AppIsolate, outcome: _core.Outcome) -> str:
    return isolate.result_of(outcome).body.decode()


def test_a_series_runs_on_while_each_request_leaves_the_isolate_free(tmp_path: Path):
    async def main() -> tuple[list[str], list[str], str, str]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        sinks = {"/log/3": Sink(), "/sync/1": Sink()}
        paths = ["/sync/1", "/timer/2", "/log/3", "/timer/4", "/throw/5", "/sync/6", "/wait/7", "/sync/8"]
        started = isolate.fetch_series(requests(paths, sinks), 64 * 1024)
        assert len(started) == 7  # up to the request that waits: it holds the isolate
        *ended, going_on = started
        bodies = []
        for outcome in ended:
            try:
                bodies.append(body_of(isolate, outcome))
            except JSError as exc:
                bodies.append(f"{exc.name}: {exc.message}")
        waited = (await going_on).body.decode()
        isolate.end_request()
        after = (await isolate.fetch("GET", "http://a.test/timer/9", [], None)).body.decode()
        isolate.close()
        return bodies, sinks["/log/3"].lines + sinks["/sync/1"].lines, waited, after

    bodies, lines, waited, after = asyncio.run(main())
    assert bodies == ["sync 1", "timer 2 0", "log 3", "timer 4 0", "Error: boom 5", "sync 6"]
    assert lines == ["log 3"]  # each request's console lines reach its own sink
    assert waited == "wait 7"
    assert after == "timer 9 0"


@pytest.mark.parametrize(("paths", "count"), [
    (["/later/1", "/sync/2"], 1),  # waitUntil work keeps the isolate
    (["/big/100", "/sync/2"], 1),  # a body past release_bytes is sent while the isolate is held
    (["/big/50", "/sync/2"], 2),
    (["/fire/1", "/sync/2"], 1),  # an operation in flight belongs to its request until it ends
])
def test_a_series_stops_after_a_request_that_keeps_the_isolate(tmp_path: Path, paths: list[str], count: int):
    async def main() -> int:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        started = isolate.fetch_series(requests(paths), 50)
        for outcome in started:
            isolate.result_of(outcome)
        if paths[0] == "/later/1":
            await isolate.wait_until()
        isolate.end_request()  # cancels the fetch left in flight
        assert (await isolate.fetch("GET", "http://a.test/sync/3", [], None)).body == b"sync 3"
        isolate.close()
        return len(started)

    assert asyncio.run(main()) == count


def test_a_request_stopped_by_its_cpu_limit_ends_the_series_and_the_isolate_serves_on(tmp_path: Path):
    async def main() -> tuple[int, str]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        started = isolate.fetch_series(requests(["/sync/1", "/spin/2", "/sync/3"]), 64 * 1024)
        assert body_of(isolate, started[0]) == "sync 1"
        with pytest.raises(TimeLimitExceeded):
            isolate.result_of(started[1])
        isolate.end_request()
        body = (await isolate.fetch("GET", "http://a.test/sync/4", [], None)).body.decode()
        isolate.close()
        return len(started), body

    assert asyncio.run(main()) == (2, "sync 4")


def test_no_request_begins_when_slices_must_run_in_threads(tmp_path: Path):
    """Without a gate, or while the gate sends slices to threads after a heavy one, the series
    begins nothing: the caller runs those requests the usual way."""
    async def main() -> tuple[int, int, int]:
        ungated = make_isolate(tmp_path, None)
        await ungated.load()
        gate = patient_gate()
        gated = make_isolate(tmp_path, gate)
        await gated.load()
        gate.record(10_000)  # a slice of 10 s: the next ones run in threads for a while
        cooled = len(gated.fetch_series(requests(["/sync/1"]), 64 * 1024))
        unbound = len(ungated.fetch_series(requests(["/sync/1"]), 64 * 1024))
        fresh = make_isolate(tmp_path, patient_gate())
        await fresh.load()
        served = len(fresh.fetch_series(requests(["/sync/1"]), 64 * 1024))
        for isolate in (ungated, gated, fresh):
            isolate.close()
        return cooled, unbound, served

    assert asyncio.run(main()) == (0, 0, 1)


def test_a_request_that_cannot_reach_js_is_its_own_error_and_the_isolate_serves_on(tmp_path: Path):
    """Headers the core refuses end the series with that request's TypeError; the call it never
    made leaves the isolate as it was."""
    async def main() -> tuple[list[str], str]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        broken = ("GET", "http://a.test/sync/2", [(b"host",)], None, "id-broken", None)
        started = isolate.fetch_series([*requests(["/sync/1"]), broken, *requests(["/sync/3"])], 64 * 1024)
        kinds = [type(item).__name__ for item in started]
        isolate.end_request()
        body = (await isolate.fetch("GET", "http://a.test/sync/4", [], None)).body.decode()
        isolate.close()
        return kinds, body

    assert asyncio.run(main()) == (["Outcome", "TypeError"], "sync 4")


def test_a_terminate_for_a_request_that_ended_does_not_stop_the_next(tmp_path: Path):
    """A terminate() that comes after a request's JS ended, before the next one's begins (here
    from the first request's console sink, which runs in that gap), was for the request that
    ended: the next one runs to its end."""
    async def main() -> list[str]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        stopped = []

        def stopping(method: str, text: str) -> None:
            stopped.append(text)
            isolate.terminate()

        started = isolate.fetch_series(requests(["/log/1", "/sync/2"], {"/log/1": stopping}), 64 * 1024)
        bodies = [body_of(isolate, outcome) for outcome in started]
        isolate.end_request()
        isolate.close()
        return stopped + bodies

    assert asyncio.run(main()) == ["log 1", "log 1", "sync 2"]


def test_a_slice_past_the_gates_bound_cools_the_gate_and_ends_the_series(tmp_path: Path):
    """A request whose slice took more CPU than the gate lets an inline slice take is answered,
    and the requests after it are left to run in threads (the caller's usual way)."""
    async def main() -> tuple[list[str], bool]:
        gate = InlineGate(max_slice_ms=0.0001, burst_ms=0)  # any slice passes it, and cools it
        isolate = make_isolate(tmp_path, gate)
        await isolate.load()
        started = isolate.fetch_series(requests(["/sync/1", "/sync/2", "/sync/3"]), 64 * 1024)
        bodies = [body_of(isolate, outcome) for outcome in started]
        isolate.end_request()
        isolate.close()
        return bodies, gate.allows()

    assert asyncio.run(main()) == (["sync 1"], False)


def test_a_console_sink_that_fails_is_its_requests_error_and_the_isolate_serves_on(tmp_path: Path):
    """A bug of the host's in the sink a request's console lines go to is that request's
    exception alone: the request after it keeps its answer, the call is ended, and the
    isolate serves the next request."""
    async def main() -> tuple[list[str], str]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()

        def failing(method: str, text: str) -> None:
            raise RuntimeError(f"sink broke on {text!r}")

        started = isolate.fetch_series(requests(["/log/1", "/sync/2"], {"/log/1": failing}), 64 * 1024)
        kinds = [f"{type(item).__name__}: {item}" if isinstance(item, Exception) else body_of(isolate, item)
                 for item in started]
        isolate.end_request()
        body = (await isolate.fetch("GET", "http://a.test/timer/3", [], None)).body.decode()
        isolate.close()
        return kinds, body

    assert asyncio.run(main()) == (["RuntimeError: sink broke on 'log 1'", "sync 2"], "timer 3 0")


def test_a_request_past_its_memory_limit_ends_the_series_and_only_its_isolate(tmp_path: Path):
    """The core disposes an isolate past its memory limit once the series has left it: the
    requests before keep their answers, none after runs, and a new isolate serves."""
    async def main() -> tuple[int, str, bool, str]:
        (tmp_path / "worker.js").write_text(APP.replace(
            'case "spin":', 'case "oom": { const held = []; for (;;) held.push(new Array(1e5).fill(1.5)); }\n'
                            '      case "spin":'))
        limits = Limits(memory_limit_mb=32, cpu_limit_ms=None, timeout_ms=None, total_timeout_ms=60_000)
        isolate = AppIsolate(load_script(tmp_path / "worker.js"), limits=limits, inline=patient_gate())
        await isolate.load()
        started = isolate.fetch_series(requests(["/sync/1", "/oom/2", "/sync/3"]), 64 * 1024)
        first = body_of(isolate, started[0])
        with pytest.raises(MemoryLimitExceeded):
            isolate.result_of(started[1])
        alive = isolate.alive
        isolate.close()
        fresh = AppIsolate(load_script(tmp_path / "worker.js"), limits=limits, inline=patient_gate())
        await fresh.load()
        after = (await fresh.fetch("GET", "http://a.test/sync/4", [], None)).body.decode()
        fresh.close()
        return len(started), first, alive, after

    assert asyncio.run(main()) == (2, "sync 1", False, "sync 4")


def test_the_last_requests_subrequests_carry_its_own_id(tmp_path: Path):
    """The series' last request, which goes on with an operation in flight, has its outbound
    fetch counted and logged under its own request id, not an earlier request's."""
    async def main() -> list[str | None]:
        (tmp_path / "worker.js").write_text(APP)
        records: list[Subrequest] = []
        ops = AsyncHostOps(EgressPolicy.parse(allow=["127.0.0.1"]), app="t", observer=records.append)
        isolate = AppIsolate(load_script(tmp_path / "worker.js"), limits=Limits(cpu_limit_ms=50, timeout_ms=10_000),
                             op_handler=ops, inline=patient_gate())
        await isolate.load()
        started = isolate.fetch_series(requests(["/sync/1", "/fire/2"]), 64 * 1024)
        assert len(started) == 2
        last = started[1]
        result = isolate.result_of(last) if isinstance(last, _core.Outcome) else await last
        assert result.body == b"fire 2"
        for _ in range(1000):  # a bound for a failing test: the refused connection ends at once
            if records:
                break
            await asyncio.sleep(0.01)
        isolate.end_request()
        isolate.close()
        return [record.request_id for record in records]

    assert asyncio.run(main()) == ["id-1"]


def test_each_request_of_a_series_is_charged_its_own_cpu(tmp_path: Path):
    """A series reads the thread's CPU clock once between two requests: the CPU of a request
    that burns some is its own, not the next one's, and a call after the series starts from
    its own reading."""
    async def main() -> tuple[float, float, float]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        started = isolate.fetch_series(requests(["/burn/1", "/sync/2"]), 64 * 1024)
        burned, light = (isolate.result_of(outcome).cpu_ms for outcome in started)
        isolate.end_request()
        alone = (await isolate.fetch("GET", "http://a.test/sync/3", [], None)).cpu_ms
        isolate.close()
        return burned, light, alone

    burned, light, alone = asyncio.run(main())
    assert light < burned / 4 and alone < burned / 4, (burned, light, alone)


def test_a_series_holds_at_most_about_one_calls_console_output(tmp_path: Path):
    """The core ends a series once its requests' console output passes what one call may hold
    (ext/fetch_series.h): two requests of 600 KiB each end it, each output reaches its own
    request's sink whole, a request the series did not reach is not counted as begun (not
    even the one whose headers cannot go to JS), and the next series takes the rest."""
    async def main() -> tuple[list[str], list[int], list[str]]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        sinks = {"/loud/1": Sink(), "/loud/2": Sink()}
        broken = ("GET", "http://a.test/sync/3", [(b"host",)], None, "id-broken", None)
        started = isolate.fetch_series([*requests(["/loud/1", "/loud/2"], sinks), broken], 64 * 1024)
        bodies = [body_of(isolate, outcome) for outcome in started]
        lengths = [len(line) for sink in sinks.values() for line in sink.lines]
        rest = isolate.fetch_series(requests(["/sync/4", "/sync/5"]), 64 * 1024)
        after = [body_of(isolate, outcome) for outcome in rest]
        isolate.end_request()
        isolate.close()
        return bodies, lengths, after

    assert asyncio.run(main()) == (["loud 1", "loud 2"], [600 * 1024, 600 * 1024], ["sync 4", "sync 5"])


def test_whole_answers_come_framed_when_asked_and_the_others_as_without(tmp_path: Path):
    """With `frames`, a request that left the isolate free with a whole answer has it framed
    for HTTP/1.1 by the core (after the status line, with the date line given); a thrown error,
    a request not asked for, one whose id is not Latin-1, and one that keeps the isolate
    (waitUntil work) come as without frames; console lines reach their sinks either way."""
    date = b"date: Sat, 05 Dec 2026 09:00:00 GMT\r\n"

    async def main() -> tuple[list, list[str]]:
        isolate = make_isolate(tmp_path, patient_gate())
        await isolate.load()
        sink = Sink()
        paths = ["/log/1", "/sync/2", "/throw/3", "/sync/4", "/sync/5", "/later/6"]
        series = requests(paths, {"/log/1": sink})
        series[4] = (*series[4][:4], "id-\u20ac", None)
        frames = [(False, True, False), (True, False, False), (False, True, False), None, (False, True, False),
                  (False, True, False)]
        started = isolate.fetch_series(series, 64 * 1024, frames, date)
        got = []
        for outcome in started:
            framed = isolate.framed_answer(outcome)
            if framed is not None:
                got.append(("framed", outcome.value, *framed))
                continue
            try:
                got.append(("result", isolate.result_of(outcome).body))
            except JSError as exc:
                got.append(("error", exc.message))
        await isolate.wait_until()
        isolate.end_request()
        isolate.close()
        return got, sink.lines

    got, lines = asyncio.run(main())
    text = b"content-type: text/plain;charset=UTF-8\r\nx-request-id: id-%d\r\ncontent-length: %d\r\n"
    assert got == [
        ("framed", None, 200, date + text % (0, 5) + b"\r\nlog 1"),
        ("framed", None, 200, date + text % (1, 6) + b"connection: close\r\n\r\n"),  # HEAD; the connection closes
        ("error", "boom 3"),
        ("result", b"sync 4"),
        ("result", b"sync 5"),
        ("result", b"later 6"),  # its waitUntil work keeps the isolate: the series ends with it
    ]
    assert lines == ["log 1"]
