"""Run Istio's analyzers over a set of resources and return istioctl-compatible messages.

Theory of operation: the inputs (Mizzen's resources, the Kubernetes objects the loader skipped, the
workloads) are indexed once into a :class:`~.context.Context`; each analyzer is a plain function that
reads the context and reports messages into it; the runner then drops suppressed messages, keeps those
about the requested namespace, de-duplicates and sorts them the way istioctl does (level, code,
resource, location, text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from mizzen.config.ingress_tls_checks import ingress_tls_under_mesh_mtls
from mizzen.config.loader import Skipped
from mizzen.config.mesh_checks import unserved_jwks_uris
from mizzen.config.resource import Resource

from . import (
    authz,
    cluster,
    deployment,
    deprecation,
    destinationrule,
    envoyfilter,
    gateway,
    gateway_tls,
    injection,
    k8s_annotations,
    k8sgateway,
    schema,
    service,
    serviceentry,
    sidecar,
    telemetry,
    virtualservice,
    vs_gateways,
    webhooks,
)
from .context import SUPPRESS_ANNOTATION, Context
from .kube import IGNORED_NAMESPACES, Pod, default_ingress, gateway_api_objects, objects, pods_of
from .meshconfig import MeshConfig
from .messages import Message

Analyzer = Callable[[Context], None]

WORKLOAD_ENTRIES_NOTE = (
    "WorkloadEntries in the input count as workloads for selectors, where istioctl reads only Pods "
    "(docs/istio-differences.md#workloadentries-count-as-workloads)"
)
DEPLOYMENTS_NOTE = (
    "each Deployment in the input stands for a pod of its template, where istioctl reads only Pods "
    "(docs/istio-differences.md#deployments-stand-for-their-pods)"
)

SCHEMA_KINDS = (
    "AuthorizationPolicy",
    "DestinationRule",
    "Gateway",
    "PeerAuthentication",
    "RequestAuthentication",
    "ServiceEntry",
    "Sidecar",
    "VirtualService",
    "WorkloadEntry",
    "WorkloadGroup",
)

# (Istio's analyzer name, our one-line description, the analyzer), in run order.
ANALYZERS: tuple[tuple[str, str, Analyzer], ...] = (
    (
        "applicationUID.Analyzer",
        "Application containers must not run as the sidecar's UID 1337.",
        deployment.analyze_uids,
    ),
    (
        "auth.AuthorizationPoliciesAnalyzer",
        "AuthorizationPolicies select workloads and name existing namespaces.",
        authz.analyze_policies,
    ),
    (
        "authn.BlockedCIDRsAnalyzer",
        "istiod restricts JWKS URI fetches when RequestAuthentications exist.",
        cluster.analyze_blocked_cidrs,
    ),
    ("conditions.ConditionAnalyzer", "Resources report no negative status condition.", cluster.analyze_conditions),
    (
        "deployment.MultiServiceAnalyzer",
        "Services selecting one Deployment agree on protocols and target ports.",
        deployment.analyze_services,
    ),
    ("deprecation.DeprecationAnalyzer", "Deprecated or ignored fields.", deprecation.analyze_deprecated_fields),
    (
        "destinationrule.CaCertificateAnalyzer",
        "TLS origination verifies the server with a CA.",
        destinationrule.analyze_ca_certificates,
    ),
    (
        "destinationrule.SubsetSelectPodAnalyzer",
        "DestinationRule hosts exist and subsets select workloads.",
        destinationrule.analyze_subsets,
    ),
    (
        "annotations.K8sAnalyzer",
        "Istio annotations are known, current, on the right kind and well valued.",
        k8s_annotations.analyze_annotations,
    ),
    (
        "envoyfilter.EnvoyPatchAnalyzer",
        "EnvoyFilter patch operations suit their applyTo and are ordered.",
        envoyfilter.analyze_patches,
    ),
    (
        "externalcontrolplane.ExternalControlPlaneAnalyzer",
        "Webhooks reach an external control plane by a valid hostname.",
        webhooks.analyze_external_control_plane,
    ),
    (
        "gateway.CertificateAnalyzer",
        "Gateways on the same workloads do not share a certificate.",
        gateway_tls.analyze_duplicate_certificates,
    ),
    (
        "gateway.ConflictingGatewayAnalyzer",
        "Gateways on the same workloads do not claim the same port and host.",
        gateway.analyze_conflicting_gateways,
    ),
    (
        "gateway.IngressGatewayPortAnalyzer",
        "Gateway selectors match workloads whose Service exposes the server ports.",
        gateway.analyze_gateway_ports,
    ),
    (
        "gateway.SecretAnalyzer",
        "Gateway credentialName secrets exist and hold a valid certificate.",
        gateway_tls.analyze_secrets,
    ),
    (
        "injection.Analyzer",
        "Namespaces are labelled for injection and their pods run the proxy.",
        injection.analyze_namespaces,
    ),
    ("injection.ImageAnalyzer", "Pods run the proxy image their injector configures.", injection.analyze_images),
    (
        "injection.ImageAutoAnalyzer",
        "Workloads with image: auto are selected by an injection webhook.",
        injection.analyze_auto_images,
    ),
    ("k8sgateway.CRDVersionAnalyzer", "Gateway API CRDs are recent enough for Istio.", cluster.analyze_crd_versions),
    (
        "k8sgateway.SelectorAnalyzer",
        "Policies address Gateway API gateways with targetRef, not selectors.",
        k8sgateway.analyze_selectors,
    ),
    *(
        (f"schema.ValidationAnalyzer.{kind}", f"Istio's validation of {kind} resources.", schema.analyzer(kind))
        for kind in SCHEMA_KINDS
    ),
    ("service.PortNameAnalyzer", "Service port names tell Istio the protocol.", service.analyze_port_names),
    ("serviceentry.Analyzer", "ServiceEntry TCP ports have addresses.", serviceentry.analyze_addresses),
    (
        "serviceentry.ConflictingServiceEntryProtocolAnalyzer",
        "ServiceEntries do not give one host and port different protocols.",
        serviceentry.analyze_conflicting_protocols,
    ),
    (
        "sidecar.SelectorAnalyzer",
        "Sidecar selectors match workloads, one Sidecar per workload.",
        sidecar.analyze_selectors,
    ),
    (
        "telemetry.DefaultSelectorAnalyzer",
        "At most one Telemetry per namespace has no selector.",
        telemetry.analyze_default_selectors,
    ),
    (
        "telemetry.LightstepAnalyzer",
        "Telemetry does not trace through the deprecated Lightstep provider.",
        telemetry.analyze_lightstep,
    ),
    ("telemetry.ProviderAnalyzer", "Telemetry access logging names a provider.", telemetry.analyze_providers),
    (
        "telemetry.SelectorAnalyzer",
        "Telemetry selectors match pods, one Telemetry per pod.",
        telemetry.analyze_selectors,
    ),
    (
        "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
        "Mesh VirtualServices do not share a host.",
        vs_gateways.analyze_mesh_gateway_hosts,
    ),
    (
        "virtualservice.DestinationHostAnalyzer",
        "Route destinations name known hosts and ports.",
        virtualservice.analyze_destination_hosts,
    ),
    (
        "virtualservice.DestinationRuleAnalyzer",
        "Routed subsets are defined by a DestinationRule.",
        virtualservice.analyze_destination_subsets,
    ),
    (
        "virtualservice.GatewayAnalyzer",
        "Referenced gateways exist and list the VirtualService hosts.",
        vs_gateways.analyze_gateways,
    ),
    (
        "virtualservice.JWTClaimRouteAnalyzer",
        "JWT claim routing at a gateway has a RequestAuthentication.",
        vs_gateways.analyze_jwt_claim_routes,
    ),
    (
        "webhook.Analyzer",
        "Istio's injection webhooks do not overlap and name existing Services.",
        webhooks.analyze_injection_webhooks,
    ),
)
"""Every analyzer, under the name istioctl lists it with (``-L``), sorted by name."""

NAMES = frozenset(name for name, _, _ in ANALYZERS)


class SuppressionError(ValueError):
    """A ``--suppress`` value that is not ``CODE=Kind namespace/name``."""


@dataclass(frozen=True)
class Suppression:
    """Drop messages whose code and ``Kind ns/name`` match these shell-style patterns."""

    code: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Suppression:
        """A suppression in istioctl's ``--suppress`` syntax, ``CODE=Kind namespace/name``.

        Raises :class:`SuppressionError` when either side is missing.
        """
        code, sep, resource = text.partition("=")
        if not sep or not code.strip() or not resource.strip():
            raise SuppressionError(f'invalid suppression "{text}": expected CODE=Kind namespace/name')
        return cls(code.strip(), " ".join(resource.split()))

    def matches(self, message: Message) -> bool:
        """Whether the message's code and resource match (``Kind name.namespace``, istioctl's older spelling, too)."""
        if not fnmatchcase(message.code, self.code):
            return False
        # Also accept istioctl's older "Kind name.namespace" spelling.
        legacy = f"{message.kind} {message.name}.{message.namespace}"
        return fnmatchcase(message.resource, self.resource) or fnmatchcase(legacy, self.resource)


@dataclass(frozen=True)
class Workload:
    """A running workload of the live mesh (a connected proxy)."""

    name: str
    namespace: str
    labels: Mapping[str, str]


@dataclass
class Analysis:
    """The messages of one run, and notes about where Mizzen deliberately differs from istioctl."""

    messages: list[Message]
    notes: list[str] = field(default_factory=list)


def _pods(resources: Sequence[Resource], skipped_pods: list[Pod], workloads: Iterable[Workload] | None) -> list[Pod]:
    pods = list(skipped_pods)
    for we in (r for r in resources if r.kind == "WorkloadEntry"):
        labels = we.spec.get("labels")
        pods.append(
            Pod(
                we.name,
                we.namespace,
                {str(k): str(v) for k, v in (labels or {}).items()} if isinstance(labels, dict) else {},
            )
        )
    pods += [Pod(w.name, w.namespace, dict(w.labels)) for w in workloads or ()]
    return pods


def build_context(
    resources: Sequence[Resource],
    *,
    skipped: Sequence[Skipped] = (),
    workloads: Iterable[Workload] | None = None,
    mesh_config: MeshConfig | None = None,
    files_only: bool = False,
) -> Context:
    """Index the inputs; with ``files_only``, add the default ingress gateway istioctl assumes."""
    mesh = mesh_config or MeshConfig()
    kept = [r for r in resources if r.namespace not in IGNORED_NAMESPACES]
    objs = objects(skipped) + gateway_api_objects(kept)
    if files_only and mesh.ingress_controller_mode != "OFF":
        svc, pod = default_ingress(mesh.root_namespace, mesh.ingress_service)
        if not any(r.key == svc.key for r in kept):
            kept.append(svc)
        objs.append(pod)
    pods = _pods(kept, pods_of(objs), workloads)
    ctx = Context(
        kept,
        pods,
        objs,
        mesh,
        live=workloads is not None,
        secrets_known=files_only or any(r.kind == "Secret" for r in kept),
    )
    if any(o.kind == "Deployment" for o in objs):
        ctx.note(DEPLOYMENTS_NOTE)
    if any(r.kind == "WorkloadEntry" for r in kept):
        ctx.note(WORKLOAD_ENTRIES_NOTE)
    return ctx


def run(
    resources: Sequence[Resource],
    *,
    skipped: Sequence[Skipped] = (),
    workloads: Iterable[Workload] | None = None,
    mesh_config: MeshConfig | None = None,
    files_only: bool = False,
    analyzers: Sequence[str] = (),
    namespace: str | None = None,
    all_namespaces: bool = False,
    suppress: Sequence[str] = (),
    extra_messages: Sequence[Message] = (),
) -> Analysis:
    """Analyze and return the sorted, de-duplicated messages and notes.

    ``workloads`` are the live mesh's proxies (``None``: files only). ``analyzers`` selects analyzers by
    Istio name; as istioctl, unknown names are ignored (with a note) and all run when none is known.
    ``namespace`` keeps only messages about that namespace unless ``all_namespaces``. ``suppress`` takes
    ``CODE=Kind ns/name`` patterns; the annotation ``galley.istio.io/analyze-suppress: "IST0101,IST0102"``
    suppresses codes per resource.
    ``extra_messages`` (the loader's problems, see :func:`.schema.violation_messages`) are filtered,
    de-duplicated and sorted with the analyzers' own.
    """
    rules_ = [Suppression.parse(s) for s in suppress]
    ctx = build_context(resources, skipped=skipped, workloads=workloads, mesh_config=mesh_config, files_only=files_only)
    for unknown in sorted(set(analyzers) - NAMES):
        ctx.note(f"analyzer {unknown} is not one Mizzen runs (see --list-analyzers): ignored")
    chosen = NAMES & set(analyzers) or NAMES  # as istioctl: no known name selected runs them all
    for name, _, analyzer in ANALYZERS:
        if name in chosen:
            analyzer(ctx)
    _enforcement_notes(ctx, namespace if not all_namespaces else None)
    extras = list(extra_messages) if any(a.startswith("schema.") for a in chosen) else []
    annotated = _annotation_suppressions(ctx.resources)
    kept: set[Message] = set()
    for msg in [*ctx.messages, *extras]:
        if any(r.matches(msg) for r in rules_):
            continue
        codes = annotated.get((msg.kind, msg.namespace, msg.name), ())
        if msg.code in codes or "*" in codes:
            continue
        if namespace is not None and not all_namespaces and msg.namespace not in ("", namespace):
            continue
        kept.add(msg)
    return Analysis(sorted(kept, key=Message.sort_key), ctx.notes)


def _enforcement_notes(ctx: Context, namespace: str | None) -> None:
    """Mizzen's own findings where it enforces less than Istio would (no Istio analyzer reports them):
    notes with file:line, not messages, so istioctl's codes and verdicts stay Istio's."""
    where = "mesh" if ctx.live else "input"
    found = unserved_jwks_uris(ctx.resources, ctx.resources, where=where)
    found += ingress_tls_under_mesh_mtls(ctx.resources, ctx.resources, root_namespace=ctx.mesh.root_namespace)
    for v in found:
        if namespace is None or v.resource.partition(" ")[2].partition("/")[0] == namespace:
            ctx.note(str(v))


def analyze(
    resources: Sequence[Resource],
    *,
    skipped: Sequence[Skipped] = (),
    workloads: Iterable[Workload] | None = None,
    mesh_config: MeshConfig | None = None,
    files_only: bool = False,
    analyzers: Sequence[str] = (),
    namespace: str | None = None,
    all_namespaces: bool = False,
    suppress: Sequence[str] = (),
    extra_messages: Sequence[Message] = (),
) -> list[Message]:
    """:func:`run`, returning the messages only."""
    return run(
        resources,
        skipped=skipped,
        workloads=workloads,
        mesh_config=mesh_config,
        files_only=files_only,
        analyzers=analyzers,
        namespace=namespace,
        all_namespaces=all_namespaces,
        suppress=suppress,
        extra_messages=extra_messages,
    ).messages


def _annotation_suppressions(resources: Sequence[Resource]) -> dict[tuple[str, str, str], set[str]]:
    out: dict[tuple[str, str, str], set[str]] = {}
    for r in resources:
        value = r.metadata.annotations.get(SUPPRESS_ANNOTATION)
        if value:
            out[r.key] = {c.strip() for c in value.split(",") if c.strip()}
    return out
