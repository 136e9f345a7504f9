"""The catalogue of analysis messages: Istio's codes, names, levels and templates.

The strings here are a compatibility contract: users grep for them, and Istio's documentation
explains each code at ``https://istio.io/latest/docs/reference/config/analysis/<code>/``. Templates
use Python ``%`` formatting; Go's ``%q`` becomes :func:`quote` applied by the caller and ``%v``
of a list becomes :func:`go_list`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Level = Literal["Error", "Warning", "Info"]

LEVEL_ORDER: dict[str, int] = {"Error": 0, "Warning": 1, "Info": 2}
"""Sort order of levels, most severe first (as istioctl sorts its output)."""

DOCS_BASE = "https://istio.io/latest/docs/reference/config/analysis"


@dataclass(frozen=True)
class MessageType:
    """One entry of the catalogue."""

    code: str
    name: str
    level: Level
    template: str
    description: str

    @property
    def documentation_url(self) -> str:
        """The page of Istio's reference that explains this code."""
        return f"{DOCS_BASE}/{self.code.lower()}/?ref=istioctl-analyze"

    def render(self, *args: object) -> str:
        """The message text: the template with ``args`` filled in (a template without arguments as is)."""
        return self.template % args if args else self.template


def _t(code: str, name: str, level: Level, template: str, description: str) -> MessageType:
    return MessageType(code, name, level, template, description)


DEPRECATED = _t(
    "IST0002",
    "Deprecated",
    "Warning",
    "Deprecated: %s",
    "A feature that the configuration is depending on is now deprecated.",
)
REFERENCED_RESOURCE_NOT_FOUND = _t(
    "IST0101",
    "ReferencedResourceNotFound",
    "Error",
    "Referenced %s not found: %s",
    "A resource being referenced does not exist.",
)
SCHEMA_VALIDATION_ERROR = _t(
    "IST0106",
    "SchemaValidationError",
    "Error",
    "Schema validation error: %s",
    "The resource has a schema validation error.",
)
SCHEMA_WARNING = _t(
    "IST0133",
    "SchemaWarning",
    "Warning",
    "Schema validation warning: %s",
    "The resource has a schema validation warning.",
)
CONFLICTING_MESH_GATEWAY_VS_HOSTS = _t(
    "IST0109",
    "ConflictingMeshGatewayVirtualServiceHosts",
    "Error",
    "The VirtualServices %s associated with mesh gateway define the same host %s which can lead to undefined "
    "behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
    "Conflicting hosts on VirtualServices associated with mesh gateway",
)
CONFLICTING_SIDECAR_WORKLOAD_SELECTORS = _t(
    "IST0110",
    "ConflictingSidecarWorkloadSelectors",
    "Error",
    "The Sidecars %s in namespace %s select the same workload pod %s, which can lead to undefined behavior.",
    "A Sidecar resource selects the same workloads as another Sidecar resource",
)
MULTIPLE_SIDECARS_WITHOUT_SELECTORS = _t(
    "IST0111",
    "MultipleSidecarsWithoutWorkloadSelectors",
    "Error",
    "The Sidecars %s in namespace %s have no workload selector, which can lead to undefined behavior.",
    "More than one sidecar resource in a namespace has no workload selector",
)
VS_DESTINATION_PORT_SELECTOR_REQUIRED = _t(
    "IST0112",
    "VirtualServiceDestinationPortSelectorRequired",
    "Error",
    "This VirtualService routes to a service %s that exposes multiple ports %s. Specifying a port in the "
    "destination is required to disambiguate.",
    "A VirtualService routes to a service with more than one port exposed, but does not specify which to use.",
)
PORT_NAME_NOT_UNDER_NAMING_CONVENTION = _t(
    "IST0118",
    "PortNameIsNotUnderNamingConvention",
    "Info",
    "Port name %s (port: %d, targetPort: %s) doesn't follow the naming convention of Istio port.",
    "Port name is not under naming convention. Protocol detection is applied to the port.",
)
NO_SERVER_CERT_VERIFICATION_DESTINATION = _t(
    "IST0128",
    "NoServerCertificateVerificationDestinationLevel",
    "Warning",
    "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate "
    "server identity for host: %s",
    "No caCertificates are set in DestinationRule, this results in no verification of presented server certificate.",
)
NO_SERVER_CERT_VERIFICATION_PORT = _t(
    "IST0129",
    "NoServerCertificateVerificationPortLevel",
    "Warning",
    "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate "
    "server identity for host: %s at port %s",
    "No caCertificates are set in DestinationRule, this results in no verification of presented server "
    "certificate for traffic to a given port.",
)
VS_UNREACHABLE_RULE = _t(
    "IST0130",
    "VirtualServiceUnreachableRule",
    "Warning",
    "VirtualService rule %s not used (%s).",
    "A VirtualService rule will never be used because a previous rule uses the same match.",
)
VS_INEFFECTIVE_MATCH = _t(
    "IST0131",
    "VirtualServiceIneffectiveMatch",
    "Info",
    "VirtualService rule %s match %s is not used (duplicate/overlapping match in rule %s).",
    "A VirtualService rule match duplicates a match in a previous rule.",
)
VS_HOST_NOT_FOUND_IN_GATEWAY = _t(
    "IST0132",
    "VirtualServiceHostNotFoundInGateway",
    "Warning",
    "one or more host %s defined in VirtualService %s not found in Gateway %s.",
    "Host defined in VirtualService not found in Gateway.",
)
SERVICE_ENTRY_ADDRESSES_REQUIRED = _t(
    "IST0134",
    "ServiceEntryAddressesRequired",
    "Warning",
    "ServiceEntry addresses are required for this protocol.",
    "Virtual IP addresses are required for ports serving TCP (or unset) protocol",
)
INGRESS_ROUTE_RULES_NOT_AFFECTED = _t(
    "IST0140",
    "IngressRouteRulesNotAffected",
    "Warning",
    "Subset in virtual service %s has no effect on ingress gateway %s requests",
    "Route rules have no effect on ingress gateway requests",
)
CONFLICTING_GATEWAYS = _t(
    "IST0145",
    "ConflictingGateways",
    "Error",
    "Conflict with gateways %s (workload selector %s, port %s, hosts %s).",
    "Gateway should not have the same selector, port and matched hosts of server",
)
GATEWAY_PORT_NOT_DEFINED_ON_SERVICE = _t(
    "IST0162",
    "GatewayPortNotDefinedOnService",
    "Warning",
    "The gateway is listening on a target port (port %d) that is not defined in the Service associated with its "
    "workload instances (Pod selector %s). If you need to access the gateway port through the gateway Service, "
    "it will not be available.",
    "Gateway port not exposed by service",
)
DR_SUBSET_NOT_SELECT_PODS = _t(
    "IST0173",
    "DestinationRuleSubsetNotSelectPods",
    "Error",
    "The Subset %s defined in the DestinationRule does not select any pods. Which may lead to 503 UH "
    "(NoHealthyUpstream).",
    "A DestinationRule subset does not select any pods.",
)
UNKNOWN_DR_HOST = _t(
    "IST0174",
    "UnknownDestinationRuleHost",
    "Warning",
    "The host %s defined in the DestinationRule does not match any services in the mesh.",
    "A DestinationRule host does not match any service in the mesh.",
)
CONFLICTING_SE_PROTOCOL = _t(
    "IST0177",
    "ConflictingServiceEntryProtocol",
    "Warning",
    "Multiple ServiceEntries (%s) define the same host %s and port %d with conflicting protocols (%s).",
    "Multiple ServiceEntries define the same host and port with different protocols.",
)

