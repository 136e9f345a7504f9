"""Istio's messages about the platform around the mesh: injection, webhooks, EnvoyFilters, Telemetry,
status conditions and the control plane's own set-up (codes, levels and templates as Istio's)."""

from __future__ import annotations

from .messages import MessageType

NAMESPACE_NOT_INJECTED = MessageType(
    "IST0102",
    "NamespaceNotInjected",
    "Info",
    "The namespace is not enabled for Istio injection. Run 'kubectl label namespace %s istio-injection=enabled' "
    "to enable it, or 'kubectl label namespace %s istio-injection=disabled' to explicitly mark it as not needing "
    "injection.",
    "A namespace is not enabled for Istio injection.",
)
POD_MISSING_PROXY = MessageType(
    "IST0103",
    "PodMissingProxy",
    "Warning",
    "The pod %s is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.",
    "A pod is missing the Istio proxy.",
)
NAMESPACE_MULTIPLE_INJECTION_LABELS = MessageType(
    "IST0123",
    "NamespaceMultipleInjectionLabels",
    "Warning",
    "The namespace has more than one type of injection labels %s, which may lead to undefined behavior. Make sure "
    "only one injection label exists.",
    "A namespace has more than one type of injection labels",
)
INVALID_WEBHOOK = MessageType(
    "IST0139",
    "InvalidWebhook",
    "Error",
    "%s",
    "Webhook is invalid or references a control plane service that does not exist.",
)
IMAGE_AUTO_WITHOUT_INJECTION_WARNING = MessageType(
    "IST0146",
    "ImageAutoWithoutInjectionWarning",
    "Warning",
    "%s %s contains `image: auto` but does not match any Istio injection webhook selectors.",
    "Deployments with `image: auto` should be targeted for injection.",
)
IMAGE_AUTO_WITHOUT_INJECTION_ERROR = MessageType(
    "IST0147",
    "ImageAutoWithoutInjectionError",
    "Error",
    "%s %s contains `image: auto` but does not match any Istio injection webhook selectors.",
    "Pods with `image: auto` should be targeted for injection.",
)
NAMESPACE_INJECTION_ENABLED_BY_DEFAULT = MessageType(
    "IST0148",
    "NamespaceInjectionEnabledByDefault",
    "Info",
    "is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.",
    "user namespace should be injectable if Istio is installed with enableNamespacesByDefault enabled and neither "
    "injection label is set.",
)
ENVOY_FILTER_RELATIVE_OPERATION = MessageType(
    "IST0151",
    "EnvoyFilterUsesRelativeOperation",
    "Warning",
    "This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the "
    "EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the priority may help in "
    "ensuring the EnvoyFilter is applied correctly.",
    "This EnvoyFilter does not have a priority and has a relative patch operation set.",
)
ENVOY_FILTER_REPLACE_INCORRECTLY = MessageType(
    "IST0152",
    "EnvoyFilterUsesReplaceOperationIncorrectly",
    "Error",
    "The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.",
    "The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.",
)
ENVOY_FILTER_ADD_INCORRECTLY = MessageType(
    "IST0153",
    "EnvoyFilterUsesAddOperationIncorrectly",
    "Error",
    "The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
    "The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
)
ENVOY_FILTER_REMOVE_INCORRECTLY = MessageType(
    "IST0154",
    "EnvoyFilterUsesRemoveOperationIncorrectly",
    "Error",
    "The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
    "The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
)
ENVOY_FILTER_RELATIVE_OPERATION_WITH_PROXY_VERSION = MessageType(
    "IST0155",
    "EnvoyFilterUsesRelativeOperationWithProxyVersion",
    "Warning",
    "This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, "
    "MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using "
    "the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied "
    "correctly.",
    "This EnvoyFilter has a relative patch operation and a proxyVersion, but no priority.",
)
INVALID_TELEMETRY_PROVIDER = MessageType(
    "IST0157",
    "InvalidTelemetryProvider",
    "Warning",
    "The Telemetry %s in namespace %s with empty providers will be ignored.",
    "The Telemetry with empty providers will be ignored",
)
PROXY_IMAGE_MISMATCH_IN_NAMESPACE = MessageType(
    "IST0158",
    "PodsIstioProxyImageMismatchInNamespace",
    "Warning",
    "The Istio proxy images of the pods running in the namespace do not match the image defined in the injection "
    "configuration (pod names: %s). This often happens after upgrading the Istio control-plane and can be fixed by "
    "redeploying the pods.",
    "The Istio proxy image of the pods running in the namespace do not match the image defined in the injection "
    "configuration.",
)
CONFLICTING_TELEMETRY_SELECTORS = MessageType(
    "IST0159",
    "ConflictingTelemetryWorkloadSelectors",
    "Error",
    "The Telemetries %s in namespace %s select the same workload pod %s, which can lead to undefined behavior.",
    "A Telemetry resource selects the same workloads as another Telemetry resource",
)
MULTIPLE_TELEMETRIES_WITHOUT_SELECTORS = MessageType(
    "IST0160",
    "MultipleTelemetriesWithoutWorkloadSelectors",
    "Error",
    "The Telemetries %s in namespace %s have no workload selector, which can lead to undefined behavior.",
    "More than one telemetry resource in a namespace has no workload selector",
)
INVALID_EXTERNAL_CONTROL_PLANE = MessageType(
    "IST0163",
    "InvalidExternalControlPlaneConfig",
    "Warning",
    "The hostname (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control "
    "plane cluster %s. Traffic may not flow properly.",
    "Address for the ingress gateway on the external control plane is not valid",
)
EXTERNAL_CONTROL_PLANE_IP = MessageType(
    "IST0164",
    "ExternalControlPlaneAddressIsNotAHostname",
    "Info",
    "The address (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control "
    "plane cluster is an IP address. This is not recommended for a production environment.",
    "Address for the ingress gateway on the external control plane is an IP address and not a hostname",
)
NEGATIVE_CONDITION_STATUS = MessageType(
    "IST0171",
    "NegativeConditionStatus",
    "Warning",
    "A condition with a negative status is present: type=%s, reason=%s, message=%s.",
    "A condition with a negative status is present",
)
JWKS_URI_FETCH_UNRESTRICTED = MessageType(
    "IST0175",
    "JwksUriFetchUnrestricted",
    "Warning",
    "BLOCKED_CIDRS_IN_JWKS_URIS is not configured but %d RequestAuthentication resource(s) exist (%s). Consider "
    "configuring it to restrict JWKS URI fetches to trusted networks.",
    "RequestAuthentication resources exist but BLOCKED_CIDRS_IN_JWKS_URIS is not configured on istiod.",
)
GATEWAY_API_CRD_BELOW_MINIMUM = MessageType(
    "IST0176",
    "GatewayAPICRDVersionBelowMinimum",
    "Warning",
    "Gateway API CRD %s is at version %s but Istio requires at least %s; resources of this kind will not be "
    "processed. Upgrade the Gateway API CRDs to satisfy the minimum version.",
    "A Gateway API CRD is installed at a version below the minimum required by this Istio version.",
)

