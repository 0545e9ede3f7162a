"""`BodyBudget`: the request-body bytes one app holds at once in a worker process.

`max_body_mb` bounds one body, not how many arrive together: a client can send all but the
last byte of a body and wait out `body_timeout_s`, and thirty such clients of a 10 MB limit
had a worker hold 280 MB more (a hundred, past the process guard's bound, which ends the
worker with every app's requests). Past its budget an app refuses a request's body as it
arrives (503 with Retry-After) and lets its bytes go.
"""

from __future__ import annotations


class BodyBudget:
    """Counts the body bytes an app's requests hold; used from the event loop's thread only."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.held = 0

    def take(self, size: int) -> bool:
        """Counts `size` more bytes held, if they fit; False (nothing counted) if not."""
        if self.held + size > self.limit_bytes:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        """The bytes of a body (or a part) that is no longer held."""
        self.held -= size
