"""HTTP endpoints for inspecting the mesh: proxies and their sync status, generated config, Envoy admin.

Envoy's admin API listens only on a 0600 UNIX socket next to each proxy; the control plane reaches it
through that proxy's agent channel (:mod:`mizzen.controlplane.agent_channel`), for a small whitelist of
read endpoints (plus ``/logging`` for ``proxy-config log``), and never at an address: nothing a node
declares (its ``MIZZEN_ADMIN`` metadata included) can aim the relay elsewhere. The CLI and the dashboard
only ever talk to the control plane.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from mizzen.channel import LOG_KINDS, LOGS_PREFIX
from mizzen.controlplane import syncdiff
from mizzen.controlplane.agent_channel import AgentChannels, ChannelUnavailable
from mizzen.controlplane.api import ApiError
from mizzen.controlplane.mesh import MeshController
from mizzen.controlplane.proxies import ProxyRecord, proxy_json
from mizzen.security.scope import admin_call_problem
from mizzen.xds import Snapshot
from mizzen.xds import types as xt
from mizzen.xds.server import XdsServer

INSTANCE = socket.gethostname()

RemoteProxies = Callable[[], list[dict[str, Any]]]


def register(
    app: web.Application,
    mesh: MeshController,
    xds: XdsServer,
    channels: AgentChannels,
    *,
    remote: RemoteProxies = list,
    instance: Callable[[], str] = lambda: INSTANCE,
) -> Callable[[], list[dict[str, Any]]]:
    """Add the inspection routes; return the function listing this replica's connected proxies' views.

    ``remote`` lists the proxies other replicas of a shared store serve (each view names its replica in
    ``controlPlane``): the proxy list shows them too, so ``proxy-status`` works from any replica.
    """
    h = _Handlers(mesh, xds, channels, remote, instance)
    app.router.add_get("/api/mizzen/v1/proxies", h.list_proxies)
    app.router.add_get("/api/mizzen/v1/proxies/{proxy}", h.get_proxy)
    app.router.add_get("/api/mizzen/v1/proxies/{proxy}/config", h.generated_config)
    app.router.add_route("*", "/api/mizzen/v1/proxies/{proxy}/admin/{path:.*}", h.admin)
    app.router.add_get("/api/mizzen/v1/proxies/{proxy}/logs/{kind}", h.logs)
    app.router.add_get("/api/mizzen/v1/proxies/{proxy}/syncdiff", h.sync_diff)
    app.router.add_get("/api/mizzen/v1/workloads", h.workloads)
    return h.local_views


class _Handlers:
    def __init__(
        self,
        mesh: MeshController,
        xds: XdsServer,
        channels: AgentChannels,
        remote: RemoteProxies,
        instance: Callable[[], str],
    ) -> None:
        self.mesh = mesh
        self.xds = xds
        self.channels = channels
        self.remote = remote
        self.instance = instance

    def _status_by_node(self) -> dict[str, Any]:
        return {s.node_id: s for s in self.xds.status()}

    def _proxy_view(self, rec: ProxyRecord, statuses: dict[str, Any]) -> dict[str, Any]:
        view = proxy_json(rec)
        view["namespace"] = rec.proxy.namespace
        view["name"] = rec.proxy.name
        view["labels"] = dict(rec.proxy.labels)
        view["bindAddress"] = rec.proxy.bind_address
        view["controlPlane"] = self.instance()
        st = statuses.get(rec.node.node_id)
        view["connectedSince"] = st.connected_since if st is not None else None  # this ADS stream's start
        # The host the proxy's agent connects from (its xDS stream's peer), else its node's address.
        view["host"] = peer_host(st.peer) if st is not None and st.peer else rec.proxy.ip
        view["agentChannel"] = self.channels.connected(rec.proxy.id)
        snap = self.mesh.cache.get(rec.node.node_id)
        # Only named types compare resources (see _current); wildcard ones compare versions.
        acked = self.xds.sent_resources(rec.node.node_id, acked=True, type_urls=_NAMED_TYPES)
        types: dict[str, Any] = {}
        for type_url in (xt.CLUSTER, xt.LISTENER, xt.ENDPOINT, xt.ROUTE, xt.SECRET):
            ts = st.type(type_url) if st is not None else None
            short = xt.SHORT_NAMES[type_url]
            if ts is None:
                types[short] = {"status": "NOT SENT" if st is not None else "DISCONNECTED"}
                continue
            types[short] = {
                "status": ts.status,
                "nonceSent": ts.nonce_sent,
                "nonceAcked": ts.nonce_acked,
                "versionSent": ts.version_sent,
                "versionAcked": ts.version_acked,
                "lastError": ts.last_error,
                "lastErrorTime": ts.last_error_time,
                "lastSentTime": ts.last_sent_time,
                "snapshotVersion": snap.version(type_url) if snap is not None and snap.has(type_url) else "",
                "current": _current(ts, snap, acked.get(type_url, {})),
                "lastAckTime": rec.acked_at.get(type_url, ("", None))[1],
            }
        view["xds"] = types
        return view

    def local_views(self) -> list[dict[str, Any]]:
        """The views of the proxies connected here, sorted by id."""
        statuses = self._status_by_node()
        rows = [self._proxy_view(rec, statuses) for rec in self.mesh.proxies.values() if rec.connected]
        return sorted(rows, key=lambda r: str(r["id"]))

    async def list_proxies(self, request: web.Request) -> web.Response:
        ns = request.query.get("namespace")
        rows = self.local_views()
        here = {r["id"] for r in rows}
        rows += [r for r in self.remote() if r.get("id") not in here]  # a proxy that just moved here: ours
        rows = [r for r in rows if not ns or r.get("namespace") == ns]
        rows.sort(key=lambda r: str(r["id"]))
        return web.json_response(
            {
                "items": rows,
                "revision": self.mesh.revision,
                "pushedRevision": self.mesh.pushed_revision,
                "converged": self.mesh.converged,
            }
        )

    def _find(self, request: web.Request) -> ProxyRecord:
        # ApiError (not web.HTTPNotFound): the API middleware replaces HTTPException messages with a
        # generic "could not find the requested resource", and the CLI prints this message as is.
        wanted = request.match_info["proxy"]
        rec = self.mesh.proxy_by_id(wanted)
        if rec is None or not rec.connected:
            names = ("id", "nodeId", "name")
            elsewhere = next((r for r in self.remote() if wanted in (r.get(n) for n in names)), None)
            if elsewhere is not None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'proxy "{wanted}" is connected to control-plane replica {elsewhere.get("controlPlane")}, '
                    "not to this one: ask that replica (mizzen --server <its address> ...)",
                )
            raise ApiError(
                404,
                "NotFound",
                f'proxy "{wanted}" is not connected to this control plane '
                "(mizzen proxy-status lists the connected proxies)",
            )
        return rec

    async def get_proxy(self, request: web.Request) -> web.Response:
        rec = self._find(request)
        return web.json_response(self._proxy_view(rec, self._status_by_node()))

    async def generated_config(self, request: web.Request) -> web.Response:
        """What the control plane computed for this proxy (the "Istiod" side of proxy-status diffs)."""
        rec = self._find(request)
        out = rec.last_output
        if out is None:
            return web.json_response({"clusters": {}, "endpoints": {}, "listeners": {}, "routes": {}, "secrets": {}})
        return web.json_response(
            {
                "clusters": out.clusters,
                "endpoints": out.endpoints,
                "listeners": out.listeners,
                "routes": out.routes,
                "secrets": {k: _redact_secret(v) for k, v in out.secrets.items()},
            }
        )

    async def admin(self, request: web.Request) -> web.Response:
        rec = self._find(request)
        path = request.match_info["path"].strip("/")
        problem = admin_call_problem(request.method, path)
        if problem is not None:
            raise ApiError(403, "Forbidden", problem)
        status, content_type, body = await self._admin_call(rec, request.method, path, request.query)
        return web.Response(body=body, status=status, content_type=content_type)

    async def logs(self, request: web.Request) -> web.Response:
        """A workload's log (``app``, ``access`` or ``envoy``; ``?tail=N``), read by its agent on its host."""
        rec = self._find(request)
        kind = request.match_info["kind"]
        if kind not in LOG_KINDS:
            raise ApiError(404, "NotFound", f"no {kind} log: one of {', '.join(LOG_KINDS)}")
        query = {"tail": request.query["tail"]} if "tail" in request.query else {}
        status, content_type, body = await self._admin_call(rec, "GET", f"{LOGS_PREFIX}{kind}", query)
        return web.Response(body=body, status=status, content_type=content_type)

    async def sync_diff(self, request: web.Request) -> web.Response:
        """Compare the generated config with the proxy's live ``/config_dump`` (``proxy-status <proxy>``)."""
        rec = self._find(request)
        status, _, body = await self._admin_call(rec, "GET", "config_dump", {})
        if status != 200:
            raise ApiError(502, "BadGateway", f"Envoy admin /config_dump answered {status}: {body[:200]!r}")
        dump = json.loads(body)
        out = rec.last_output
        expected = (
            {"clusters": dict(out.clusters), "listeners": dict(out.listeners), "routes": dict(out.routes)}
            if out
            else {}
        )
        sections = syncdiff.compare(expected, dump)
        return web.json_response({"proxy": rec.proxy.id, "sections": [s.to_json() for s in sections]})

    async def workloads(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.mesh.workloads()})

    async def _admin_call(
        self, rec: ProxyRecord, method: str, path: str, params: Mapping[str, str]
    ) -> tuple[int, str, bytes]:
        """One request to the proxy's Envoy admin, through its agent's channel."""
        try:
            status, content_type, body = await self.channels.call(rec.proxy.id, method, path, params)
        except ChannelUnavailable as exc:
            raise ApiError(503, "ServiceUnavailable", f"cannot reach the Envoy admin of {rec.proxy.id}: {exc}") from exc
        except TimeoutError as exc:
            raise ApiError(504, "GatewayTimeout", f"the agent of {rec.proxy.id} did not answer in time") from exc
        return status, content_type.split(";", 1)[0].strip() or "text/plain", body


