"""One mesh snapshot's outputs: each proxy's translation, encoded for the xDS cache, shared where proxies are alike.

Proxies with the same :func:`~mizzen.translate.sharing.sharing_key` get the very same shared output, so
it is translated and encoded once per mesh snapshot (and reused by every proxy that connects while the
snapshot lasts); only each proxy's own listeners and inbound clusters are built per proxy, and those
are reused from snapshot to snapshot while nothing they read changed
(:mod:`~mizzen.controlplane.local_outputs`). The shared
part is built per service through a :class:`~mizzen.controlplane.incremental.ServiceOutputCache`
carried from snapshot to snapshot, so a change re-translates only the services it touches, and it is
built in parts: the endpoint fast path builds load assignments only. Gateways are translated whole.
The xds encoder caches serialized resources by content, so identical resources are the same bytes
objects across proxies (which keeps the snapshot check cheap).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Hashable, Iterable, Mapping
from types import MappingProxyType
from typing import TypeVar

from mizzen.controlplane.incremental import ServiceOutput, ServiceOutputCache, SnapshotToken, snapshot_token
from mizzen.controlplane.local_outputs import TYPES, LocalOutputCache, encode_all
from mizzen.node import Proxy
from mizzen.translate import build_endpoints, names, sharing, translate
from mizzen.translate.clusters import scope_clusters
from mizzen.translate.gateway import upstream_credential_secrets
from mizzen.translate.model import MeshSnapshot, ProxyResources
from mizzen.translate.scope import Scope, build_scope
from mizzen.translate.vhosts import http_proxy_route_config
from mizzen.xds import Snapshot
from mizzen.xds import types as xt
from mizzen.xds.encode import encode
from mizzen.xds.snapshot import EMPTY_VERSION, Resources, content_version

V = TypeVar("V")


def _sorted(parts: Iterable[Mapping[str, V]]) -> dict[str, V]:
    merged: dict[str, V] = {}
    for part in parts:
        merged.update(part)
    return dict(sorted(merged.items()))


class _Shared:
    """One sharing key's resources for one mesh snapshot, built lazily: endpoints first, the rest on demand."""

    def __init__(self, proxy: Proxy, mesh: MeshSnapshot, cache: ServiceOutputCache, token: SnapshotToken) -> None:
        self.scope = build_scope(proxy, mesh)
        self._cache = cache
        self._token = token
        self._services: list[ServiceOutput] | None = None
        self._endpoints: tuple[ProxyResources, Resources, str] | None = None
        self._full: tuple[ProxyResources, dict[str, Resources], dict[str, str]] | None = None

    def services(self) -> list[ServiceOutput]:
        if self._services is None:
            self._services = [self._cache.service(self.scope, svc, self._token) for svc in self.scope.services]
        return self._services

    def endpoints(self) -> tuple[ProxyResources, Resources, str]:
        """The shared load assignments (as JSON and encoded) and their version."""
        if self._endpoints is None:
            outs = self.services()
            eps = _sorted([o.endpoints for o in outs])
            enc = MappingProxyType(_sorted([o.encoded_endpoints for o in outs]))
            self._endpoints = (ProxyResources(endpoints=eps), enc, content_version(enc))
        return self._endpoints

    def full(self) -> tuple[ProxyResources, dict[str, Resources], dict[str, str]]:
        """Every shared resource, encoded, with per-type versions (what ``sharing.shared_resources`` gives)."""
        if self._full is None:
            outs = self.services()
            eps_json, eps_enc, _ = self.endpoints()
            # The clusters no service owns (passthrough, black hole, zipkin), without the proxy's inbound ones.
            special = {n: c for n, c in scope_clusters(self.scope).items() if not n.startswith(sharing.INBOUND_PREFIX)}
            proxy = self.scope.proxy
            routes = {names.RDS_HTTP_PROXY: http_proxy_route_config(self.scope)} if proxy.http_proxy_port else {}
            clusters = _sorted([*(o.clusters for o in outs), special])
            # DestinationRule credentialName: the secrets these clusters reference over ADS.
            secrets = upstream_credential_secrets(self.scope, clusters)
            res = ProxyResources(clusters=clusters, endpoints=eps_json.endpoints, routes=routes, secrets=secrets)
            encoded: dict[str, Resources] = {
                xt.CLUSTER: MappingProxyType(
                    _sorted([*(o.encoded_clusters for o in outs), encode(xt.CLUSTER, special)])
                ),
                xt.ENDPOINT: eps_enc,
                xt.LISTENER: MappingProxyType({}),
                xt.ROUTE: MappingProxyType(encode(xt.ROUTE, routes)),
                xt.SECRET: MappingProxyType(encode(xt.SECRET, secrets)),
            }
            self._full = (res, encoded, {t: content_version(r) for t, r in encoded.items()})
        return self._full


class PushOutputs:
    """A memo of shared sidecar resources (translated and encoded) per sharing key, for one mesh snapshot."""

    def __init__(
        self, mesh: MeshSnapshot, cache: ServiceOutputCache | None = None, local_cache: LocalOutputCache | None = None
    ) -> None:
        self.mesh = mesh
        self.cache = cache if cache is not None else ServiceOutputCache()
        self.local_cache = local_cache if local_cache is not None else LocalOutputCache()
        self.selectors = sharing.label_selectors(mesh)
        self._token = snapshot_token(mesh)
        self._shared: dict[Hashable, _Shared] = {}

    def _shared_for(self, proxy: Proxy) -> _Shared | None:
        key = sharing.sharing_key(proxy, self.mesh, self.selectors, self._token.failover_labels)
        if key is None:
            return None
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = _Shared(proxy, self.mesh, self.cache, self._token)
        return shared

    def full(self, proxy: Proxy) -> tuple[ProxyResources, ProxyResources, Snapshot]:
        """The proxy's output as (shared part, own part) and its snapshot (gateways: all of it is "own")."""
        shared = self._shared_for(proxy)
        if shared is None:
            out = translate(proxy, self.mesh)
            return ProxyResources(), out, Snapshot(encode_all(out))
        res, encoded, versions = shared.full()
        # Same key, same scope: only the proxy itself differs (its ports, name, access-log path).
        scope: Scope = dataclasses.replace(shared.scope, proxy=proxy)
        own = self.local_cache.local(scope)
        local_enc = own.encoded
        # A type with nothing of the proxy's own is the shared mapping itself (no per-proxy copy).
        merged = self.local_cache.merged
        types = {t: merged(proxy.id, t, encoded[t], versions[t]) if local_enc[t] else encoded[t] for t, _ in TYPES}
        # The own part's versions were hashed when it was built; the shared part's once per key.
        combined = {t: _combine(versions[t], own.versions[t]) for t, _ in TYPES}
        return res, own.resources, Snapshot(types, combined)

    def endpoints(self, proxy: Proxy) -> tuple[Mapping[str, Mapping[str, object]], Resources, str]:
        """Only the proxy's EDS resources (the endpoint fast path) and their version (hashed once per scope)."""
        shared = self._shared_for(proxy)
        if shared is not None:
            res, enc, version = shared.endpoints()
            return res.endpoints, enc, version
        eps = build_endpoints(proxy, self.mesh)
        encoded = encode(xt.ENDPOINT, eps)
        return eps, encoded, content_version(encoded)


def _combine(shared_version: str, local_version: str) -> str:
    if local_version == EMPTY_VERSION:
        return shared_version
    return hashlib.blake2b(f"{shared_version}/{local_version}".encode(), digest_size=8).hexdigest()