DEPLOYMENT_MULTIPLE_SERVICES = _t(
    "IST0116",
    "DeploymentAssociatedToMultipleServices",
    "Warning",
    "This deployment %s is associated with multiple services using port %d but different protocols: %s",
    "Services selecting one deployment disagree on the protocol of a port.",
)
NO_MATCHING_WORKLOADS = _t(
    "IST0127",
    "NoMatchingWorkloadsFound",
    "Warning",
    "No matching workloads for this resource with the following labels: %s",
    "No workload matches the policy's selector (or its namespace has none).",
)
DEPLOYMENT_CONFLICTING_PORTS = _t(
    "IST0137",
    "DeploymentConflictingPorts",
    "Warning",
    "This deployment %s is associated with multiple services %s using targetPort %s but different ports: %s.",
    "Services selecting one deployment map the same target port from different ports.",
)
GATEWAY_DUPLICATE_CERTIFICATE = _t(
    "IST0138",
    "GatewayDuplicateCertificate",
    "Warning",
    "Duplicate certificate in multiple gateways %s may cause 404s if clients re-use HTTP2 connections.",
    "Gateways on the same workloads serve the same certificate.",
)
INVALID_APPLICATION_UID = _t(
    "IST0144",
    "InvalidApplicationUID",
    "Warning",
    "User ID (UID) 1337 is reserved for the sidecar proxy.",
    "An application container runs as the UID the sidecar uses.",
)
JWT_CLAIM_ROUTE_WITHOUT_AUTHN = _t(
    "IST0149",
    "JwtClaimBasedRoutingWithoutRequestAuthN",
    "Error",
    "The virtual service uses the JWT claim based routing (key: %s) but found no request authentication for the "
    "gateway (%s) pod (%s). The request authentication must first be applied for the gateway pods to validate the "
    "JWT token and make the claims available for routing.",
    "Routing on JWT claims at a gateway no RequestAuthentication covers.",
)
EXTERNAL_NAME_PORT_NAME = _t(
    "IST0150",
    "ExternalNameServiceTypeInvalidPortName",
    "Warning",
    "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for "
    "ports serving TCP protocol from being forwarded correctly",
    "An ExternalName Service port named so that TCP traffic may not be forwarded.",
)
INVALID_GATEWAY_CREDENTIAL = _t(
    "IST0161",
    "InvalidGatewayCredential",
    "Error",
    "The credential referenced by the Gateway %s in namespace %s is invalid, which can cause the traffic not to "
    "work as expected.",
    "A Gateway's credentialName secret lacks a usable certificate and key.",
)
REFERENCED_INTERNAL_GATEWAY = _t(
    "IST0165",
    "ReferencedInternalGateway",
    "Warning",
    "Gateway reference in VirtualService %s is to an implementation-generated internal Gateway: %s.",
    "A VirtualService names a Gateway generated from a Gateway API resource.",
)
INEFFECTIVE_SELECTOR = _t(
    "IST0166",
    "IneffectiveSelector",
    "Warning",
    "Ineffective selector on Kubernetes Gateway %s. Use the TargetRef field instead.",
    "A policy selects Gateway API gateway pods by label instead of targetRef.",
)
INEFFECTIVE_POLICY = _t(
    "IST0167",
    "IneffectivePolicy",
    "Warning",
    "The policy has no impact: %s.",
    "A policy that cannot take effect (e.g. a Sidecar in an ambient namespace).",
)

