"""Istio's analyzers of cluster state found in the input: ``conditions.ConditionAnalyzer`` (IST0171,
negative status conditions), ``k8sgateway.CRDVersionAnalyzer`` (IST0176, Gateway API CRDs too old) and
``authn.BlockedCIDRsAnalyzer`` (IST0175, istiod fetching JWKS URIs anywhere)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mizzen.config.resource import Resource

from . import messages as m
from . import platform_messages as pm
from .context import Context, spec_list, spec_map
from .kube import KubeObject

_WAYPOINT = {"istio.io/WaypointBound": "False"}
_ROUTE = {"Accepted": "False", "Programmed": "False", "ResolvedRefs": "False"}
NEGATIVE: Mapping[str, Mapping[str, str]] = {
    "Service": _WAYPOINT,
    "ServiceEntry": _WAYPOINT,
    "WorkloadEntry": _WAYPOINT,
    "AuthorizationPolicy": {"ZtunnelAccepted": "False", "WaypointAccepted": "False"},
    "k8s.Gateway": _ROUTE,
    "k8s.HTTPRoute": _ROUTE,
    "k8s.GRPCRoute": _ROUTE,
}
"""Per kind, the condition types reported and the status that makes each negative."""

MINIMUM_CRD_VERSIONS: Mapping[str, tuple[int, int, int]] = {
    "grpcroutes.gateway.networking.k8s.io": (1, 1, 0),
    "backendtlspolicies.gateway.networking.k8s.io": (1, 4, 0),
    "tlsroutes.gateway.networking.k8s.io": (1, 5, 0),
    "tcproutes.gateway.networking.k8s.io": (1, 6, 0),
}
"""The Gateway API CRD versions current Istio needs (its ``gatewayapi.MinimumCRDVersions``)."""
BUNDLE_VERSION = "gateway.networking.k8s.io/bundle-version"
_SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _conditions(kind: str, status: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    if kind in ("k8s.HTTPRoute", "k8s.GRPCRoute"):
        return [spec_map(c) for p in spec_list(status.get("parents")) for c in spec_list(spec_map(p).get("conditions"))]
    return [spec_map(c) for c in spec_list(status.get("conditions"))]


def analyze_conditions(ctx: Context) -> None:
    """IST0171 for each negative condition (and an AuthorizationPolicy's partially invalid waypoint)."""
    for kind, negative in NEGATIVE.items():
        targets: list[Resource | KubeObject] = [*ctx.of(kind), *ctx.kube(kind)]
        for target in targets:
            status = target.status if isinstance(target, Resource) else spec_map(target.document.get("status"))
            for c in _conditions(kind, status):
                ctype, reason = str(c.get("type") or ""), str(c.get("reason") or "")
                args = (ctype, reason, str(c.get("message") or ""))
                if negative.get(ctype, "") == str(c.get("status") or ""):  # Go's zero value, kept
                    _report(ctx, target, *args)
                if kind == "AuthorizationPolicy" and ctype == "WaypointAccepted" and reason == "PartiallyInvalid":
                    _report(ctx, target, *args)


def _report(ctx: Context, target: Resource | KubeObject, *args: str) -> None:
    if isinstance(target, Resource):
        ctx.report(pm.NEGATIVE_CONDITION_STATUS, target, *args)
    else:
        ctx.report_object(pm.NEGATIVE_CONDITION_STATUS, target, *args)


def analyze_crd_versions(ctx: Context) -> None:
    """IST0176 for a Gateway API CRD whose bundle version is below Istio's minimum."""
    for crd in ctx.kube("CustomResourceDefinition"):
        minimum = MINIMUM_CRD_VERSIONS.get(crd.name)
        found = _SEMVER.match(crd.annotations.get(BUNDLE_VERSION, ""))
        if minimum is None or found is None:
            continue
        major, minor, patch, pre = int(found[1]), int(found[2] or 0), int(found[3] or 0), found[4]
        if (major, minor, patch) < minimum:
            installed = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
            wanted = ".".join(map(str, minimum))
            ctx.report_object(
                pm.GATEWAY_API_CRD_BELOW_MINIMUM, crd, m.quote(crd.name), m.quote(installed), m.quote(wanted)
            )


def analyze_blocked_cidrs(ctx: Context) -> None:
    """IST0175 on each istiod Deployment without ``BLOCKED_CIDRS_IN_JWKS_URIS`` while RequestAuthentications exist."""
    names = sorted(f"{r.namespace}/{r.name}" for r in ctx.of("RequestAuthentication"))
    if not names:
        return
    shown = ", ".join(names) if len(names) <= 5 else f"{', '.join(names[:5])}, and {len(names) - 5} more"
    for d in ctx.kube("Deployment"):
        if d.labels.get("app") != "istiod":
            continue
        pod_spec = spec_map(spec_map(d.spec.get("template")).get("spec"))
        env = [spec_map(e) for c in spec_list(pod_spec.get("containers")) for e in spec_list(spec_map(c).get("env"))]
        if not any(e.get("name") == "BLOCKED_CIDRS_IN_JWKS_URIS" and e.get("value") for e in env):
            ctx.report_object(pm.JWKS_URI_FETCH_UNRESTRICTED, d, len(names), shown)
