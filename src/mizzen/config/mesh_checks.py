"""Checks that need the whole mesh, not one resource: a RequestAuthentication ``jwksUri`` nothing serves.

Envoy fetches a ``jwksUri`` itself, through the outbound cluster of the URI's host and port (Istio's
istiod fetches it instead; see docs/istio-differences.md). When no Service or ServiceEntry visible to
the policy's namespace defines that host and port, the translator has no cluster to name, the fetch
fails and every token of the issuer is rejected with 401: fail closed, but silent without this
warning (MZ2783). The host must match exactly, as the translator's cluster lookup does: a short name
(``jwks``) or a wildcard ServiceEntry host never yields a cluster.

The caller chooses the resources: ``validate`` passes the files, the API's apply passes the batch over
the stored configuration, ``analyze`` passes what it analyses (files, live, or both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mizzen.config.enforceable import HostLookup, jwt_rule_problems
from mizzen.config.models import Service as KubeService
from mizzen.config.models import ServiceEntry, spec_as
from mizzen.config.models.security import RequestAuthentication
from mizzen.config.report import Violation
from mizzen.config.resource import Resource
from mizzen.config.semantics.hosts import kube_host
from mizzen.config.semantics.visibility import exported_to, service_export_to
from mizzen.config.validate import locate

SERVED_KINDS = ("Service", "ServiceEntry")
"""The kinds that define the hosts Envoy can fetch a ``jwksUri`` through."""


@dataclass(frozen=True)
class _Served:
    host: str
    port: int
    namespace: str
    export_to: tuple[str, ...]


@dataclass(frozen=True)
class MeshHosts:
    """The (host, port) pairs the mesh's Services and ServiceEntries define, with their visibility."""

    entries: tuple[_Served, ...]

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> MeshHosts:
        """Index the Services and ServiceEntries among ``resources`` (other kinds are ignored)."""
        out: list[_Served] = []
        for r in resources:
            if r.kind == "Service":
                svc = spec_as(r, KubeService)
                host, export = kube_host(r.name, r.namespace), service_export_to(r.metadata.annotations)
                out += [_Served(host, p.port, r.namespace, export) for p in svc.ports]
            elif r.kind == "ServiceEntry":
                se = spec_as(r, ServiceEntry)
                out += [
                    _Served(h.lower(), p.number, r.namespace, tuple(se.export_to)) for h in se.hosts for p in se.ports
                ]
        return cls(tuple(out))

    def serves(self, host: str, port: int, viewer_namespace: str) -> bool:
        """Whether a service visible from ``viewer_namespace`` defines exactly ``host`` and ``port``."""
        host = host.lower()
        return any(
            e.host == host and e.port == port and exported_to(e.export_to, e.namespace, viewer_namespace)
            for e in self.entries
        )


def needs_mesh_checks(resources: Iterable[Resource]) -> bool:
    """Whether any resource is checked by :func:`unserved_jwks_uris` (callers skip loading the store if not)."""
    return any(r.kind == "RequestAuthentication" for r in resources)


def unserved_jwks_uris(
    checked: Sequence[Resource], mesh: Iterable[Resource], *, where: str = "mesh"
) -> list[Violation]:
    """MZ2783 for each ``jwksUri`` of the RequestAuthentications in ``checked`` that ``mesh`` does not serve.

    ``where`` names what was searched in the message ("mesh", or "input" for files checked offline).
    Violations are located (file, line, resource) from the RequestAuthentication.
    """
    hosts = MeshHosts.of(mesh)
    out: list[Violation] = []
    for res in checked:
        if res.kind != "RequestAuthentication":
            continue
        spec = spec_as(res, RequestAuthentication)
        searched = "mesh service or ServiceEntry" if where == "mesh" else f"Service or ServiceEntry in the {where}"
        found = [
            v for v in jwt_rule_problems(spec, _lookup(hosts, res.namespace), searched=searched) if v.code == "MZ2783"
        ]
        out += locate(res, found)
    return out


def _lookup(hosts: MeshHosts, namespace: str) -> HostLookup:
    return lambda host, port: hosts.serves(host, port, namespace)
