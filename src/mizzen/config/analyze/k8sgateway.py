"""``k8sgateway.SelectorAnalyzer`` (IST0166): policies that select Gateway API gateway pods by label,
where only ``targetRef`` takes effect.

Istio checks RequestAuthentication, AuthorizationPolicy, Telemetry and WasmPlugin; the last two are
read as Kubernetes objects (WasmPlugin from the skipped documents, Telemetry from ``kube.py``'s view).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from .context import Context, labels_of, spec_map
from .kube import Pod

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
POLICY_KINDS = ("RequestAuthentication", "AuthorizationPolicy")
UNRUN_POLICY_KINDS = ("Telemetry", "WasmPlugin")


def analyze_selectors(ctx: Context) -> None:
    """Report each selector-based policy that matches a gateway pod of its namespace."""
    pods = [p for p in ctx.pods if GATEWAY_NAME_LABEL in p.labels]
    for kind in POLICY_KINDS:
        for policy in ctx.of(kind):
            for gateway in _selected_gateways(policy.spec, policy.namespace, pods):
                ctx.report(m.INEFFECTIVE_SELECTOR, policy, gateway)
    for kind in UNRUN_POLICY_KINDS:
        for obj in ctx.kube(kind):
            for gateway in _selected_gateways(obj.spec, obj.namespace, pods):
                ctx.report_object(m.INEFFECTIVE_SELECTOR, obj, gateway)


def _selected_gateways(spec: Mapping[str, Any], namespace: str, pods: list[Pod]) -> list[str]:
    """The gateway names of the gateway pods a selector-based policy matches (none when it has a targetRef)."""
    if isinstance(spec.get("targetRef"), dict) or not isinstance(spec.get("selector"), dict):
        return []
    selector = labels_of(spec_map(spec.get("selector")).get("matchLabels"))
    return [
        pod.labels[GATEWAY_NAME_LABEL] for pod in pods if pod.namespace == namespace and subset_of(selector, pod.labels)
    ]
