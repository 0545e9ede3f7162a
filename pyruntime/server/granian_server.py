"""`serve --server granian`: the same server app on Granian, a Rust HTTP server, instead of Hypercorn.

Granian parses HTTP in Rust and hands Python one call per request, which costs far less
CPU per request than Hypercorn's pure-Python protocol. It runs embedded in this process's
event loop, serving on the listening socket the supervisor passed down (`--listen-channel`), so
supervision, routing, limits, logs and metrics are those of the Hypercorn server.
"""

from __future__ import annotations

import asyncio
import logging

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.net import SocketHolder
from granian.server.embed import Server as EmbeddedGranian

from .asgi import HEAD_TIMEOUT_S, ServerApp, run_server
from .config import ServerConfig
from .js_pass import JsPass
from .logs import JsonLogger, stdlib_logger
from .supervisor import ServingSocket


class _InheritedSocketGranian(EmbeddedGranian):
    """Embedded Granian serving on an already listening socket instead of binding its own."""

    def __init__(self, *args: object, listen_fd: int | None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._listen_fd = listen_fd

    def _init_shared_socket(self) -> None:
        if self._listen_fd is None:
            super()._init_shared_socket()
            return
        self._ssp, self._shd = None, SocketHolder(self._listen_fd, False, self.backlog)


def serve(config: ServerConfig, *, reload: bool = False, listen_channel: int | None = None,
          logger: JsonLogger | None = None, run_crons: bool = True) -> None:
    """Runs the server on Granian until SIGTERM or SIGINT, then drains in-flight requests and returns."""
    async def on_granian(app: ServerApp, serving: ServingSocket | None, stop: asyncio.Event, log: JsonLogger) -> None:
        app.js_pass = JsPass(asyncio.get_running_loop())
        server = _InheritedSocketGranian(app, address=config.host, port=config.port, interface=Interfaces.ASGI,
                                         http=HTTPModes.auto, websockets=False, backlog=1024, log_access=False,
                                         http1_settings=HTTP1Settings(header_read_timeout=int(HEAD_TIMEOUT_S * 1000)),
                                         listen_fd=None if serving is None else serving.fd)
        # Granian configured stdlib logging in its constructor: its own messages go to the JSON
        # log, errors only (it announces every worker spawn and that embedding is experimental).
        stdlib_logger("_granian", log).setLevel(logging.ERROR)
        stopper = asyncio.ensure_future(stop.wait())
        stopper.add_done_callback(lambda waited: waited.cancelled() or server.stop())
        try:
            await server.serve()
        finally:
            stopper.cancel()

    run_server(config, on_granian, fast=True, reload=reload, listen_channel=listen_channel, logger=logger,
               run_crons=run_crons)
