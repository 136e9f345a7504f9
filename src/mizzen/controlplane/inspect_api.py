"""HTTP endpoints for inspecting the mesh: proxies and their sync status, generated config, Envoy admin.

Envoy's admin API stays on loopback next to each proxy; the control plane reaches it at the address
the agent reported in the node metadata (``MIZZEN_ADMIN``) and relays a small whitelist of read
endpoints (plus ``/logging`` for ``proxy-config log``). The CLI and the dashboard only ever talk to
the control plane.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import aiohttp
from aiohttp import web

from mizzen.controlplane import syncdiff
from mizzen.controlplane.mesh import MeshController, ProxyRecord, _proxy_json
from mizzen.xds import types as xt
from mizzen.xds.server import XdsServer

ADMIN_READ = frozenset({"config_dump", "clusters", "stats", "stats/prometheus", "server_info", "ready",
                        "listeners", "certs", "memory", "logging"})
ADMIN_WRITE = frozenset({"logging"})
INSTANCE = socket.gethostname()


def register(app: web.Application, mesh: MeshController, xds: XdsServer) -> None:
    """Add the inspection routes to the control plane's API application."""
    h = _Handlers(mesh, xds)
    app.router.add_get("/api/mizzen/v1/proxies", h.list_proxies)
    app.router.add_get("/api/mizzen/v1/proxies/{proxy}", h.get_proxy)
    app.router.add_get("/api/mizzen/v1/proxies/{proxy}/config", h.generated_config)
    app.router.add_route("*", "/api/mizzen/v1/proxies/{proxy}/admin/{path:.*}", h.admin)
    app.router.add_get("/api/mizzen/v1/proxies/{proxy}/syncdiff", h.sync_diff)
    app.router.add_get("/api/mizzen/v1/workloads", h.workloads)


