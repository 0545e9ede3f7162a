"""`AppIsolate`: an `AsyncIsolate` with a Workers app loaded, answering requests.

The app's code is loaded once (`WorkerScript`, top-level code under the call limits), then
each request goes through the worker protocol (protocol.py). A request's loose ends end
with it: its timers are cancelled before the next request, and `end_request()` cancels the
host operations it left in flight.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from .. import _core
from . import compile_cache
from .async_isolate import AsyncIsolate, AsyncOpHandler
from .console import ConsoleSink
from .driver import check_outcome
from .host_ops import AsyncHostOps, UpstreamBody
from .inline_gate import InlineGate
from .isolate import _UNSET, Start
from .limits import Limits
from .protocol import (
    CANCEL_RESPONSE_STREAM,
    DEFINE_ENV_GLOBALS,
    DISPATCH_FETCH,
    DISPATCH_SCHEDULED,
    PENDING_WAIT_UNTIL,
    READ_RESPONSE_CHUNK,
    RELAY_UPSTREAM_BODIES,
    SET_WORKER_ENV,
    FetchResult,
    ScheduledResult,
)
from .scripts import WorkerScript, raise_load_error

# A request's headers: (name, value) pairs of str (Latin-1) or of bytes, as ASGI gives them.
Headers = list[tuple[str, str]] | list[tuple[bytes, bytes]]
# One request of `AppIsolate.fetch_series`: method, URL, headers, body, request id, console sink.
SeriesRequest = tuple[str, str, Headers, bytes | None, str | None, ConsoleSink | None]
# How a server that speaks HTTP/1.1 itself would frame a request's answer: (head_request,
# keep_alive, http10). See AppIsolate.fetch_series.
AnswerFrame = tuple[bool, bool, bool]


def _dispatch_fetch(runtime: _core.Runtime, args: tuple[Any, ...]) -> _core.Outcome:
    # fresh: timers left by the previous request would run on this request's budget.
    return runtime.call_internal(DISPATCH_FETCH, args, True)


class AppIsolate(AsyncIsolate):
    """An isolate running one app. One request at a time: pools hold several."""

    def __init__(self, script: WorkerScript, *, env: dict[str, Any] | None = None, limits: Limits | None = None,
                 console: ConsoleSink | None = None, op_handler: AsyncOpHandler | None = None,
                 inline: InlineGate | None = None) -> None:
        limits = limits or Limits()
        if op_handler is None:  # outbound fetch by default; pass another handler to restrict or record I/O
            op_handler = AsyncHostOps()
        # Outbound fetch keeps per-isolate state (open exchanges, subrequest counts, host-held bytes).
        self._outbound = op_handler.session(limits.memory_limit_bytes) if isinstance(op_handler, AsyncHostOps) \
            else None
        super().__init__(limits=limits, console=console, op_handler=self._outbound or op_handler)
        self.script = script
        self.env = dict(env or {})
        # Requests' short slices may run on the event loop's thread (inline_gate.py), keeping
        # the GIL there; slices sent to worker threads release it (AsyncIsolate._in_thread).
        self._gate = inline
        self._runtime.keep_gil = inline is not None
        # Whether the last request left ctx.waitUntil work (or a stream that may add some).
        self._background = False
        # Whether a request was answered since load (then its compiled code can be shared),
        # and whether this isolate offered its code already (once: V8 may decline to serialise).
        self._answered = False
        self._offered_code = False
        # The CPU time the reads of the last answer's streamed body used (read_chunk).
        self._stream_cpu_ms = 0.0
        # The last answer's body when it is an unread upstream body, until the host takes it.
        self._upstream: UpstreamBody | None = None

    async def load(self) -> None:
        """Runs the app's top-level code, under the same limits as a request."""
        if self._outbound is not None:
            self._outbound.begin_request(None)
        script = self.script

        async def run(start: Start) -> None:  # top-level code may be long: never on the loop's thread
            check_outcome(await self._drive(start, what="app load", inline=False))

        # Converted once: every request and cron run of this isolate gets this same env object.
        await run(lambda rt: rt.call_internal(SET_WORKER_ENV, (self.env,)))
        if self._outbound is not None:  # this host can send an unread upstream body on itself
            await run(lambda rt: rt.call_internal(RELAY_UPSTREAM_BODIES, (True,)))
        if script.kind == "service-worker":
            source = script.sources[script.main]
            await run(lambda rt: rt.call_internal(DEFINE_ENV_GLOBALS, (self.env,)))
            await run(lambda rt: rt.eval(source, script.main, False))
            return
        for name, source in script.sources.items():
            outcome = await asyncio.to_thread(self._runtime.compile_module, name, source,
                                              script.code_cache.get(name, b""))
            if outcome.status != "ok":
                raise_load_error(outcome, f"cannot load {name}")
        await run(lambda rt: rt.evaluate_module(script.main, script.links))
        await run(lambda rt: rt.bind_worker_module(script.main))

    async def fetch(self, method: str, url: str, headers: Headers, body: bytes | None, *,
                    console: ConsoleSink | None = None, started: float | None = None,
                    request_id: str | None = None) -> FetchResult:
        """Runs the app's fetch handler for one request. `started` (loop time) is when the
        request arrived: the total time limit counts from then. `request_id` tags its subrequests.
        `headers`: (name, value) pairs of str (Latin-1) or of bytes."""
        result = self.fetch_now(method, url, headers, body, console=console, started=started, request_id=request_id)
        return result if isinstance(result, FetchResult) else await result

    def fetch_now(self, method: str, url: str, headers: Headers, body: bytes | None, *,
                  console: ConsoleSink | None = None, started: float | None = None,
                  request_id: str | None = None) -> FetchResult | Coroutine[Any, Any, FetchResult]:
        """`fetch` that runs the handler's first slice at once on this thread when the app's
        gate allows (inline_gate.py): the result if the handler answered there, as most do,
        else a coroutine that finishes the request. Spares the common request a task and a
        trip through the event loop. `headers` may be ASGI's own list of byte pairs: they
        reach JS without being decoded on the way (`_core.HeaderList`)."""
        if self._outbound is not None:
            self._outbound.begin_request(request_id)
        args = (method, url, _core.HeaderList(headers), body or None)
        outcome = self._drive_now(functools.partial(_dispatch_fetch, args=args), console=console, started=started,
                                  what="request")
        if isinstance(outcome, _core.Outcome):
            return self._fetched(outcome)
        return self._fetch_rest(outcome)

    def fetch_series(self, requests: Iterable[SeriesRequest], release_bytes: int,
                     frames: Sequence[AnswerFrame | None] | None = None,
                     date_line: bytes = b"") -> list[_core.Outcome | Coroutine[Any, Any, FetchResult] | Exception]:
        """Runs the handlers of several requests back to back, each as `fetch_now` runs one,
        in one call into the core (`_core.Runtime.fetch_series`) with no Python between them,
        which would evict V8's code and data from the CPU's caches: measured, a third of the
        JS call's CPU.

        Goes on to the next request while the gate lets slices run inline and the last one
        ended in its first slice and left this isolate free: no operation in flight, no stream
        or waitUntil work, a body of at most `release_bytes`, or an error its handler threw;
        and while the series holds at most `_core`'s bound of console output (ext/fetch_series.h).
        Returns what each request it began gave, in order: its finished outcome (`result_of`
        gives the FetchResult or raises), an exception (a bug of ours, that request's alone:
        headers that cannot go to JS end the series there), or, for the last only, the
        coroutine that finishes it. Between two requests nothing needs ending (`end_request`):
        the first left no operation, and the next call drops the first's timers; the caller
        ends the last request. Console lines are delivered once the series ran; the last
        request, if the series did not go on past it, goes on as `fetch_now`'s call would
        (`_after_first_slice`), its outbound requests tagged with its id.

        `frames`, one per request (None: not this one): a request whose handler left the
        isolate free with a whole answer has it framed for HTTP/1.1 by the core, with
        `date_line` (`framed_answer` gives it); the others' outcomes are as without. Why: an
        answer h1 writes as it is need not become Python objects and then bytes again."""
        gate = self._gate
        if gate is None or not gate.allows():
            return []
        requests = list(requests)
        calls: list[tuple[Any, ...]] = []
        refused: Exception | None = None  # a request whose headers cannot go to JS: its own failure
        for method, url, headers, body, _, _ in requests[:1] if self._op_tasks else requests:
            try:
                calls.append((method, url, _core.HeaderList(headers), body or None))
            except Exception as exc:
                refused = exc
                break
        core_frames = None if frames is None else [None if frame is None else (request[4] or "", *frame)
                                                   for request, frame in zip(requests, frames, strict=True)]
        with self._stop_lock:
            self._calling = True
        try:
            outcomes, went_on, unconverted = self._runtime.fetch_series(DISPATCH_FETCH, calls, gate.max_slice_ms,
                                                                        release_bytes, core_frames, date_line)
        except BaseException as exc:
            self._end_call()
            if not isinstance(exc, Exception):
                raise
            return [exc]
        if unconverted is not None:  # before the one refused here, if any
            refused = unconverted
        if not outcomes:
            self._end_call()
            return [] if refused is None else [refused]
        begun: list[_core.Outcome | Coroutine[Any, Any, FetchResult] | Exception] = list(outcomes)
        try:
            for index in range(len(outcomes) if went_on else len(outcomes) - 1):
                if lines := outcomes[index].console:
                    try:
                        self._deliver_console(lines, requests[index][5])
                    except Exception as exc:  # a bug of the host's sink: that request's failure alone
                        begun[index] = exc
        except BaseException:
            self._end_call()
            raise
        if went_on:  # every call ran, each left the isolate free: the refused one, if any, is next
            self._end_call()
            if refused is not None:
                begun.append(refused)
            return begun
        last, (_, _, _, _, request_id, console) = len(outcomes) - 1, requests[len(outcomes) - 1]
        outcome = outcomes[last]
        if self._outbound is not None:
            self._outbound.begin_request(request_id)
        try:  # the call is ended by _after_first_slice, or by the coroutine it gives
            outcome = self._after_first_slice(functools.partial(_dispatch_fetch, args=calls[last]), outcome, gate,
                                              console, None, _UNSET, "request")
        except BaseException as exc:
            self._end_call()
            if not isinstance(exc, Exception):
                raise
            begun[last] = exc
            return begun
        begun[last] = outcome if isinstance(outcome, _core.Outcome) else self._fetch_rest(outcome)
        return begun

    def result_of(self, outcome: _core.Outcome) -> FetchResult:
        """The FetchResult of a request `fetch_series` ran to its end; raises its error."""
        return self._fetched(outcome)

    def framed_answer(self, outcome: _core.Outcome) -> tuple[int, bytes] | None:
        """The status and the HTTP/1.1 response after its status line of a request whose
        answer `fetch_series` framed (`result_of` for the others: None here)."""
        framed = outcome.framed
        if framed is not None:
            self._background = False  # a whole answer: no stream, no waitUntil work
            self._answered = True
        return framed

    async def _fetch_rest(self, driving: Coroutine[Any, Any, _core.Outcome]) -> FetchResult:
        return self._fetched(await driving)

    def _fetched(self, outcome: _core.Outcome) -> FetchResult:
        result = FetchResult.from_js(check_outcome(outcome), outcome.wall_ms, outcome.cpu_ms)
        self._stream_cpu_ms = 0.0
        # A streamed body may still register waitUntil work while it is read; an upstream
        # body the host sends on runs no JS.
        self._background = result.wait_until > 0 or result.stream_id > 0
        if result.stream_id < 0:
            assert self._outbound is not None  # JS hands bodies back only to a host that relays them
            self._upstream = self._outbound.hand_over(-result.stream_id)
        self._answered = True
        return result

    def close(self) -> None:
        """Frees the isolate; its outbound connections close once the bodies it handed over
        have been sent (host_ops.FetchSession.close)."""
        super().close()
        if self._outbound is not None:
            self._outbound.close()

    def take_upstream(self) -> UpstreamBody | None:
        """The last answer's body when the app returned its own fetch()'s body unread (a
        negative `stream_id`), now the caller's to read and close: it needs no JS, and this
        isolate may serve the next request meanwhile. None for any other answer."""
        upstream, self._upstream = self._upstream, None
        return upstream

    async def scheduled(self, cron: str, scheduled_time_ms: float, *, console: ConsoleSink | None = None,
                        started: float | None = None) -> ScheduledResult:
        """Runs the app's `scheduled` handler for one cron firing (`scheduled_time_ms`: Unix
        time in ms), under the call limits; then finishes its `waitUntil` work with
        `wait_until()` as after a request."""
        args = (cron, scheduled_time_ms)
        outcome = await self._drive(lambda rt: rt.call_internal(DISPATCH_SCHEDULED, args, True), console=console,
                                    started=started, what="scheduled event")
        result = ScheduledResult.from_js(check_outcome(outcome), outcome.wall_ms, outcome.cpu_ms)
        self._background = result.wait_until > 0
        return result

    async def read_chunk(self, stream_id: int, *, console: ConsoleSink | None = None) -> bytes | None:
        """The next chunk of a streamed response body (None at its end); each read is a call
        with the call limits, so a stream may last longer than one request budget. What the
        reads of a body use together, and V8's background work for the isolate between them,
        is `stream_cpu_ms`, for the caller to bound. An
        upstream body (a negative `stream_id`) is read from the upstream, with no call."""
        if stream_id < 0:
            upstream = self._upstream
            if upstream is None:
                raise TypeError(f"no response stream {stream_id}")
            chunk = await upstream.read()
            if chunk is None:
                self._upstream = None
            return chunk
        # What V8's worker threads spent for the isolate since the last read (a tier-up the
        # stream set off) is the stream's too: no call counts it, and the isolate is not idle.
        between = self._runtime.unbilled_background_ms
        outcome = await self._drive(lambda rt: rt.call_internal(READ_RESPONSE_CHUNK, (stream_id,)),
                                    console=console, what="stream read")
        self._stream_cpu_ms += between + outcome.cpu_ms
        chunk = check_outcome(outcome)
        if isinstance(chunk, int):  # the end: how much waitUntil work is still pending
            self._background = chunk > 0
            return None
        return chunk

    @property
    def stream_cpu_ms(self) -> float:
        """The CPU time the reads of the last answer's body stream used so far (`read_chunk`)."""
        return self._stream_cpu_ms

    async def cancel_stream(self, stream_id: int) -> None:
        """Cancels a streamed body the client will not read."""
        if stream_id < 0:
            upstream = self.take_upstream()
            if upstream is not None:
                upstream.close()
            return
        check_outcome(await self._drive(lambda rt: rt.call_internal(CANCEL_RESPONSE_STREAM, (stream_id,)),
                                        what="stream cancel"))

    @property
    def has_background_work(self) -> bool:
        """Whether the last request left `ctx.waitUntil` work for `wait_until` to finish."""
        return self._background

    async def wait_until(self, *, console: ConsoleSink | None = None) -> None:
        """Finishes the work handlers passed to `ctx.waitUntil`, within the call limits."""
        if not self._background:
            return
        self._background = False
        check_outcome(await self._drive(lambda rt: rt.call_internal(PENDING_WAIT_UNTIL, ()), console=console,
                                        what="waitUntil"))

    def end_request(self) -> None:
        """The request is over: host operations it left in flight are cancelled, and its
        pending call (if it was abandoned) with its timers; its subrequests' connections close."""
        self.cancel_operations()
        upstream = self.take_upstream()
        if upstream is not None:  # an upstream body no one took or read to its end
            upstream.close()
        if self._outbound is not None:
            self._outbound.end_request()
        self._runtime.cancel_call()
        if self._answered and not self._offered_code and not self.script.code_cache \
                and self.script.kind == "module":
            self._share_compiled_code()

    def _share_compiled_code(self) -> None:
        """Gives the script the code this isolate compiled (once per script), and keeps it on
        disk for the next process (compile_cache.py). Between calls no JS runs here, so this
        quick call needs no worker thread."""
        self._offered_code = True
        caches = {name: self._runtime.module_code_cache(name) for name in self.script.sources}
        if all(caches.values()):
            self.script.code_cache.update(caches)
            compile_cache.keep_module_code(self.script.sources, caches)
