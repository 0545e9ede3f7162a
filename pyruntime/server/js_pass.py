"""The JS pass on ASGI servers: the bodyless requests that Hypercorn or Granian hand over in
one pass of the event loop run their JS one after another, then each task answers its own.

Why: V8's code and data stay in the CPU's caches from one request to the next instead of
being evicted by the server's Python around each (see app.Begun). h1 gathers its requests
itself (h1_server.H1Server._js_pass); an ASGI server starts one task per request, so here
each task waits for the pass, at the price of one more trip through the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .app import Begun, Head, WorkerApp

# Requests whose JS one pass runs at most: the first answer of a pass waits for the JS of the
# others, so the rest wait for the next pass, after the loop's I/O.
JS_PASS_MAX = 32

Scope = dict[str, Any]


class JsPass:
    """Requests waiting for the next JS pass of `loop` (the server's), each with the future
    its task awaits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: list[tuple[WorkerApp, Scope, Head, asyncio.Future[Begun | None]]] = []

    async def begin(self, app: WorkerApp, scope: Scope, head: Head) -> Begun | None:
        """The bodyless request begun in the next pass (`WorkerApp.begin_pass`), or None when
        it could not be (no idle isolate): then it is the app's ASGI call."""
        if not self._waiting:
            self._loop.call_soon(self._run)
        future: asyncio.Future[Begun | None] = self._loop.create_future()
        self._waiting.append((app, scope, head, future))
        try:
            return await future
        except asyncio.CancelledError:
            # Cancelled after its pass began it: the request ends here, its isolate given back.
            if future.done() and not future.cancelled() and future.exception() is None:
                begun = future.result()
                if begun is not None:
                    begun.abandon()
            raise

    def _run(self) -> None:
        waiting, self._waiting = self._waiting[:JS_PASS_MAX], self._waiting[JS_PASS_MAX:]
        if self._waiting:
            self._loop.call_soon(self._run)
        by_app: dict[WorkerApp, list[tuple[Scope, Head, asyncio.Future[Begun | None]]]] = {}
        for app, scope, head, future in waiting:
            if not future.cancelled():  # its task was cancelled before the pass: nothing to begin
                by_app.setdefault(app, []).append((scope, head, future))
        for app, requests in by_app.items():
            try:
                begun = app.begin_pass([(scope, None, head) for scope, head, _ in requests])
            except Exception as exc:  # a bug of ours: raised in each of these requests' tasks
                begun = [exc] * len(requests)
            for (_, _, future), state in zip(requests, begun, strict=True):
                if isinstance(state, Exception):
                    future.set_exception(state)
                else:
                    future.set_result(state)
