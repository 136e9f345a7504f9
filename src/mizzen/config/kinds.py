"""The one kind table: every kind Mizzen accepts, with its API group, versions, plural and short names.

The loader, the store, the HTTP API and the CLI all read this table; none of them hard-code kinds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindInfo:
    """Static facts about one kind."""

    kind: str
    group: str  # "" for the Kubernetes core group
    versions: tuple[str, ...]  # accepted versions, preferred (storage) version first
    plural: str
    short_names: tuple[str, ...] = ()
    namespaced: bool = True
    # The ``kind`` written in documents when it differs from the canonical name: the Gateway API's
    # ``Gateway`` is ``KubernetesGateway`` inside Mizzen (Istio's own name), as ``Gateway`` is Istio's.
    doc_kind: str = ""

    @property
    def document_kind(self) -> str:
        """The ``kind`` field of this kind's documents (``Gateway`` for ``KubernetesGateway``)."""
        return self.doc_kind or self.kind

    @property
    def preferred_api_version(self) -> str:
        """The ``apiVersion`` Mizzen writes: the group with its storage version (``networking.istio.io/v1``)."""
        return f"{self.group}/{self.versions[0]}" if self.group else self.versions[0]

    @property
    def api_versions(self) -> tuple[str, ...]:
        """Every ``apiVersion`` a document of this kind may carry."""
        return tuple(f"{self.group}/{v}" if self.group else v for v in self.versions)

    @property
    def qualified(self) -> str:
        """``virtualservice.networking.istio.io`` as kubectl prints it (``service`` for core)."""
        return f"{self.document_kind.lower()}.{self.group}" if self.group else self.kind.lower()

    def api_path(self, namespace: str, name: str | None = None, version: str | None = None) -> str:
        """Kubernetes REST path, e.g. ``/apis/networking.istio.io/v1/namespaces/default/virtualservices``."""
        ver = version or self.versions[0]
        base = f"/apis/{self.group}/{ver}" if self.group else f"/api/{ver}"
        path = f"{base}/namespaces/{namespace}/{self.plural}" if self.namespaced else f"{base}/{self.plural}"
        return f"{path}/{name}" if name else path


NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
GATEWAY_API = "gateway.networking.k8s.io"
DISCOVERY = "discovery.k8s.io"
TELEMETRY = "telemetry.istio.io"
_NET_VERSIONS = ("v1", "v1beta1", "v1alpha3")
_SEC_VERSIONS = ("v1", "v1beta1")

KINDS: tuple[KindInfo, ...] = (
    KindInfo("VirtualService", NETWORKING, _NET_VERSIONS, "virtualservices", ("vs",)),
    KindInfo("DestinationRule", NETWORKING, _NET_VERSIONS, "destinationrules", ("dr",)),
    KindInfo("Gateway", NETWORKING, _NET_VERSIONS, "gateways", ("gw",)),
    KindInfo("ServiceEntry", NETWORKING, _NET_VERSIONS, "serviceentries", ("se",)),
    KindInfo("WorkloadEntry", NETWORKING, _NET_VERSIONS, "workloadentries", ("we",)),
    KindInfo("WorkloadGroup", NETWORKING, _NET_VERSIONS, "workloadgroups", ("wg",)),
    KindInfo("Sidecar", NETWORKING, _NET_VERSIONS, "sidecars"),
    KindInfo("PeerAuthentication", SECURITY, _SEC_VERSIONS, "peerauthentications", ("pa",)),
    KindInfo("AuthorizationPolicy", SECURITY, _SEC_VERSIONS, "authorizationpolicies", ("ap",)),
    KindInfo("RequestAuthentication", SECURITY, _SEC_VERSIONS, "requestauthentications", ("ra",)),
    KindInfo("Telemetry", TELEMETRY, ("v1", "v1alpha1"), "telemetries", ("telemetry",)),
    KindInfo("Service", "", ("v1",), "services", ("svc",)),
    KindInfo("ServiceAccount", "", ("v1",), "serviceaccounts", ("sa",)),
    # The endpoints of a Service without a selector (Istio's task "Kubernetes Services for Egress Traffic").
    KindInfo("Endpoints", "", ("v1",), "endpoints", ("ep",)),
    KindInfo("EndpointSlice", DISCOVERY, ("v1",), "endpointslices"),
    # Mizzen's own kind for TLS credentials referenced by Gateway `credentialName`
    # (created with `mizzen create secret tls`), shaped like a Kubernetes TLS Secret.
    KindInfo("Secret", "", ("v1",), "secrets"),
    # The Kubernetes Gateway API, with the versions its CRDs (v1.6) serve; converted to Istio's
    # Gateway/VirtualService by mizzen.gatewayapi, as istiod does.
    KindInfo("GatewayClass", GATEWAY_API, ("v1", "v1beta1"), "gatewayclasses", ("gc",), namespaced=False),
    KindInfo("KubernetesGateway", GATEWAY_API, ("v1", "v1beta1"), "gateways", ("gtw",), doc_kind="Gateway"),
    KindInfo("HTTPRoute", GATEWAY_API, ("v1", "v1beta1"), "httproutes"),
    KindInfo("GRPCRoute", GATEWAY_API, ("v1",), "grpcroutes"),
    KindInfo("TCPRoute", GATEWAY_API, ("v1", "v1alpha2"), "tcproutes"),
    KindInfo("TLSRoute", GATEWAY_API, ("v1", "v1alpha2", "v1alpha3"), "tlsroutes"),
    KindInfo("ReferenceGrant", GATEWAY_API, ("v1beta1", "v1"), "referencegrants", ("refgrant",)),
)

