"""The framing between a server worker (the front) and its engine processes (see isolation.py).

One frame is a 4-byte big-endian length, then a `marshal`-encoded tuple whose first item
names the frame. marshal, not pickle: it decodes only plain values (dicts, lists, tuples,
bytes, str, numbers, None, bool), never objects, and it is the fastest codec in the stdlib.

Front -> engine: ("config", app) first; then ("start", rid, scope), ("recv", rid, message),
("acked", rid, error).
Engine -> front: ("ready", watched_files) or ("failed", message) once; then
("send", rid, message, wants_ack), ("pull", rid), ("done", rid, error).
`rid` numbers the requests multiplexed on the channel; `error` is None or a short text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import marshal
import struct
from pathlib import Path
from typing import Any

from ..engine.egress import EgressPolicy
from .config import AppConfig, AppLimits

_LENGTH = struct.Struct(">I")
# One frame is one ASGI message: a body chunk or a whole buffered body. Past this the other
# side is broken (or hostile), and the channel is treated as closed rather than buffered.
MAX_FRAME = 1 << 30
# ASGI scope keys a WorkerApp reads; the rest (Starlette's routing objects, lifespan state) stay home.
_SCOPE_KEYS = ("type", "asgi", "http_version", "method", "scheme", "path", "raw_path", "query_string",
               "root_path", "headers", "client", "server")


class ChannelClosed(Exception):
    """The other end of the channel is gone."""


def encode(*frame: Any) -> bytes:
    data = marshal.dumps(frame)
    return _LENGTH.pack(len(data)) + data


class FrameWriter:
    """Writes frames to the channel, those of one event-loop turn together: a plain response
    is three frames (status, body, done), and one write instead of three saves two system
    calls here and two wake-ups on the other side."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():  # once the other side is gone, frames have nowhere to go
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        data, self._pending = b"".join(self._pending), []
        if not self._writer.is_closing():
            self._writer.write(data)

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def close(self) -> None:
        if self._pending:
            self._flush()
        if not self._writer.is_closing():
            self._writer.close()

    async def drain(self) -> None:
        if self._pending:
            self._flush()
        await self._writer.drain()


async def read_frame(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    try:
        head = await reader.readexactly(_LENGTH.size)
        (length,) = _LENGTH.unpack(head)
        if length > MAX_FRAME:
            raise ChannelClosed(f"a frame of {length} bytes is larger than {MAX_FRAME}")
        return marshal.loads(await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ChannelClosed from None


def wire_scope(scope: Any) -> dict[str, Any]:
    """The plain-value part of an HTTP scope (headers as a list of pairs)."""
    wire = {key: scope[key] for key in _SCOPE_KEYS if key in scope}
    wire["headers"] = [(name, value) for name, value in scope["headers"]]
    for key in ("client", "server"):
        if wire.get(key) is not None:
            wire[key] = tuple(wire[key])
    return wire


def wire_app(config: AppConfig) -> dict[str, Any]:
    """An app's configuration as plain values (routes stay with the front, which routes)."""
    wire = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "routes"}
    wire["script"] = str(config.script)
    wire["root"] = None if config.root is None else str(config.root)
    wire["limits"] = dataclasses.asdict(config.limits)
    wire["egress"] = None if config.egress is None else _wire_egress(config.egress)
    return wire


def app_from_wire(wire: dict[str, Any]) -> AppConfig:
    root = None if wire["root"] is None else Path(wire["root"])
    egress = None if wire["egress"] is None else _egress_from_wire(wire["egress"])
    return AppConfig(**{**wire, "script": Path(wire["script"]), "root": root, "limits": AppLimits(**wire["limits"]),
                        "egress": egress})


def _wire_egress(policy: EgressPolicy) -> dict[str, Any]:
    """An egress policy as plain values: its networks as their text."""
    return {f.name: tuple(str(item) for item in value) if isinstance(value, tuple) else value
            for f in dataclasses.fields(policy) for value in (getattr(policy, f.name),)}


def _egress_from_wire(wire: dict[str, Any]) -> EgressPolicy:
    networks = {name: tuple(ipaddress.ip_network(text) for text in wire[name])
                for name in ("allow_networks", "deny_networks")}
    return EgressPolicy(**{**wire, **networks, "dns_servers": tuple(wire["dns_servers"])})
