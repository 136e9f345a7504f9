"""HTTP to one of several control-plane replicas: an httpx transport that moves on when one cannot be reached.

The client is built with the first replica's base URL; each request is sent to the replica in use, and a
request that could not even connect (refused, timed out connecting) is sent again to the next one, in the
order given. Only requests that never reached a server are retried, so any method is safe to resend.
The replica that answered stays in use for later requests.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence

import httpx

log = logging.getLogger(__name__)


class FailoverTransport(httpx.AsyncBaseTransport):
    """Sends each request to the current replica of ``base_urls``, the next one when it cannot connect."""

    def __init__(self, base_urls: Sequence[str], verify: ssl.SSLContext | bool) -> None:
        """Try ``base_urls`` in order, verifying TLS with ``verify``."""
        if not base_urls:
            raise ValueError("at least one control-plane address is needed")
        self._urls = [httpx.URL(u) for u in base_urls]
        self._index = 0
        self._inner = httpx.AsyncHTTPTransport(verify=verify)

    @property
    def current(self) -> str:
        """The base URL requests go to now."""
        return str(self._urls[self._index])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the current replica, or the next ones that can be reached."""
        body = await request.aread()
        error: httpx.TransportError | None = None
        for _ in self._urls:
            target = self._urls[self._index]
            url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
            headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
            attempt = httpx.Request(request.method, url, headers=headers, content=body, extensions=request.extensions)
            try:
                return await self._inner.handle_async_request(attempt)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = exc
                was = self._index
                self._index = (self._index + 1) % len(self._urls)
                if len(self._urls) > 1:
                    log.info("control plane %s unreachable (%s); trying %s", self._urls[was], exc, self.current)
        assert error is not None
        raise error

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._inner.aclose()