# Kinds that Mizzen's own tools read from files and the control plane never stores or serves. They
# are not in KINDS, so `apply` reports them as skipped; a tool asks the loader for them by name.
MIZZEN = "mizzen.io"
ROUTE_TEST = KindInfo("RouteTest", MIZZEN, ("v1alpha1",), "routetests", ("rt",))  # `mizzen test` assertions
TOOL_KINDS: tuple[KindInfo, ...] = (ROUTE_TEST,)

# Kinds the store keeps for Mizzen itself. Not in KINDS: no API routes, no YAML, not listed by `mizzen get`.
INTERNAL_KINDS: tuple[KindInfo, ...] = (
    KindInfo("Credential", "security.mizzen.io", ("v1",), "credentials"),  # scoped tokens (salted hashes only)
)

_BY_KIND = {k.kind: k for k in KINDS}
_BY_GROUP_KIND = {(k.group, k.document_kind): k for k in KINDS}
_INTERNAL = {k.kind: k for k in INTERNAL_KINDS}
_BY_NAME: dict[str, KindInfo] = {}
for _k in KINDS:
    for _alias in (_k.document_kind.lower(), _k.plural, *_k.short_names, _k.qualified, f"{_k.plural}.{_k.group}"):
        _BY_NAME.setdefault(_alias, _k)


class UnknownKindError(LookupError):
    """A kind name, plural or short name that is not in the table."""


def by_kind(kind: str) -> KindInfo | None:
    """Look up a canonical kind name (``VirtualService``); ``None`` when Mizzen does not run it."""
    return _BY_KIND.get(kind)


def internal_kind(kind: str) -> KindInfo | None:
    """One of Mizzen's own stored kinds (``Credential``), or ``None``."""
    return _INTERNAL.get(kind)


def resolve(name: str) -> KindInfo:
    """Resolve what a user typed (``vs``, ``virtualservices``, ``VirtualService``, ``gw.networking.istio.io``)."""
    info = _BY_NAME.get(name.lower()) or _BY_KIND.get(name)
    if info is None:
        raise UnknownKindError(f'the server doesn\'t have a resource type "{name}"')
    return info


def by_group_kind(group: str, kind: str) -> KindInfo | None:
    """The kind a document's API group and ``kind`` field name (``gateway.networking.k8s.io``, ``Gateway``)."""
    return _BY_GROUP_KIND.get((group, kind))


def group_of(api_version: str) -> str:
    """``networking.istio.io`` of ``networking.istio.io/v1``; ``""`` for the core group (``v1``)."""
    return api_version.rpartition("/")[0]


def document_kind(kind: str) -> str:
    """The ``kind`` field documents of the canonical ``kind`` carry (``KubernetesGateway`` -> ``Gateway``)."""
    info = _BY_KIND.get(kind)
    return info.document_kind if info else kind


def by_api_version(api_version: str, kind: str) -> KindInfo | None:
    """The kind for a document's ``apiVersion``/``kind`` pair, or ``None`` if Mizzen does not run it."""
    info = _BY_GROUP_KIND.get((group_of(api_version), kind))
    if info is None or api_version not in info.api_versions:
        return None
    return info
