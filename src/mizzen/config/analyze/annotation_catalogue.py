"""Istio's annotation catalogue, as data: each annotation's name, maturity, deprecation and the kinds it
applies to (from Istio's API repository, ``annotation/annotations.yaml``; the descriptions are not kept).

``annotations.K8sAnalyzer`` and ``annotations.AlphaAnalyzer`` read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Annotation:
    """One annotation Istio defines."""

    name: str
    feature_status: str  # Alpha, Beta or Stable
    deprecated: bool
    resources: tuple[str, ...]  # the kinds it may be set on; "Any" for all


CATALOGUE: tuple[Annotation, ...] = (
    Annotation("alpha.istio.io/canonical-serviceaccounts", "Alpha", True, ("Service",)),
    Annotation("alpha.istio.io/kubernetes-serviceaccounts", "Alpha", True, ("Service",)),
    Annotation("ambient.istio.io/bypass-inbound-capture", "Alpha", False, ("Pod",)),
    Annotation("ambient.istio.io/dns-capture", "Alpha", False, ("Pod",)),
    Annotation("ambient.istio.io/redirection", "Beta", False, ("Pod",)),
    Annotation("ambient.istio.io/waypoint-inbound-binding", "Alpha", False, ("GatewayClass", "Gateway")),
    Annotation("galley.istio.io/analyze-suppress", "Alpha", False, ("Any",)),
    Annotation("gateway.istio.io/controller-version", "Alpha", False, ("Any",)),
    Annotation("gateway.istio.io/name-override", "Alpha", False, ("Gateway",)),
    Annotation("gateway.istio.io/service-account", "Alpha", False, ("Gateway",)),
    Annotation("inject.istio.io/templates", "Alpha", False, ("Pod",)),
    Annotation("istio.io/autoRegistrationGroup", "Alpha", False, ("WorkloadEntry",)),
    Annotation("istio.io/connectedAt", "Alpha", False, ("WorkloadEntry",)),
    Annotation("istio.io/disconnectedAt", "Alpha", False, ("WorkloadEntry",)),
    Annotation("istio.io/dry-run", "Alpha", False, ("AuthorizationPolicy",)),
    Annotation("istio.io/reroute-virtual-interfaces", "Alpha", False, ("Pod",)),
    Annotation("istio.io/rev", "Alpha", False, ("Pod",)),
    Annotation("istio.io/use-waypoint-canary-weight", "Alpha", False, ("Service", "ServiceEntry", "Namespace")),
    Annotation("istio.io/workloadController", "Alpha", False, ("WorkloadEntry",)),
    Annotation("kubernetes.io/ingress.class", "Stable", False, ("Ingress",)),
    Annotation("networking.istio.io/exportTo", "Alpha", False, ("Service",)),
    Annotation("networking.istio.io/service-type", "Alpha", False, ("Gateway",)),
    Annotation("networking.istio.io/traffic-distribution", "Alpha", False, ("Namespace", "Service", "ServiceEntry")),
    Annotation("prometheus.istio.io/merge-metrics", "Alpha", False, ("Pod",)),
    Annotation("proxy.istio.io/config", "Beta", False, ("Pod",)),
    Annotation("proxy.istio.io/overrides", "Alpha", False, ("Pod",)),
    Annotation("readiness.status.sidecar.istio.io/applicationPorts", "Alpha", False, ("Pod",)),
    Annotation("readiness.status.sidecar.istio.io/failureThreshold", "Alpha", False, ("Pod",)),
    Annotation("readiness.status.sidecar.istio.io/initialDelaySeconds", "Alpha", False, ("Pod",)),
    Annotation("readiness.status.sidecar.istio.io/periodSeconds", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/agentLogLevel", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/bootstrapOverride", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/componentLogLevel", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/discoveryAddress", "Alpha", True, ("Pod",)),
    Annotation("sidecar.istio.io/extraStatTags", "Alpha", True, ("Pod",)),
    Annotation("sidecar.istio.io/inject", "Beta", True, ("Pod",)),
    Annotation("sidecar.istio.io/interceptionMode", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/logLevel", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/nativeSidecar", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/proxyCPU", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/proxyCPULimit", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/proxyImage", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/proxyImageType", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/proxyMemory", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/proxyMemoryLimit", "", False, ("Pod",)),
    Annotation("sidecar.istio.io/rewriteAppHTTPProbers", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/statsCompression", "Alpha", True, ("Pod",)),
    Annotation("sidecar.istio.io/statsEvictionInterval", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/statsFlushInterval", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/statsHistogramBins", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/statsHistogramBuckets", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/statsInclusionPrefixes", "Alpha", True, ("Pod",)),
    Annotation("sidecar.istio.io/statsInclusionRegexps", "Alpha", True, ("Pod",)),
    Annotation("sidecar.istio.io/statsInclusionSuffixes", "Alpha", True, ("Pod",)),
    Annotation("sidecar.istio.io/status", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/userVolume", "Alpha", False, ("Pod",)),
    Annotation("sidecar.istio.io/userVolumeMount", "", False, ("Pod",)),
    Annotation("status.sidecar.istio.io/port", "Alpha", False, ("Pod",)),
    Annotation("topology.istio.io/controlPlaneClusters", "Alpha", False, ("Namespace",)),
    Annotation("traffic.istio.io/nodeSelector", "Stable", False, ("Service",)),
    Annotation("traffic.sidecar.istio.io/excludeInboundPorts", "Alpha", False, ("Pod",)),
    Annotation("traffic.sidecar.istio.io/excludeInterfaces", "Alpha", False, ("Pod",)),
    Annotation("traffic.sidecar.istio.io/excludeOutboundIPRanges", "Alpha", False, ("Pod",)),
    Annotation("traffic.sidecar.istio.io/excludeOutboundPorts", "Alpha", False, ("Pod",)),
    Annotation("traffic.sidecar.istio.io/includeInboundPorts", "", False, ("Pod",)),
    Annotation("traffic.sidecar.istio.io/includeOutboundIPRanges", "Alpha", False, ("Pod",)),
    Annotation("traffic.sidecar.istio.io/includeOutboundPorts", "Alpha", False, ("Pod",)),
    Annotation("traffic.sidecar.istio.io/kubevirtInterfaces", "Alpha", True, ("Pod",)),
)

BY_NAME = {a.name: a for a in CATALOGUE}
