"""One push's outputs: each proxy's translation, encoded for the xDS cache, shared where proxies are alike.

Proxies with the same :func:`~mizzen.translate.sharing.sharing_key` get the very same shared output, so
it is translated and encoded once per push; only each proxy's own listeners and inbound clusters are
built per proxy. Gateways are translated whole. The xds encoder caches serialized resources by content,
so identical resources are the same bytes objects across proxies (which keeps the snapshot check cheap).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Hashable, Mapping

from mizzen.node import Proxy
from mizzen.translate import build_endpoints, sharing, translate
from mizzen.translate.model import MeshSnapshot, ProxyResources
from mizzen.translate.scope import Scope, build_scope
from mizzen.xds import Snapshot
from mizzen.xds import types as xt
from mizzen.xds.encode import encode
from mizzen.xds.snapshot import EMPTY_VERSION, content_version

_TYPES = (
    (xt.CLUSTER, "clusters"),
    (xt.ENDPOINT, "endpoints"),
    (xt.LISTENER, "listeners"),
    (xt.ROUTE, "routes"),
    (xt.SECRET, "secrets"),
)


def _encode_all(res: ProxyResources) -> dict[str, dict[str, bytes]]:
    return {t: encode(t, getattr(res, attr)) for t, attr in _TYPES}


@dataclasses.dataclass(frozen=True)
class _Shared:
    scope: Scope
    resources: ProxyResources
    encoded: dict[str, dict[str, bytes]]
    versions: dict[str, str]


class PushOutputs:
    """A memo of shared sidecar resources (translated and encoded) per sharing key, for one mesh snapshot."""

    def __init__(self, mesh: MeshSnapshot) -> None:
        self.mesh = mesh
        self.selectors = sharing.label_selectors(mesh)
        self._shared: dict[Hashable, _Shared] = {}

    def _shared_for(self, proxy: Proxy) -> _Shared | None:
        key = sharing.sharing_key(proxy, self.mesh, self.selectors)
        if key is None:
            return None
        if key not in self._shared:
            scope = build_scope(proxy, self.mesh)
            res = sharing.shared_resources(proxy, self.mesh, scope)
            encoded = _encode_all(res)
            self._shared[key] = _Shared(scope, res, encoded, {t: content_version(r) for t, r in encoded.items()})
        return self._shared[key]

    def full(self, proxy: Proxy) -> tuple[ProxyResources, Snapshot]:
        """The proxy's whole output and its snapshot."""
        shared = self._shared_for(proxy)
        if shared is None:
            out = translate(proxy, self.mesh)
            return out, Snapshot(_encode_all(out))
        # Same key, same scope: only the proxy itself differs (its ports, name, access-log path).
        local = sharing.local_resources(proxy, self.mesh, dataclasses.replace(shared.scope, proxy=proxy))
        local_enc = _encode_all(local)
        types = {t: {**shared.encoded[t], **local_enc[t]} for t, _ in _TYPES}
        # Hash only the proxy's own resources; the shared part's version was computed once per key.
        versions = {t: _combine(shared.versions[t], content_version(local_enc[t])) for t, _ in _TYPES}
        return sharing.merge(shared.resources, local), Snapshot(types, versions)

    def endpoints(self, proxy: Proxy) -> tuple[Mapping[str, Mapping[str, object]], dict[str, bytes]]:
        """Only the proxy's EDS resources (the endpoint fast path)."""
        shared = self._shared_for(proxy)
        if shared is not None:
            return shared.resources.endpoints, shared.encoded[xt.ENDPOINT]
        eps = build_endpoints(proxy, self.mesh)
        return eps, encode(xt.ENDPOINT, eps)


def _combine(shared_version: str, local_version: str) -> str:
    if local_version == EMPTY_VERSION:
        return shared_version
    return hashlib.blake2b(f"{shared_version}/{local_version}".encode(), digest_size=8).hexdigest()
