"""The agent's HTTP calls to the control plane, each with the agent's credential (httpx confined here).

Who am I, mint a workload credential (with an admin token), revoke it, sign a CSR, forward spans, and
the registration of the workload's WorkloadEntry (PUT / GET / DELETE). An ``https://`` control plane is
verified against the mesh root only.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

from mizzen.agent.errors import ControlPlaneCallError, CredentialError, RegistrationError
from mizzen.agent.failover import FailoverTransport

_GROUP_PATH = "/apis/networking.istio.io/v1/namespaces/{ns}/workloadentries/{name}"
_API = "/api/mizzen/v1"


@functools.cache
def plain_http_context() -> ssl.SSLContext:
    """The TLS context of every client that speaks plain HTTP only (Envoy's admin socket, probes, an
    ``http://`` control plane): no CA loaded, so an ``https`` URL fails closed; one per process.

    httpx loads the whole CA bundle into each client's (and each transport's) default context, ~0.7 MB
    kept for the client's life: three long-lived clients per workload paid ~2 MB for TLS they never use."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@functools.lru_cache(maxsize=8)
def mesh_root_context(roots: bytes) -> ssl.SSLContext:
    """A TLS client context trusting only the mesh root ``roots`` (PEM), shared by every client using it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=roots.decode("ascii"))
    return context


def tls_verify(base_url: str, roots: bytes | None) -> ssl.SSLContext:
    """An SSL context trusting only the mesh root for an ``https`` control plane (plain HTTP: one without CAs)."""
    if not base_url.startswith("https://"):
        return plain_http_context()
    if roots is None:
        raise CredentialError(
            f"the control plane at {base_url} uses TLS but no mesh root is available; copy its "
            "root-cert.pem here and set MIZZEN_ROOT_CERT (or put it in $MIZZEN_HOME/root-cert.pem)"
        )
    return mesh_root_context(roots)


class ControlPlaneClient:
    """One credential's HTTP client for the control plane's API."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        roots: bytes | None = None,
        timeout: float = 5.0,
        others: tuple[str, ...] = (),
    ) -> None:
        """A client for the API at the given address(es), authenticated with one credential."""
        self.base_url = base_url
        self._roots = roots
        self._others = others  # more replicas: requests move to them when the current one is unreachable
        verify = tls_verify(base_url, roots)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            trust_env=False,  # never route via the app's proxy
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
            transport=FailoverTransport((base_url, *others), verify) if others else None,
        )

    def with_token(self, token: str) -> ControlPlaneClient:
        """A client for the same control plane with another credential."""
        return ControlPlaneClient(self.base_url, token, roots=self._roots, others=self._others)

    # --- identity ---
    async def whoami(self) -> dict[str, Any]:
        """The credential this client holds, as the control plane sees it."""
        return await self._json("GET", f"{_API}/whoami", error=CredentialError)

    async def mint(self, type: str, name: str, namespace: str, service_account: str) -> dict[str, Any]:
        """A new auto credential for this workload (needs an admin token): ``{"token", "credential"}``."""
        body = {"type": type, "name": name, "namespace": namespace, "serviceAccount": service_account, "auto": True}
        return await self._json("POST", f"{_API}/tokens", json=body, error=CredentialError)

    async def revoke_self(self) -> None:
        """Revoke the credential this client holds (an agent's own auto credential, at exit)."""
        await self._json("DELETE", f"{_API}/tokens/self", error=CredentialError)

    async def sign(self, csr_pem: bytes, validity_s: float) -> dict[str, Any]:
        """A certificate for this credential's identity: ``{"certChain", "rootCerts", "notAfter", "identity"}``."""
        body = {"csr": csr_pem.decode("ascii"), "validitySeconds": validity_s}
        return await self._json("POST", f"{_API}/certificates", json=body, error=CredentialError)

    async def post_spans(self, body: bytes, content_type: str) -> int:
        """Forward a Zipkin span batch; returns the control plane's status code."""
        try:
            resp = await self._client.post("/api/v2/spans", content=body, headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            raise ControlPlaneCallError(f"POST {self.base_url}/api/v2/spans: {exc!r}") from exc
        return resp.status_code

    # --- registration ---
    async def register(self, entry: dict[str, Any]) -> None:
        """PUT the WorkloadEntry (create or replace)."""
        meta = entry["metadata"]
        await self._json("PUT", _GROUP_PATH.format(ns=meta["namespace"], name=meta["name"]), json=entry)

    async def ensure(self, entry: dict[str, Any]) -> bool:
        """Re-create the WorkloadEntry if it no longer exists; True when it had to."""
        meta = entry["metadata"]
        path = _GROUP_PATH.format(ns=meta["namespace"], name=meta["name"])
        try:
            resp = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise RegistrationError(f"GET {self.base_url}{path}: {exc!r}") from exc
        if resp.status_code == 404:
            await self.register(entry)
            return True
        if not resp.is_success:
            raise RegistrationError(f"GET {path}: HTTP {resp.status_code}: {_message(resp)}")
        return False

    async def deregister(self, namespace: str, name: str) -> None:
        """DELETE the WorkloadEntry (already gone is fine)."""
        await self._json("DELETE", _GROUP_PATH.format(ns=namespace, name=name), missing_ok=True)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        missing_ok: bool = False,
        error: type[ControlPlaneCallError] = RegistrationError,
    ) -> dict[str, Any]:
        try:
            resp = await self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise error(f"{method} {self.base_url}{path}: {exc!r}", unreachable=True) from exc
        if missing_ok and resp.status_code == 404:
            return {}
        if not resp.is_success:
            raise error(f"{method} {path}: HTTP {resp.status_code}: {_message(resp)}")
        body = resp.json() if resp.content else {}
        return body if isinstance(body, dict) else {}


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return resp.text[:300]
