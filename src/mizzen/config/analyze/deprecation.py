"""``deprecation.DeprecationAnalyzer`` (IST0002): fields Istio has deprecated or ignores.

Istio reports the integer ``fault.delay.percent`` and a Sidecar's ``egressProxy``; its validation
warns about other deprecated fields (``mirrorPercent``, ``consecutiveErrors``), which appear as IST0133.
"""

from __future__ import annotations

from . import messages as m
from .context import Context, spec_list, spec_map


def analyze_deprecated_fields(ctx: Context) -> None:
    """A delay given as a whole percent, and the ignored Sidecar egress proxy."""
    for vs in ctx.of("VirtualService"):
        for i, rule in enumerate(spec_list(vs.spec.get("http"))):
            delay = spec_map(spec_map(spec_map(rule).get("fault")).get("delay"))
            percent = delay.get("percent")
            if isinstance(percent, int | float) and not isinstance(percent, bool) and percent > 0:
                ctx.report(
                    m.DEPRECATED,
                    vs,
                    "HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage",
                    path=f"spec.http[{i}].fault.delay.percent",
                )
    for sc in ctx.of("Sidecar"):
        if isinstance(spec_map(sc.spec.get("outboundTrafficPolicy")).get("egressProxy"), dict):
            ctx.report(
                m.DEPRECATED,
                sc,
                "OutboundTrafficPolicy.EgressProxy ignored",
                path="spec.outboundTrafficPolicy.egressProxy",
            )
