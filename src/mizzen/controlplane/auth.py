"""Authentication and authorization for the HTTP API.

Every request needs ``Authorization: Bearer <credential>`` except the health probes and the paths a
component declares public (the dashboard's static files, for instance); a dashboard session cookie is
accepted in its place for reads. The credential found is stored on the request (:func:`credential_of`).

An admin credential may use the whole API. A workload or gateway credential may only use the few routes
an agent needs (:data:`AGENT_ROUTES`), and the handlers check the rest (its own WorkloadEntry, its own
certificate); anything else is 403 with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from mizzen.controlplane.api import status_response
from mizzen.controlplane.credentials import CredentialIndex, Unauthenticated
from mizzen.security.credentials import Credential
from mizzen.security.scope import entry_problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SessionLookup = Callable[[web.Request], Credential | None]

PUBLIC_PATHS: frozenset[str] = frozenset({"/healthz", "/readyz"})
CREDENTIAL_KEY = "mizzen.credential"
_WORKLOAD_ENTRY = re.compile(r"^/apis/networking\.istio\.io/[^/]+/namespaces/([^/]+)/workloadentries/([^/]+)$")

# (method, exact path or pattern) an agent's own credential may reach; handlers narrow them further.
AGENT_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/api/mizzen/v1/whoami"),
    ("GET", "/api/mizzen/v1/controlplane"),
    ("POST", "/api/mizzen/v1/certificates"),
    ("POST", "/api/v2/spans"),
    ("DELETE", "/api/mizzen/v1/tokens/self"),
)


def credential_of(request: web.Request) -> Credential:
    """The credential that authenticated ``request`` (set by the middleware before any handler runs)."""
    cred: Credential = request[CREDENTIAL_KEY]
    return cred


def agent_problem(cred: Credential, method: str, path: str) -> str | None:
    """Why a workload or gateway credential may not call ``method path`` (None = allowed to proceed)."""
    if (method, path) in AGENT_ROUTES:
        return None
    entry = _WORKLOAD_ENTRY.match(path)
    if entry is not None and method in ("GET", "PUT", "DELETE"):
        return entry_problem(cred, entry.group(1), entry.group(2))
    return (
        f"{cred.describe()} may not {method} {path}: it may only register its own WorkloadEntry, "
        "request its own certificate and send its telemetry"
    )


class Authenticator:
    """Checks credentials; ``public_paths``/``public_prefixes``/``session_lookups`` may be extended before start."""

    def __init__(self, credentials: CredentialIndex) -> None:
        self.credentials = credentials
        self.public_paths: set[str] = set(PUBLIC_PATHS)
        self.public_prefixes: list[str] = []
        # Dashboard sessions (HttpOnly cookie). Accepted for reads only, so a page elsewhere cannot make
        # the browser change config (no CSRF writes).
        self.session_lookups: list[SessionLookup] = []

    def is_public(self, path: str) -> bool:
        """Whether ``path`` is served without a credential (health checks, and what the dashboard adds)."""
        return path in self.public_paths or any(path.startswith(p) for p in self.public_prefixes)

    def _session(self, request: web.Request) -> Credential | None:
        if request.method not in ("GET", "HEAD"):
            return None
        for lookup in self.session_lookups:
            cred = lookup(request)
            if cred is not None:
                return cred
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate every non-public request (bearer token, or a dashboard session for reads); a workload's
        credential reaches only its own routes (403 otherwise)."""
        if self.is_public(request.path):
            return await handler(request)
        header = request.headers.get("Authorization")
        cred = self._session(request) if not header else None
        if cred is None:
            try:
                cred = self.credentials.authenticate(_bearer(header))
            except Unauthenticated as exc:
                return _unauthorized(header, str(exc))
        if not cred.is_admin:
            problem = agent_problem(cred, request.method, request.path)
            if problem is not None:
                return status_response(403, "Forbidden", problem)
        request[CREDENTIAL_KEY] = cred
        return await handler(request)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, given = header.partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def _unauthorized(header: str | None, reason: str) -> web.Response:
    if not header:
        message = "Unauthorized: this API needs 'Authorization: Bearer <token>' (see $MIZZEN_HOME/token)"
    else:
        message = f"Unauthorized: {reason}"
    response = status_response(401, "Unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="mizzen"'
    return response
