"""What attaches a security policy to workloads: a label selector or Gateway API style ``targetRef(s)``."""

from __future__ import annotations

from mizzen.config.codes import violation
from mizzen.config.models.common import LabelSelector, PolicyTargetReference
from mizzen.config.rules import common
from mizzen.config.rules.common import Found

# (canonical group, kind) pairs a policy may target; the core group is written "" in a reference.
ALLOWED_TARGETS = (
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
)
_ALLOWED_TEXT = (
    "[/v1/Service networking.istio.io/v1/ServiceEntry gateway.networking.k8s.io/v1/Gateway "
    "gateway.networking.k8s.io/v1/GatewayClass]"
)


def check(
    selector: LabelSelector | None,
    target_ref: PolicyTargetReference | None,
    target_refs: tuple[PolicyTargetReference, ...],
    root: str,
    out: Found,
) -> None:
    """At most one way of attaching; a selector without wildcards (warned when empty); allowed targets."""
    if sum((selector is not None, target_ref is not None, bool(target_refs))) > 1:
        out.append(violation("MZ2016", "only one of targetRefs or workloadSelector can be set", root))
    if selector is not None and not common.selector(selector.match_labels, f"{root}.selector.matchLabels", out):
        common.warn("workload selector specified without labels", f"{root}.selector", out)
    if target_ref is not None:
        _target(target_ref, f"{root}.targetRef", out)
    for i, ref in enumerate(target_refs):
        _target(ref, f"{root}.targetRefs[{i}]", out)


def _target(ref: PolicyTargetReference, path: str, out: Found) -> None:
    if not ref.name:
        out.append(violation("MZ2016", "targetRef name must be set", f"{path}.name"))
    if ref.namespace:
        out.append(
            violation(
                "MZ2016",
                "targetRef namespace must not be set; cross namespace referencing is not currently supported",
                f"{path}.namespace",
            )
        )
    if (ref.group or "core", ref.kind) not in ALLOWED_TARGETS:
        out.append(
            violation(
                "MZ2016", f"targetRef must be to one of {_ALLOWED_TEXT} but was {ref.group or ''}/{ref.kind}", path
            )
        )
