"""Registering a workload with the control plane: PUT/DELETE of its WorkloadEntry over the REST API.

The only module of the agent that speaks HTTP to the control plane (httpx confined here).
"""

from __future__ import annotations

from typing import Any

import httpx

from mizzen.agent.errors import RegistrationError

_GROUP_PATH = "/apis/networking.istio.io/v1/namespaces/{ns}/workloadentries/{name}"


class RegistrationClient:
    """Creates-or-replaces and deletes one WorkloadEntry through the control plane's API."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            trust_env=False,  # never route via the app's proxy
            headers={"Authorization": f"Bearer {token}"},
        )

    async def register(self, entry: dict[str, Any]) -> None:
        """PUT the WorkloadEntry (create or replace)."""
        meta = entry["metadata"]
        await self._call("PUT", _GROUP_PATH.format(ns=meta["namespace"], name=meta["name"]), json=entry)

    async def ensure(self, entry: dict[str, Any]) -> bool:
        """Re-create the WorkloadEntry if it no longer exists; True when it had to."""
        meta = entry["metadata"]
        path = _GROUP_PATH.format(ns=meta["namespace"], name=meta["name"])
        try:
            resp = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise RegistrationError(f"GET {self._client.base_url}{path}: {exc!r}") from exc
        if resp.status_code == 404:
            await self.register(entry)
            return True
        if not resp.is_success:
            raise RegistrationError(f"GET {path}: HTTP {resp.status_code}: {_message(resp)}")
        return False

    async def deregister(self, namespace: str, name: str) -> None:
        """DELETE the WorkloadEntry (already gone is fine)."""
        await self._call("DELETE", _GROUP_PATH.format(ns=namespace, name=name), missing_ok=True)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _call(self, method: str, path: str, *, json: Any = None, missing_ok: bool = False) -> None:
        try:
            resp = await self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise RegistrationError(f"{method} {self._client.base_url}{path}: {exc!r}") from exc
        if resp.is_success or (missing_ok and resp.status_code == 404):
            return
        raise RegistrationError(f"{method} {path}: HTTP {resp.status_code}: {_message(resp)}")


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return resp.text[:300]
