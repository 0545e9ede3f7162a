"""Host operations: the I/O that JS asks the host for (see `native.hostOp` in ext/js/README.md).

The C++ core does no I/O. JS `fetch()` becomes a pending "fetch" operation whose payload is
`{method, url, headers, body, redirect}`; this module performs it with httpx and answers
`{status, statusText, headers, body, url}`, which resolves the JS promise.
"""

from __future__ import annotations

from typing import Any

import httpx

from .errors import Error

# A response body larger than this is refused: it would not fit an isolate anyway.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
TIMEOUT = httpx.Timeout(30.0)


class HostOpError(Error):
    """A host operation that JS asked for cannot be performed."""


def host_allowed(host: str, allowed: tuple[str, ...] | None) -> bool:
    """Whether outbound fetch may reach `host`: None allows any; "*.example.com" matches
    subdomains of example.com; other entries match exactly."""
    if allowed is None:
        return True
    host = host.lower().rstrip(".")
    return any(host == entry or (entry.startswith("*.") and host.endswith(entry[1:])) for entry in allowed)


def _request(client: httpx.Client | httpx.AsyncClient, payload: dict[str, Any],
             allowed_hosts: tuple[str, ...] | None = None) -> httpx.Request:
    url = payload.get("url", "")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise HostOpError(f"fetch supports only http: and https: URLs, not {url!r}")
    host = httpx.URL(url).host
    if not host_allowed(host, allowed_hosts):
        raise HostOpError(f"fetch to {host!r} is not allowed for this app (see outbound_hosts)")
    return client.build_request(payload.get("method", "GET"), url, headers=payload.get("headers") or [],
                                content=payload.get("body") or None)


def _answer(response: httpx.Response, body: bytes) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "statusText": response.reason_phrase,
        "headers": [[name, value] for name, value in response.headers.multi_items()],
        "body": body,
        "url": str(response.url),
    }


def _check_redirect(payload: dict[str, Any], response: httpx.Response) -> None:
    if response.is_redirect and payload.get("redirect") == "error":
        location = response.headers.get("location")
        raise HostOpError(f"fetch: redirect to {location!r} with redirect mode 'error'")


def _follow(payload: dict[str, Any]) -> bool:
    return payload.get("redirect", "follow") == "follow"


class AsyncHostOps:
    """Performs host operations for isolates served on an asyncio event loop.

    `allowed_hosts` limits where fetch may go (None: anywhere; see `host_allowed`).
    """

    def __init__(self, allowed_hosts: tuple[str, ...] | None = None) -> None:
        self.allowed_hosts = allowed_hosts
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, name: str, payload: Any) -> Any:
        if name != "fetch":
            raise HostOpError(f"unknown host operation {name!r}")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        request = _request(self._client, payload, self.allowed_hosts)
        response = await self._client.send(request, stream=True, follow_redirects=_follow(payload))
        try:
            _check_redirect(payload, response)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise HostOpError(f"fetch: response body larger than {MAX_RESPONSE_BYTES} bytes")
        finally:
            await response.aclose()
        return _answer(response, bytes(body))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def sync_host_ops(name: str, payload: Any) -> Any:
    """Performs host operations for the synchronous `Isolate` (used by `pyruntime run`)."""
    if name != "fetch":
        raise HostOpError(f"unknown host operation {name!r}")
    with httpx.Client(timeout=TIMEOUT) as client:
        request = _request(client, payload)
        response = client.send(request, stream=True, follow_redirects=_follow(payload))
        try:
            _check_redirect(payload, response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise HostOpError(f"fetch: response body larger than {MAX_RESPONSE_BYTES} bytes")
        finally:
            response.close()
        return _answer(response, bytes(body))
