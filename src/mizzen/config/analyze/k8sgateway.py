"""``k8sgateway.SelectorAnalyzer`` (IST0166): policies that select Gateway API gateway pods by label,
where only ``targetRef`` takes effect."""

from __future__ import annotations

from . import messages as m
from .context import Context, labels_of, spec_map

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
POLICY_KINDS = ("RequestAuthentication", "AuthorizationPolicy")


def analyze_selectors(ctx: Context) -> None:
    """Report each selector-based policy that matches a gateway pod of its namespace."""
    pods = [p for p in ctx.pods if GATEWAY_NAME_LABEL in p.labels]
    for kind in POLICY_KINDS:
        for policy in ctx.of(kind):
            if isinstance(policy.spec.get("targetRef"), dict) or not isinstance(policy.spec.get("selector"), dict):
                continue
            selector = labels_of(spec_map(policy.spec.get("selector")).get("matchLabels"))
            for pod in pods:
                if pod.namespace == policy.namespace and all(pod.labels.get(k) == v for k, v in selector.items()):
                    ctx.report(m.INEFFECTIVE_SELECTOR, policy, pod.labels[GATEWAY_NAME_LABEL])