CATALOGUE: dict[str, MessageType] = {
    m.code: m
    for m in (
        DEPRECATED,
        REFERENCED_RESOURCE_NOT_FOUND,
        SCHEMA_VALIDATION_ERROR,
        CONFLICTING_MESH_GATEWAY_VS_HOSTS,
        CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
        MULTIPLE_SIDECARS_WITHOUT_SELECTORS,
        VS_DESTINATION_PORT_SELECTOR_REQUIRED,
        PORT_NAME_NOT_UNDER_NAMING_CONVENTION,
        NO_SERVER_CERT_VERIFICATION_DESTINATION,
        NO_SERVER_CERT_VERIFICATION_PORT,
        VS_UNREACHABLE_RULE,
        VS_INEFFECTIVE_MATCH,
        VS_HOST_NOT_FOUND_IN_GATEWAY,
        SCHEMA_WARNING,
        SERVICE_ENTRY_ADDRESSES_REQUIRED,
        INGRESS_ROUTE_RULES_NOT_AFFECTED,
        CONFLICTING_GATEWAYS,
        GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
        DR_SUBSET_NOT_SELECT_PODS,
        UNKNOWN_DR_HOST,
        CONFLICTING_SE_PROTOCOL,
        DEPLOYMENT_MULTIPLE_SERVICES,
        NO_MATCHING_WORKLOADS,
        DEPLOYMENT_CONFLICTING_PORTS,
        GATEWAY_DUPLICATE_CERTIFICATE,
        INVALID_APPLICATION_UID,
        JWT_CLAIM_ROUTE_WITHOUT_AUTHN,
        EXTERNAL_NAME_PORT_NAME,
        INVALID_GATEWAY_CREDENTIAL,
        REFERENCED_INTERNAL_GATEWAY,
        INEFFECTIVE_SELECTOR,
        INEFFECTIVE_POLICY,
    )
}
"""Every message type Mizzen emits, by code."""


def quote(value: str) -> str:
    """Go's ``%q`` for the strings we quote: a double-quoted string with JSON-style escapes."""
    return json.dumps(value, ensure_ascii=False)


def go_list(values: Iterable[object]) -> str:
    """Go's ``%v`` of a slice: ``[a b c]``."""
    return "[" + " ".join(str(v) for v in values) + "]"


@dataclass(frozen=True)
class Message:
    """One finding about one resource, located at a file and line when the resource came from a file."""

    type: MessageType
    kind: str
    namespace: str
    name: str
    text: str
    file: str = ""
    line: int | None = None

    @property
    def code(self) -> str:
        """The catalogue code, e.g. ``IST0101``."""
        return self.type.code

    @property
    def level(self) -> Level:
        """``Error``, ``Warning`` or ``Info``, from the catalogue entry."""
        return self.type.level

    @property
    def documentation_url(self) -> str:
        """The page of Istio's reference that explains this code."""
        return self.type.documentation_url

    @property
    def resource(self) -> str:
        """``VirtualService default/reviews`` as istioctl prints it."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def origin(self) -> str:
        """``reviews.yaml:12`` (or just the file, or ``""`` for live resources)."""
        if self.file and self.line is not None:
            return f"{self.file}:{self.line}"
        return self.file

    def log_line(self) -> str:
        """istioctl's log format: ``Error [IST0101] (VirtualService default/x x.yaml:3) Referenced ...``."""
        where = f"{self.resource} {self.origin}" if self.origin else self.resource
        return f"{self.level} [{self.code}] ({where}) {self.text}"

    def to_json(self) -> dict[str, str]:
        """istioctl's JSON/YAML shape."""
        out = {
            "code": self.code,
            "documentationUrl": self.documentation_url,
            "level": self.level,
            "message": self.text,
            "origin": self.resource,
        }
        if self.origin:
            out["reference"] = self.origin
        return out

    def sort_key(self) -> tuple[int, str, str, str, int, str]:
        """istioctl's output order: most severe level first, then code, resource, file, line and text."""
        return (LEVEL_ORDER[self.level], self.code, self.resource, self.file, self.line or 0, self.text)
