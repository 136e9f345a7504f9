"""``deployment.MultiServiceAnalyzer`` (IST0116, IST0137) and ``applicationUID.Analyzer`` (IST0144):
checks on Kubernetes Deployments and Pods found in the input files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from .authz import INJECT, INJECTION_LABEL
from .context import Context, labels_of, spec_list, spec_map
from .kube import PROXY_CONTAINER, KubeObject

PROXY_UID = 1337
WAYPOINT_LABEL = ("gateway.istio.io/managed", "istio.io-mesh-controller")


def _template(d: KubeObject) -> Mapping[str, Any]:
    return spec_map(d.spec.get("template"))


def _deployment_in_mesh(ctx: Context, d: KubeObject) -> bool:
    meta, spec = spec_map(_template(d).get("metadata")), spec_map(_template(d).get("spec"))
    if any(
        spec_map(c).get("name") == PROXY_CONTAINER and spec_map(c).get("image")
        for c in spec_list(spec.get("containers"))
    ):
        return True
    for values in (labels_of(meta.get("labels")), labels_of(meta.get("annotations"))):
        if INJECT in values:
            return values[INJECT] == "true"
    ns = next((o for o in ctx.kube("Namespace") if o.name == d.namespace), None)
    return ns is not None and ns.labels.get(INJECTION_LABEL) == "enabled"


def analyze_services(ctx: Context) -> None:
    """Services selecting one in-mesh Deployment must agree on port protocols and target ports."""
    for d in ctx.kube("Deployment"):
        if d.labels.get(WAYPOINT_LABEL[0]) == WAYPOINT_LABEL[1] or not _deployment_in_mesh(ctx, d):
            continue
        pod_labels = labels_of(spec_map(_template(d).get("metadata")).get("labels"))
        services = [
            s
            for s in ctx.of("Service")
            if s.namespace == d.namespace and (sel := labels_of(s.spec.get("selector"))) and subset_of(sel, pod_labels)
        ]
        protocols: dict[int, dict[str, list[str]]] = {}
        targets: dict[str, dict[int, str]] = {}
        for s in services:
            ref = f"{s.namespace}/{s.name}"
            for p in (spec_map(p) for p in spec_list(s.spec.get("ports"))):
                port_value = p.get("port")
                number = port_value if isinstance(port_value, int) else 0
                protocols.setdefault(number, {}).setdefault(str(p.get("protocol") or "TCP"), []).append(ref)
                target = str(p.get("targetPort") or "")
                targets.setdefault(target if target not in ("", "0") else str(number), {})[number] = ref
        for port, by_protocol in protocols.items():
            if len(by_protocol) > 1:
                names = sorted(n for refs in by_protocol.values() for n in refs)
                ctx.report_object(m.DEPLOYMENT_MULTIPLE_SERVICES, d, d.name, port, m.go_list(names))
        for target, by_port in targets.items():
            if len(by_port) > 1:
                names, ports = sorted(by_port.values()), sorted(by_port)
                ctx.report_object(
                    m.DEPLOYMENT_CONFLICTING_PORTS, d, d.name, m.go_list(names), m.quote(target), m.go_list(ports)
                )


def _runs_as_proxy(spec: Mapping[str, Any]) -> int:
    """How many times a pod spec runs an application as the proxy's UID (pod level, then per container)."""
    hits = int(spec_map(spec.get("securityContext")).get("runAsUser") == PROXY_UID)
    for c in (spec_map(c) for c in spec_list(spec.get("containers"))):
        if c.get("name") not in (PROXY_CONTAINER, "istio-operator"):
            hits += int(spec_map(c.get("securityContext")).get("runAsUser") == PROXY_UID)
    return hits


def analyze_uids(ctx: Context) -> None:
    """IST0144: an application Pod or Deployment running as UID 1337."""
    for obj in [*ctx.kube("Pod"), *ctx.kube("Deployment")]:
        if "istio" in obj.labels or obj.labels.get("release") == "istio":
            continue
        spec = obj.spec if obj.kind == "Pod" else spec_map(_template(obj).get("spec"))
        for _ in range(_runs_as_proxy(spec)):
            ctx.report_object(m.INVALID_APPLICATION_UID, obj)
