"""Run every analyzer over a set of resources and return istioctl-compatible messages.

Theory of operation: the inputs are indexed once into a :class:`~.context.Context`; each analyzer
is a plain function that reads the context and reports messages into it; the runner then drops
suppressed messages, keeps those about the requested namespace, de-duplicates and sorts them the
way istioctl does (level, code, resource, location, text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from mizzen.config.resource import Resource

from . import deprecation, destinationrule, gateway, rules, schema, service, serviceentry, sidecar, virtualservice
from .context import SUPPRESS_ANNOTATION, Context
from .messages import Message

Analyzer = Callable[[Context], None]

ANALYZERS: tuple[tuple[str, Analyzer], ...] = (
    ("schema.ValidationAnalyzer", schema.analyze_schema),
    ("deprecation.DeprecationAnalyzer", deprecation.analyze_deprecated_fields),
    ("virtualservice.DestinationHostAnalyzer", virtualservice.analyze_destination_hosts),
    ("virtualservice.DestinationRuleAnalyzer", virtualservice.analyze_destination_subsets),
    ("virtualservice.GatewayAnalyzer", virtualservice.analyze_gateways),
    ("virtualservice.ConflictingMeshGatewayHostsAnalyzer", virtualservice.analyze_mesh_gateway_hosts),
    ("virtualservice.IngressSubsetAnalyzer", virtualservice.analyze_ingress_subsets),
    ("virtualservice.UnreachableRulesAnalyzer", rules.analyze_unreachable_rules),
    ("gateway.ConflictingGatewayAnalyzer", gateway.analyze_conflicting_gateways),
    ("gateway.IngressGatewayPortAnalyzer", gateway.analyze_gateway_workloads),
    ("destinationrule.PodNotSelectedAnalyzer", destinationrule.analyze_hosts_and_subsets),
    ("destinationrule.CaCertificateAnalyzer", destinationrule.analyze_ca_certificates),
    ("serviceentry.ProtocolAddressesAnalyzer", serviceentry.analyze_addresses),
    ("serviceentry.ConflictingServiceEntryProtocolAnalyzer", serviceentry.analyze_conflicting_protocols),
    ("sidecar.DefaultSelectorAnalyzer", sidecar.analyze_default_selectors),
    ("sidecar.SelectorAnalyzer", sidecar.analyze_selectors),
    ("service.PortNameAnalyzer", service.analyze_port_names),
)
"""Every analyzer, by the name istioctl lists it under (``-L``), in run order."""


class SuppressionError(ValueError):
    """A ``--suppress`` value that is not ``CODE=Kind namespace/name``."""


@dataclass(frozen=True)
class Suppression:
    """Drop messages whose code and ``Kind ns/name`` match these shell-style patterns."""

    code: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Suppression:
        code, sep, resource = text.partition("=")
        if not sep or not code.strip() or not resource.strip():
            raise SuppressionError(f'invalid suppression "{text}": expected CODE=Kind namespace/name')
        return cls(code.strip(), " ".join(resource.split()))

    def matches(self, message: Message) -> bool:
        if not fnmatchcase(message.code, self.code):
            return False
        # Also accept istioctl's older "Kind name.namespace" spelling.
        legacy = f"{message.kind} {message.name}.{message.namespace}"
        return fnmatchcase(message.resource, self.resource) or fnmatchcase(legacy, self.resource)


def analyze(
    resources: Sequence[Resource],
    *,
    workloads: Sequence[Mapping[str, str]] | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
    suppress: Sequence[str] = (),
    extra_messages: Sequence[Message] = (),
) -> list[Message]:
    """Analyze resources and return the sorted, de-duplicated messages.

    ``workloads`` are label sets of running workloads (e.g. gateway and sidecar proxies of the live
    mesh). ``None`` means "unknown": checks that need running workloads (gateway selectors, and
    subset/Sidecar selectors unless WorkloadEntries are among the resources) are skipped rather than
    reporting every selector as matching nothing. ``namespace`` keeps only messages about resources in
    that namespace unless ``all_namespaces``. ``suppress`` takes ``CODE=Kind ns/name`` patterns;
    the annotation ``galley.istio.io/analyze-suppress: "IST0101,IST0102"`` suppresses codes per resource.
    ``extra_messages`` (e.g. the loader's problems, see :func:`.schema.violation_messages`) are filtered,
    de-duplicated and sorted together with the analyzers' own.
    """
    rules_ = [Suppression.parse(s) for s in suppress]
    ctx = Context.build(resources, workloads)
    for _, analyzer in ANALYZERS:
        analyzer(ctx)
    annotated = _annotation_suppressions(resources)
    kept: set[Message] = set()
    for msg in [*ctx.messages, *extra_messages]:
        if any(r.matches(msg) for r in rules_):
            continue
        codes = annotated.get((msg.kind, msg.namespace, msg.name), ())
        if msg.code in codes or "*" in codes:
            continue
        if namespace is not None and not all_namespaces and msg.namespace != namespace:
            continue
        kept.add(msg)
    return sorted(kept, key=Message.sort_key)


def _annotation_suppressions(resources: Sequence[Resource]) -> dict[tuple[str, str, str], set[str]]:
    out: dict[tuple[str, str, str], set[str]] = {}
    for r in resources:
        value = r.metadata.annotations.get(SUPPRESS_ANNOTATION)
        if value:
            out[r.key] = {c.strip() for c in value.split(",") if c.strip()}
    return out