PLATFORM_CATALOGUE: dict[str, MessageType] = {
    m.code: m
    for m in (
        NAMESPACE_NOT_INJECTED,
        POD_MISSING_PROXY,
        NAMESPACE_MULTIPLE_INJECTION_LABELS,
        INVALID_WEBHOOK,
        IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
        IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
        NAMESPACE_INJECTION_ENABLED_BY_DEFAULT,
        ENVOY_FILTER_RELATIVE_OPERATION,
        ENVOY_FILTER_REPLACE_INCORRECTLY,
        ENVOY_FILTER_ADD_INCORRECTLY,
        ENVOY_FILTER_REMOVE_INCORRECTLY,
        ENVOY_FILTER_RELATIVE_OPERATION_WITH_PROXY_VERSION,
        INVALID_TELEMETRY_PROVIDER,
        PROXY_IMAGE_MISMATCH_IN_NAMESPACE,
        CONFLICTING_TELEMETRY_SELECTORS,
        MULTIPLE_TELEMETRIES_WITHOUT_SELECTORS,
        INVALID_EXTERNAL_CONTROL_PLANE,
        EXTERNAL_CONTROL_PLANE_IP,
        NEGATIVE_CONDITION_STATUS,
        JWKS_URI_FETCH_UNRESTRICTED,
        GATEWAY_API_CRD_BELOW_MINIMUM,
    )
}
"""The platform message types, by code."""
