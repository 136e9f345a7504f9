"""IST0002: fields Istio has deprecated or ignores."""

from __future__ import annotations

from . import messages as m
from .context import Context, spec_list, spec_map


def _replaced(old: str, new: str) -> str:
    return f"{old} is deprecated; use {new}"


def analyze_deprecated_fields(ctx: Context) -> None:
    """Deprecated VirtualService/DestinationRule fields and the ignored Sidecar egressProxy."""
    for vs in ctx.of("VirtualService"):
        for i, rule in enumerate(spec_list(vs.spec.get("http"))):
            rule = spec_map(rule)
            delay = spec_map(spec_map(rule.get("fault")).get("delay"))
            percent = delay.get("percent")
            if isinstance(percent, int | float) and percent > 0:
                ctx.report(
                    m.DEPRECATED,
                    vs,
                    _replaced("HTTPRoute.fault.delay.percent", "HTTPRoute.fault.delay.percentage"),
                    path=f"spec.http[{i}].fault.delay.percent",
                )
            if "mirrorPercent" in rule:
                ctx.report(
                    m.DEPRECATED,
                    vs,
                    _replaced("HTTPRoute.mirrorPercent", "HTTPRoute.mirrorPercentage"),
                    path=f"spec.http[{i}].mirrorPercent",
                )
    for dr in ctx.of("DestinationRule"):
        outlier = spec_map(spec_map(dr.spec.get("trafficPolicy")).get("outlierDetection"))
        if "consecutiveErrors" in outlier:
            ctx.report(
                m.DEPRECATED,
                dr,
                _replaced("OutlierDetection.consecutiveErrors", "OutlierDetection.consecutive5xxErrors"),
                path="spec.trafficPolicy.outlierDetection.consecutiveErrors",
            )
    for sc in ctx.of("Sidecar"):
        if spec_map(spec_map(sc.spec.get("outboundTrafficPolicy")).get("egressProxy")):
            ctx.report(
                m.DEPRECATED,
                sc,
                "OutboundTrafficPolicy.EgressProxy ignored",
                path="spec.outboundTrafficPolicy.egressProxy",
            )
