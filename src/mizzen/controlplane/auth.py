"""Bearer-token authentication for the HTTP API.

Every request needs ``Authorization: Bearer <token>`` except the health probes and any path a
component declares public (the dashboard's static files, for instance). The comparison is constant
time so the token cannot be guessed byte by byte.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from mizzen.controlplane.api import status_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC_PATHS: frozenset[str] = frozenset({"/healthz", "/readyz"})


class Authenticator:
    """Checks the bearer token; ``public_paths``/``public_prefixes`` may be extended before start."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.public_paths: set[str] = set(PUBLIC_PATHS)
        self.public_prefixes: list[str] = []
        # Extra places a token may come from (the dashboard's HttpOnly cookie). They are accepted for
        # reads only, so a page elsewhere cannot make the browser change config (no CSRF writes).
        self.read_token_sources: list[Callable[[web.Request], str | None]] = []

    def _read_token_ok(self, request: web.Request) -> bool:
        if request.method not in ("GET", "HEAD"):
            return False
        for source in self.read_token_sources:
            given = source(request)
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return True
        return False

    def is_public(self, path: str) -> bool:
        return path in self.public_paths or any(path.startswith(p) for p in self.public_prefixes)

    def allowed(self, header: str | None) -> bool:
        """True when ``header`` is ``Bearer <the token>``."""
        if not header:
            return False
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self.token.encode())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            self.is_public(request.path)
            or self.allowed(request.headers.get("Authorization"))
            or self._read_token_ok(request)
        ):
            return await handler(request)
        if not request.headers.get("Authorization"):
            message = "Unauthorized: this API needs 'Authorization: Bearer <token>' (see $MIZZEN_HOME/token)"
        else:
            message = "Unauthorized: the bearer token is not valid for this control plane"
        response = status_response(401, "Unauthorized", message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="mizzen"'
        return response
