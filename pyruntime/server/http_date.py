"""The Date header (RFC 9110 6.6.1), formatted once a second.

Every response carries exactly one Date: the app's when it gave one (a Worker passing on an
upstream's response keeps the upstream's, as an intermediary does), else the server's.
"""

from __future__ import annotations

import time


class HttpDate:
    """The current Date value, and its header line for servers that write heads themselves."""

    def __init__(self) -> None:
        self._second = 0
        self._value = b""
        self._line = b""

    def value(self) -> bytes:
        if int(time.time()) != self._second:
            self._format()
        return self._value

    def line(self) -> bytes:
        if int(time.time()) != self._second:
            self._format()
        return self._line

    def _format(self) -> None:
        second = self._second = int(time.time())
        self._value = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(second)).encode()
        self._line = b"date: " + self._value + b"\r\n"
