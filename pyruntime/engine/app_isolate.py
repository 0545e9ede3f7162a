"""`AppIsolate`: an `AsyncIsolate` with a Workers app loaded, answering requests.

The app's code is loaded once (`WorkerScript`, top-level code under the call limits), then
each request goes through the worker protocol (protocol.py). A request's loose ends end
with it: its timers are cancelled before the next request, and `end_request()` cancels the
host operations it left in flight.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine, Iterable
from typing import Any

from .. import _core
from . import compile_cache
from .async_isolate import AsyncIsolate, AsyncOpHandler, ended_in_first_slice
from .console import ConsoleSink
from .driver import check_outcome
from .host_ops import AsyncHostOps
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
    SET_WORKER_ENV,
    FetchResult,
    ScheduledResult,
)
from .scripts import WorkerScript, raise_load_error

# A request's headers: (name, value) pairs of str (Latin-1) or of bytes, as ASGI gives them.
Headers = list[tuple[str, str]] | list[tuple[bytes, bytes]]
# One request of `AppIsolate.fetch_series`: method, URL, headers, body, request id, console sink.
SeriesRequest = tuple[str, str, Headers, bytes | None, str | None, ConsoleSink | None]


def _dispatch_fetch(runtime: _core.Runtime, args: tuple[Any, ...]) -> _core.Outcome:
    # fresh: timers left by the previous request would run on this request's budget.
    return runtime.call_internal(DISPATCH_FETCH, args, True)


def _frees(outcome: _core.Outcome, release_bytes: int) -> bool:
    """Whether a request that ended leaves its isolate free for the next at once: an error its
    handler threw, or a whole result (protocol.FetchResult.from_js's array) with no stream,
    no waitUntil work and a body of at most `release_bytes`."""
    if outcome.status == "js_error":
        return True
    if outcome.status != "ok":
        return False
    value = outcome.value
    return len(value) == 6 and not value[4] and not value[5] and (value[3] is None or len(value[3]) <= release_bytes)


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

    async def load(self) -> None:
        """Runs the app's top-level code, under the same limits as a request."""
        if self._outbound is not None:
            self._outbound.begin_request(None)
        script = self.script

        async def run(start: Start) -> None:  # top-level code may be long: never on the loop's thread
            check_outcome(await self._drive(start, what="app load", inline=False))

        # Converted once: every request and cron run of this isolate gets this same env object.
        await run(lambda rt: rt.call_internal(SET_WORKER_ENV, (self.env,)))
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

    def fetch_series(self, requests: Iterable[SeriesRequest],
                     release_bytes: int) -> list[_core.Outcome | Coroutine[Any, Any, FetchResult] | Exception]:
        """Runs the handlers of several requests back to back, each as `fetch_now` runs one,
        with none of the caller's Python between them, which would evict V8's code and data
        from the CPU's caches: measured, a third of the JS call's CPU.

        Goes on to the next request while the gate lets slices run inline and the last one
        ended in its first slice and left this isolate free: no operation in flight, no stream
        or waitUntil work, a body of at most `release_bytes`, or an error its handler threw.
        Returns what each request it began gave, in order: its finished outcome (`result_of`
        gives the FetchResult or raises), or, for the last only, an exception or the
        coroutine that finishes it. Between two requests nothing needs ending (`end_request`):
        the first left no operation, and the next call drops the first's timers; the caller
        ends the last request. A call that ended in its first slice (`ended_in_first_slice`)
        within the gate's slice has its console lines delivered and leaves the shell's call
        open for the next, with a terminate() that came for it dropped; any other goes on
        through `_after_first_slice`, as `fetch_now`'s would. Per request, the Python this
        spares was a third of what the series cost besides its JS."""
        begun: list[_core.Outcome | Coroutine[Any, Any, FetchResult] | Exception] = []
        gate = self._gate
        if gate is None:
            return begun
        runtime, outbound, max_slice_ms = self._runtime, self._outbound, gate.max_slice_ms
        opened = False  # the shell's call is open (`_calling`) for calls that ended in their first slice
        for method, url, headers, body, request_id, console in requests:
            if not gate.allows():
                break
            with self._stop_lock:
                if opened:  # the call before ended: a terminate() that came for it is not this one's
                    runtime.clear_terminate()
                self._calling = opened = True
            try:
                if outbound is not None:
                    outbound.begin_request(request_id)
                args = (method, url, _core.HeaderList(headers), body or None)
                outcome = runtime.call_internal(DISPATCH_FETCH, args, True)
                if ended_in_first_slice(outcome) and outcome.cpu_ms <= max_slice_ms:
                    # What _after_first_slice does for it but end the call (gate.record: nothing, within the gate).
                    if outcome.console:
                        self._deliver_console(outcome.console, console)
                else:
                    opened = False  # ended by _after_first_slice, or by the coroutine it gives
                    outcome = self._after_first_slice(functools.partial(_dispatch_fetch, args=args), outcome, gate,
                                                      console, None, _UNSET, "request")
            except BaseException as exc:
                opened = False
                self._end_call()
                if not isinstance(exc, Exception):
                    raise
                begun.append(exc)
                break
            if not isinstance(outcome, _core.Outcome):
                begun.append(self._fetch_rest(outcome))
                break
            begun.append(outcome)
            if self._op_tasks or not _frees(outcome, release_bytes):
                break
        if opened:
            self._end_call()
        return begun

    def result_of(self, outcome: _core.Outcome) -> FetchResult:
        """The FetchResult of a request `fetch_series` ran to its end; raises its error."""
        return self._fetched(outcome)

    async def _fetch_rest(self, driving: Coroutine[Any, Any, _core.Outcome]) -> FetchResult:
        return self._fetched(await driving)

    def _fetched(self, outcome: _core.Outcome) -> FetchResult:
        result = FetchResult.from_js(check_outcome(outcome), outcome.wall_ms, outcome.cpu_ms)
        # A streamed body may still register waitUntil work while it is read.
        self._background = result.wait_until > 0 or result.stream_id != 0
        self._answered = True
        return result

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
        with the call limits, so a stream may last longer than one request budget."""
        chunk = check_outcome(await self._drive(lambda rt: rt.call_internal(READ_RESPONSE_CHUNK, (stream_id,)),
                                                console=console, what="stream read"))
        if isinstance(chunk, int):  # the end: how much waitUntil work is still pending
            self._background = chunk > 0
            return None
        return chunk

    async def cancel_stream(self, stream_id: int) -> None:
        """Cancels a streamed body the client will not read."""
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
