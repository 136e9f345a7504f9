"""HTTP endpoints of the identity layer: who am I, credentials (admin only), workload certificates.

::

    GET    /api/mizzen/v1/whoami              the caller's credential (any credential)
    POST   /api/mizzen/v1/tokens              mint {type, name, namespace, serviceAccount, ttlSeconds, auto}
    GET    /api/mizzen/v1/tokens              every credential (never a token or hash)
    DELETE /api/mizzen/v1/tokens/{id}         revoke (``self``: the caller's own credential)
    POST   /api/mizzen/v1/certificates        sign {csr, validitySeconds} for the caller's identity

It also provides the WorkloadEntry write guard: a workload credential's entry must carry its own service
account and is stamped with the SPIFFE ID that registered it (annotation ``mizzen.io/identity``).
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from aiohttp import web

from mizzen.config.resource import Resource
from mizzen.controlplane.api import ApiError, ConfigApi
from mizzen.controlplane.auth import credential_of
from mizzen.controlplane.identity import Identity
from mizzen.hostaddr import is_loopback
from mizzen.security.credentials import TYPES, Credential
from mizzen.security.errors import CertificateError, CsrIdentityError, IdentityError
from mizzen.security.scope import entry_problem
from mizzen.security.spiffe import SpiffeId
from mizzen.store.errors import NotFound

IDENTITY_ANNOTATION = "mizzen.io/identity"
_BASE = "/api/mizzen/v1"


def register(app: web.Application, config_api: ConfigApi, identity: Identity) -> None:
    """Add the identity routes and install the WorkloadEntry write guard."""
    h = _Handlers(identity)
    app.router.add_get(f"{_BASE}/whoami", h.whoami)
    app.router.add_post(f"{_BASE}/tokens", h.create_token)
    app.router.add_get(f"{_BASE}/tokens", h.list_tokens)
    app.router.add_delete(f"{_BASE}/tokens/{{id}}", h.revoke_token)
    app.router.add_post(f"{_BASE}/certificates", h.sign)
    config_api.write_guard = h.guard_write


def credential_view(cred: Credential, trust_domain: str) -> dict[str, Any]:
    """What the API shows of a credential (no salt, no hash)."""
    identity = cred.identity(trust_domain)
    return {
        "id": cred.id,
        "type": cred.type,
        "name": cred.name,
        "namespace": cred.namespace,
        "serviceAccount": cred.service_account,
        "identity": identity.uri if identity else "",
        "created": _stamp(cred.created),
        "expires": _stamp(cred.expires) if cred.expires is not None else None,
        "revoked": cred.revoked,
        "auto": cred.auto,
    }


class _Handlers:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.index = identity.credentials

    def _view(self, cred: Credential) -> dict[str, Any]:
        return credential_view(cred, self.identity.trust_domain)

    async def whoami(self, request: web.Request) -> web.Response:
        return web.json_response(self._view(credential_of(request)))

    async def create_token(self, request: web.Request) -> web.Response:
        _admin_only(request, "create credentials")
        body = await _body(request)
        kind = str(body.get("type", ""))
        if kind not in TYPES:
            raise ApiError(400, "BadRequest", f"type must be one of {', '.join(TYPES)}, not {kind!r}")
        ttl = body.get("ttlSeconds")
        if ttl is not None and (not isinstance(ttl, int | float) or ttl <= 0):
            raise ApiError(400, "BadRequest", "ttlSeconds must be a positive number")
        try:
            minted = await asyncio.to_thread(
                self.index.create,
                kind,  # checked against TYPES above
                str(body.get("name", "")),
                str(body.get("namespace", "")),
                str(body.get("serviceAccount", "")),
                ttl=float(ttl) if ttl is not None else None,
                auto=bool(body.get("auto", False)),
            )
        except IdentityError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        return web.json_response({"token": minted.token, "credential": self._view(minted.credential)}, status=201)

    async def list_tokens(self, request: web.Request) -> web.Response:
        _admin_only(request, "list credentials")
        return web.json_response({"items": [self._view(c) for c in self.index.all()]})

    async def revoke_token(self, request: web.Request) -> web.Response:
        caller = credential_of(request)
        wanted = request.match_info["id"]
        cred_id = caller.id if wanted == "self" else wanted
        if cred_id != caller.id:
            _admin_only(request, "revoke other credentials")
        try:
            revoked = await asyncio.to_thread(self.index.revoke, cred_id)
        except NotFound as exc:
            raise ApiError(404, "NotFound", f'credential "{cred_id}" not found (mizzen token list)') from exc
        return web.json_response(self._view(revoked))

    async def sign(self, request: web.Request) -> web.Response:
        caller = credential_of(request)
        body = await _body(request)
        csr = body.get("csr")
        if not isinstance(csr, str) or not csr.strip():
            raise ApiError(400, "BadRequest", 'the body must be {"csr": "<PEM>", "validitySeconds": N}')
        identity = self.identity.identity_of(caller) or _requested_identity(body, self.identity.trust_domain)
        validity = body.get("validitySeconds")
        if validity is not None and (not isinstance(validity, int | float) or validity <= 0):
            raise ApiError(400, "BadRequest", "validitySeconds must be a positive number")
        ttl = datetime.timedelta(seconds=float(validity)) if validity is not None else None
        try:
            issued = await asyncio.to_thread(self.identity.sign, csr.encode(), identity, ttl)
        except CsrIdentityError as exc:
            raise ApiError(403, "Forbidden", str(exc)) from exc
        except CertificateError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        return web.json_response(
            {
                "identity": identity.uri,
                "certChain": [c.decode() for c in issued.chain],
                "rootCerts": [self.identity.ca.roots_pem.decode()],
                "notAfter": issued.not_after.isoformat(),
            }
        )

    def guard_write(self, request: web.Request, resource: Resource) -> Resource:
        """A workload credential writes only its own WorkloadEntry, with its own service account; stamp it."""
        cred = credential_of(request)
        if cred.is_admin:
            return resource
        sa = resource.spec.get("serviceAccount")
        problem = entry_problem(cred, resource.namespace, resource.name, str(sa) if sa is not None else "")
        if resource.kind != "WorkloadEntry":
            problem = f"{cred.describe()} may not write {resource.kind} objects"
        if problem is not None:
            raise ApiError(403, "Forbidden", problem)
        _check_routable(request, str(resource.spec.get("address") or ""))
        identity = self.identity.identity_of(cred)
        annotations = {**resource.metadata.annotations, IDENTITY_ANNOTATION: identity.uri if identity else ""}
        return resource.with_metadata(annotations=annotations)


def _check_routable(request: web.Request, address: str) -> None:
    """An agent on another host may not register a loopback endpoint: no peer could reach it."""
    peer = request.remote or ""
    if address and is_loopback(address) and peer and not is_loopback(peer):
        raise ApiError(
            400,
            "BadRequest",
            f"spec.address {address} is a loopback address, but this agent connects from {peer}: no other host "
            "can reach it there; register the host's own address (mizzen run without --address uses it)",
        )


def _admin_only(request: web.Request, what: str) -> None:
    cred = credential_of(request)
    if not cred.is_admin:
        raise ApiError(403, "Forbidden", f"{cred.describe()} may not {what}; an admin credential may")


def _requested_identity(body: dict[str, Any], trust_domain: str) -> SpiffeId:
    """The identity an admin asks a certificate for (it must be in this mesh's trust domain)."""
    raw = body.get("identity")
    if not isinstance(raw, str):
        raise ApiError(400, "BadRequest", "an admin credential must name the identity to sign for (identity)")
    try:
        identity = SpiffeId.parse(raw)
    except IdentityError as exc:
        raise ApiError(400, "BadRequest", str(exc)) from exc
    if identity.trust_domain != trust_domain:
        raise ApiError(403, "Forbidden", f"{raw} is not in this mesh's trust domain {trust_domain!r}")
    return identity


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    return body


def _stamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
