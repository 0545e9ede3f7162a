"""A DNS server on loopback (UDP) for the lookup tests: it answers the names it is given an
IPv4 address for (A records; AAAA queries get no answer, others NXDOMAIN), and, while `held`,
keeps every query unanswered until `release()`, as a domain whose servers stall would."""

from __future__ import annotations

import socket
import struct
import threading
import time


class LoopbackDns:
    def __init__(self, answers: dict[str, str] | None = None, held: bool = False, port: int = 0) -> None:
        self.answers = {name.lower(): address for name, address in (answers or {}).items()}
        self.held = held
        self.names: list[str] = []  # every query's name, in arrival order
        self._waiting: list[tuple[bytes, tuple[str, int]]] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", port))
        self._sock.settimeout(0.05)  # so that `close` ends the thread soon
        self._closed = False
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                query, client = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            name, _, _ = _question(query)
            with self._lock:
                self.names.append(name)
                if self.held:
                    self._waiting.append((query, client))
                    continue
            self._answer(query, client)

    def _answer(self, query: bytes, client: tuple[str, int]) -> None:
        name, kind, end = _question(query)
        address = self.answers.get(name)
        records = b""
        count = 0
        if address is not None and kind == 1:
            records = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
            count = 1
        code = 0 if address is not None else 3
        head = query[:2] + struct.pack("!HHHHH", 0x8180 | code, 1, count, 0, 0)
        try:
            self._sock.sendto(head + query[12:end] + records, client)
        except OSError:
            pass

    def distinct(self) -> set[str]:
        with self._lock:
            return set(self.names)

    def wait_for(self, count: int, timeout_s: float = 60.0) -> None:
        """Until `count` distinct names have been asked (or AssertionError)."""
        deadline = time.monotonic() + timeout_s
        while len(self.distinct()) < count:
            assert time.monotonic() < deadline, f"{len(self.distinct())} names asked, expected {count}"
            time.sleep(0.02)

    def release(self) -> None:
        """Answers what waits, and every query from now on."""
        with self._lock:
            self.held = False
            waiting, self._waiting = self._waiting, []
        for query, client in waiting:
            self._answer(query, client)

    def close(self) -> None:
        self._closed = True
        self._thread.join(5)
        self._sock.close()


def _question(query: bytes) -> tuple[str, int, int]:
    """The query's name, type and where its question ends."""
    at = 12
    labels = []
    while at < len(query) and query[at]:
        length = query[at]
        labels.append(query[at + 1:at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    kind = struct.unpack("!H", query[at + 1:at + 3])[0] if at + 3 <= len(query) else 0
    return ".".join(labels).lower(), kind, at + 5
