"""The inputs of one conversion, indexed: Services, ServiceEntries, Secrets, GatewayClasses and
ReferenceGrants (Istio's ``RouteContext``/``ReferenceGrants``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mizzen.config.models.core import Service
from mizzen.config.models.gateway_api import GatewayClass, ReferenceGrant
from mizzen.config.models.service_entry import ServiceEntry
from mizzen.config.resource import Resource
from mizzen.config.schema import build
from mizzen.config.semantics.selectors import SERVICE, selects
from mizzen.gatewayapi.model import BUILTIN_CLASSES, DEFAULT_DOMAIN, GROUP

# (group, kind) of what a ReferenceGrant may grant from / to, normalized as Istio does.
_GRANT_FROM = frozenset({"KubernetesGateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"})
_GRANT_TO = frozenset({"Secret", "Service"})


@dataclass(frozen=True)
class Grant:
    """One from/to pair of a ReferenceGrant: ``from_kind`` in ``from_ns`` may reach ``to_kind`` here."""

    from_kind: str
    from_ns: str
    to_kind: str
    to_ns: str
    name: str | None  # None: every object of the kind


@dataclass(frozen=True)
class GatewayProxy:
    """A connected gateway proxy (namespace and labels): an instance of the Services selecting it."""

    namespace: str
    labels: Mapping[str, str]


def kind_of(group: str, kind: str) -> str:
    """Mizzen's kind name for a reference's (group, kind): the Gateway API Gateway is
    ``KubernetesGateway``; unknown pairs come back as ``group/kind``."""
    known = {
        (GROUP, "Gateway"): "KubernetesGateway",
        (GROUP, "HTTPRoute"): "HTTPRoute",
        (GROUP, "GRPCRoute"): "GRPCRoute",
        (GROUP, "TCPRoute"): "TCPRoute",
        (GROUP, "TLSRoute"): "TLSRoute",
        (GROUP, "ListenerSet"): "ListenerSet",
        ("", "Service"): "Service",
        ("", "Secret"): "Secret",
        ("", "ConfigMap"): "ConfigMap",
        ("networking.istio.io", "ServiceEntry"): "ServiceEntry",
        ("networking.istio.io", "Hostname"): "Hostname",
    }
    return known.get((group, kind), f"{group}/{kind}")


@dataclass
class Context:
    """Lookups every conversion step needs."""

    domain: str = DEFAULT_DOMAIN
    services: dict[tuple[str, str], Resource] = field(default_factory=dict)
    service_entries: dict[tuple[str, str], Resource] = field(default_factory=dict)
    secrets: dict[tuple[str, str], Resource] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=lambda: dict(BUILTIN_CLASSES))  # name -> controller
    grants: list[Grant] = field(default_factory=list)
    proxies: tuple[GatewayProxy, ...] = ()
    hostnames: set[str] = field(default_factory=set)  # every service hostname the registry would know

    @classmethod
    def of(cls, resources: Iterable[Resource], proxies: Iterable[GatewayProxy], domain: str) -> Context:
        """Index the Services, ServiceEntries, Secrets, GatewayClasses and ReferenceGrants in ``resources``."""
        ctx = cls(domain=domain, proxies=tuple(proxies))
        for r in resources:
            key = (r.namespace, r.name)
            if r.kind == "Service":
                ctx.services[key] = r
                ctx.hostnames.add(f"{r.name}.{r.namespace}.svc.{domain}")
            elif r.kind == "ServiceEntry":
                ctx.service_entries[key] = r
                ctx.hostnames.update(build(ServiceEntry, r.spec).hosts)
            elif r.kind == "Secret":
                ctx.secrets[key] = r
            elif r.kind == "GatewayClass":
                ctx.classes[r.name] = build(GatewayClass, r.spec).controller_name
            elif r.kind == "ReferenceGrant":
                ctx.grants.extend(_grants(r))
        return ctx

    def service_host(self, name: str, namespace: str) -> str:
        """``name.namespace.svc.<domain>``."""
        return f"{name}.{namespace}.svc.{self.domain}"

    def allowed(self, from_kind: str, from_ns: str, to_kind: str, to_ns: str, name: str) -> bool:
        """Whether a ReferenceGrant in ``to_ns`` lets ``from_kind`` objects in ``from_ns`` refer to ``name``."""
        return any(
            (g.from_kind, g.from_ns, g.to_kind, g.to_ns) == (from_kind, from_ns, to_kind, to_ns)
            and (g.name is None or g.name == name)
            for g in self.grants
        )

    def service_by_host(self, hostname: str, namespace: str) -> Resource | None:
        """The Service in ``namespace`` whose hostname is ``hostname`` (``name.namespace.svc.<domain>``)."""
        name = hostname.removesuffix(f".{namespace}.svc.{self.domain}")
        return self.services.get((namespace, name)) if name != hostname and "." not in name else None

    def has_instances(self, hostname: str, namespace: str) -> bool:
        """Whether a connected gateway proxy is an instance of the Service ``hostname`` in ``namespace``."""
        svc = self.service_by_host(hostname, namespace)
        if svc is None:
            return False
        selector = build(Service, svc.spec).selector
        return any(p.namespace == namespace and selects(SERVICE, selector, p.labels) for p in self.proxies)


def _grants(res: Resource) -> list[Grant]:
    spec: ReferenceGrant = build(ReferenceGrant, res.spec)
    out = []
    for f in spec.from_:
        from_kind = kind_of(f.group, f.kind)
        if from_kind not in _GRANT_FROM:
            continue  # not a kind Istio grants from; maybe for another controller
        for t in spec.to:
            to_kind = kind_of(t.group, t.kind)
            if to_kind in _GRANT_TO:
                out.append(Grant(from_kind, f.namespace, to_kind, res.namespace, t.name or None))
    return out