def peer_host(peer: str) -> str:
    """The address in a gRPC peer string (``ipv4:10.0.0.2:5555``, ``ipv6:[::1]:5555``, ``unix:...``)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return kind if not rest else peer


def _redact_secret(secret: Any) -> Any:
    text = json.dumps(secret)
    if "private_key" not in text:
        return secret
    data = json.loads(text)
    tls = data.get("tls_certificate", {})
    if "private_key" in tls:
        tls["private_key"] = {"inline_string": "[redacted]"}
    return data


_NAMED_TYPES = frozenset({xt.ENDPOINT, xt.ROUTE, xt.SECRET})


def _current(ts: Any, snap: Snapshot | None, acked: Mapping[str, bytes]) -> bool:
    """True when the proxy has ACKed exactly what the control plane holds for it now.

    Wildcard types (CDS, LDS) must be ACKed at the snapshot's version. Named types (RDS, EDS) only need
    what the proxy subscribes to: a route config the proxy no longer asks for may change (or vanish)
    without anything being sent, as the xDS protocol prescribes. A subscribed name the snapshot no longer
    holds (RDS only) has nothing to send either: a listener removed or replaced by LDS keeps its route configuration
    subscribed while it drains (Istio's drain, 45 s), and every current listener's routes are in the
    snapshot (its consistency check), so such a name is a draining listener's and needs nothing new.
    """
    if snap is None or ts.status != "SYNCED":
        return False
    if ts.type_url in xt.WILDCARD_TYPES or "*" in ts.subscribed or ts.version_acked == snap.version(ts.type_url):
        # A named type ACKed at the snapshot's version holds that version of every subscribed name (both
        # streams send them all at once): the per-name check below is only for versions that differ.
        return bool(ts.version_acked == snap.version(ts.type_url))
    have = snap.resources(ts.type_url)
    draining_ok = ts.type_url == xt.ROUTE  # only listeners drain; a cluster's endpoints must be there
    return all((draining_ok and name not in have) or have.get(name) == acked.get(name) for name in ts.subscribed)