class _Handlers:
    def __init__(self, mesh: MeshController, xds: XdsServer) -> None:
        self.mesh = mesh
        self.xds = xds

    def _status_by_node(self) -> dict[str, Any]:
        return {s.node_id: s for s in self.xds.status()}

    def _proxy_view(self, rec: ProxyRecord, statuses: dict[str, Any]) -> dict[str, Any]:
        view = _proxy_json(rec)
        view["namespace"] = rec.proxy.namespace
        view["name"] = rec.proxy.name
        view["labels"] = dict(rec.proxy.labels)
        view["controlPlane"] = INSTANCE
        st = statuses.get(rec.node.node_id)
        snap = self.mesh.cache.get(rec.node.node_id)
        types: dict[str, Any] = {}
        for type_url in (xt.CLUSTER, xt.LISTENER, xt.ENDPOINT, xt.ROUTE, xt.SECRET):
            ts = st.type(type_url) if st is not None else None
            short = xt.SHORT_NAMES[type_url]
            if ts is None:
                types[short] = {"status": "NOT SENT" if st is not None else "DISCONNECTED"}
                continue
            types[short] = {
                "status": ts.status, "nonceSent": ts.nonce_sent, "nonceAcked": ts.nonce_acked,
                "versionSent": ts.version_sent, "versionAcked": ts.version_acked,
                "lastError": ts.last_error, "lastErrorTime": ts.last_error_time,
                "lastSentTime": ts.last_sent_time,
                "snapshotVersion": snap.version(type_url) if snap is not None and snap.has(type_url) else "",
            }
        view["xds"] = types
        return view

    async def list_proxies(self, request: web.Request) -> web.Response:
        ns = request.query.get("namespace")
        statuses = self._status_by_node()
        rows = [self._proxy_view(rec, statuses) for rec in self.mesh.proxies.values()
                if rec.connected and (not ns or rec.proxy.namespace == ns)]
        rows.sort(key=lambda r: r["id"])
        return web.json_response({"items": rows, "revision": self.mesh.revision,
                                  "pushedRevision": self.mesh.pushed_revision,
                                  "converged": self.mesh.converged})

    def _find(self, request: web.Request) -> ProxyRecord:
        rec = self.mesh.proxy_by_id(request.match_info["proxy"])
        if rec is None or not rec.connected:
            raise web.HTTPNotFound(text=json.dumps(_status(404, "NotFound",
                                   f'proxy "{request.match_info["proxy"]}" is not connected')),
                                   content_type="application/json")
        return rec

    async def get_proxy(self, request: web.Request) -> web.Response:
        rec = self._find(request)
        return web.json_response(self._proxy_view(rec, self._status_by_node()))

    async def generated_config(self, request: web.Request) -> web.Response:
        """What the control plane computed for this proxy (the "Istiod" side of proxy-status diffs)."""
        rec = self._find(request)
        out = rec.last_output
        if out is None:
            return web.json_response({"clusters": {}, "endpoints": {}, "listeners": {}, "routes": {},
                                      "secrets": {}})
        return web.json_response({
            "clusters": out.clusters, "endpoints": out.endpoints, "listeners": out.listeners,
            "routes": out.routes, "secrets": {k: _redact_secret(v) for k, v in out.secrets.items()},
        })

    async def admin(self, request: web.Request) -> web.Response:
        rec = self._find(request)
        path = request.match_info["path"].strip("/")
        allowed = ADMIN_WRITE if request.method == "POST" else ADMIN_READ
        if request.method not in ("GET", "POST") or path not in allowed:
            raise web.HTTPForbidden(text=json.dumps(_status(403, "Forbidden",
                                    f"admin endpoint {request.method} /{path} is not exposed")),
                                    content_type="application/json")
        admin = str(rec.node.metadata.get("MIZZEN_ADMIN", ""))
        if not admin:
            raise web.HTTPServiceUnavailable(text=json.dumps(_status(503, "ServiceUnavailable",
                                             "the proxy did not report an admin address")),
                                             content_type="application/json")
        url = f"http://{admin}/{path}"
        timeout = aiohttp.ClientTimeout(total=30)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.request(request.method, url, params=request.query) as resp:
                body = await resp.read()
                return web.Response(body=body, status=resp.status,
                                    content_type=resp.content_type or "text/plain")
        except aiohttp.ClientError as exc:
            raise web.HTTPBadGateway(text=json.dumps(_status(502, "BadGateway",
                                     f"cannot reach Envoy admin at {admin}: {exc}")),
                                     content_type="application/json") from exc

    async def sync_diff(self, request: web.Request) -> web.Response:
        """Compare the generated config with the proxy's live ``/config_dump`` (``proxy-status <proxy>``)."""
        rec = self._find(request)
        dump = json.loads(await self._admin_get(rec, "config_dump"))
        out = rec.last_output
        expected = {"clusters": dict(out.clusters), "listeners": dict(out.listeners),
                    "routes": dict(out.routes)} if out else {}
        sections = syncdiff.compare(expected, dump)
        return web.json_response({"proxy": rec.proxy.id, "sections": [s.to_json() for s in sections]})

    async def _admin_get(self, rec: ProxyRecord, path: str) -> bytes:
        admin = str(rec.node.metadata.get("MIZZEN_ADMIN", ""))
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session, \
                    session.get(f"http://{admin}/{path}") as resp:
                return await resp.read()
        except aiohttp.ClientError as exc:
            raise web.HTTPBadGateway(text=json.dumps(_status(502, "BadGateway",
                                     f"cannot reach Envoy admin at {admin}: {exc}")),
                                     content_type="application/json") from exc

    async def workloads(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.mesh.workloads()})


def _redact_secret(secret: Any) -> Any:
    text = json.dumps(secret)
    if "private_key" not in text:
        return secret
    data = json.loads(text)
    tls = data.get("tls_certificate", {})
    if "private_key" in tls:
        tls["private_key"] = {"inline_string": "[redacted]"}
    return data


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "message": message, "code": code}
