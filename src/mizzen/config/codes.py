"""The catalogue of configuration diagnostics: every code Mizzen reports, with its name and level.

Codes are stable: never renumber, never reuse a retired code. Ranges:
``MZ00xx`` reading and parsing documents, ``MZ10xx`` schema (shape and types),
``MZ20xx`` rules shared by several kinds, ``MZ21xx`` VirtualService, ``MZ22xx`` DestinationRule,
``MZ23xx`` Gateway, ``MZ24xx`` ServiceEntry, ``MZ25xx`` WorkloadEntry/WorkloadGroup,
``MZ26xx`` Sidecar, ``MZ27xx`` security kinds, ``MZ28xx`` Kubernetes core kinds (and what Mizzen reads
but does not run: MZ2804, MZ2805),
``MZ29xx`` Mizzen's own RouteTest (``mizzen test``), ``MZ30xx`` Istio kinds Mizzen validates but does
not run (WasmPlugin, ProxyConfig, EnvoyFilter) and Telemetry, ``MZ31xx`` the Kubernetes Gateway API.
"""

from __future__ import annotations

from dataclasses import dataclass

from mizzen.config.report import Level, Violation


@dataclass(frozen=True)
class Code:
    """One diagnostic in the catalogue."""

    code: str
    name: str
    level: Level
    description: str


_CATALOGUE: tuple[Code, ...] = (
    # -- reading and parsing ------------------------------------------------------------------
    Code("MZ0001", "YamlSyntax", "error", "The file is not valid YAML (or JSON)."),
    Code("MZ0002", "DuplicateKey", "error", "A mapping has the same key twice; Istio's strict decoder rejects it."),
    Code("MZ0003", "NotAMapping", "error", "A document is not a mapping of apiVersion/kind/metadata/spec."),
    Code("MZ0004", "MissingIdentity", "error", "A document lacks apiVersion, kind or metadata.name."),
    Code(
        "MZ0005", "UnsupportedApiVersion", "error", "A kind Mizzen runs, written with an apiVersion it does not serve."
    ),
    Code("MZ0006", "UnreadableInput", "error", "A file or folder could not be read."),
    Code(
        "MZ0007",
        "InvalidMetadata",
        "error",
        "metadata has a field of the wrong type (labels must map strings to strings).",
    ),
    Code(
        "MZ0008",
        "NamespaceMismatch",
        "error",
        "A document names a namespace other than the one given with -n (kubectl refuses it too).",
    ),
    # -- input limits (mizzen.limits: each number and where it comes from) --------------------------
    Code(
        "MZ0091",
        "ExcessiveAliasing",
        "error",
        "A YAML document expands through anchors and aliases past the size limit, or an alias contains itself.",
    ),
    Code("MZ0092", "TooDeep", "error", "A document nests deeper than the nesting limit."),
    Code("MZ0093", "ObjectTooLarge", "error", "An object is larger than Kubernetes' 1.5 MiB object limit."),
    Code("MZ0094", "AnnotationsTooLarge", "error", "An object's annotations total more than Kubernetes' 256 KiB."),
    # -- schema -------------------------------------------------------------------------------
    Code("MZ1001", "UnknownField", "error", "A field that the kind's schema does not define."),
    Code("MZ1002", "WrongType", "error", "A field holds a value of the wrong type."),
    Code("MZ1003", "MissingRequiredField", "error", "A required field is absent or empty."),
    Code("MZ1004", "InvalidEnum", "error", "A field holds a value outside its enumeration."),
    Code("MZ1005", "OneOfConflict", "error", "More than one member of a one-of group is set."),
    Code("MZ1006", "InvalidDuration", "error", "A duration is malformed, below 1ms or not of millisecond precision."),
    Code("MZ1007", "DeprecatedField", "warning", "A deprecated field; Istio still accepts it but may ignore it."),
    # -- rules shared by several kinds --------------------------------------------------------
    Code("MZ2001", "InvalidName", "error", "metadata.name or metadata.namespace is not a valid DNS-1123 name."),
    Code(
        "MZ2002",
        "DuplicateResource",
        "warning",
        "The same kind, namespace and name appears twice in one batch; the later definition is applied "
        "(kubectl applies documents in order).",
    ),
    Code("MZ2003", "InvalidLabel", "error", "A label key or value breaks Kubernetes label syntax."),
    Code("MZ2004", "InvalidHost", "error", "A host name is not a valid FQDN, short name or wildcard."),
    Code("MZ2005", "InvalidPort", "error", "A port number outside 1..65535."),
    Code("MZ2006", "InvalidPercentage", "error", "A percentage outside 0..100."),
    Code("MZ2007", "InvalidRegex", "error", "A regular expression that is empty or does not compile under RE2."),
    Code("MZ2008", "EmptyStringMatch", "error", "A prefix or exact string match that must not be empty."),
    Code("MZ2009", "InvalidExportTo", "error", "An exportTo entry that is not '.', '*', '~' or a namespace name."),
    Code("MZ2010", "InvalidAddress", "error", "An IP address, CIDR or endpoint address that does not parse."),
    Code("MZ2011", "InvalidHeaderName", "error", "A header name that is empty, not lower-case or not allowed here."),
    Code(
        "MZ2012", "InvalidHeaderValue", "error", "A header value Envoy would reject (control characters, a lone '%')."
    ),
    Code(
        "MZ2013",
        "NotAppliedYet",
        "warning",
        "A field Istio acts on that Mizzen accepts but does not apply yet (see docs/istio-differences.md).",
    ),
    Code("MZ2014", "InvalidAnnotation", "error", "An annotation Istio rejects on this kind or with this value."),
    Code("MZ2015", "InvalidSelector", "error", "A workload selector with an empty key or a wildcard."),
    Code(
        "MZ2016",
        "InvalidTargetRef",
        "error",
        "A policy targetRef to an unsupported kind, without name or cross-namespace.",
    ),
    Code("MZ2021", "IstioWarning", "warning", "Istio accepts this configuration but warns about it (Istio's text)."),
    # -- VirtualService -----------------------------------------------------------------------
    Code("MZ2101", "InvalidWeight", "error", "A route destination weight below 0."),
    Code("MZ2102", "ZeroTotalWeight", "error", "All destinations of a route have weight 0."),
    Code("MZ2103", "ConflictingRouteActions", "error", "An HTTP route combines actions Istio forbids together."),
    Code(
        "MZ2104", "MissingRouteAction", "error", "An HTTP route has none of route, redirect, directResponse, delegate."
    ),
    Code("MZ2105", "InvalidFault", "error", "A fault without delay and abort, or with an invalid abort status."),
    Code("MZ2106", "InvalidRedirect", "error", "A redirect with a non-3xx code or conflicting rewrite fields."),
    Code("MZ2107", "MeshWildcardHost", "error", "Host '*' on a VirtualService bound to the mesh gateway."),
    Code("MZ2108", "DuplicateHost", "error", "The same host listed twice in one VirtualService."),
    Code(
        "MZ2109",
        "InvalidDelegate",
        "error",
        "A delegate VirtualService sets hosts, gateways, tcp or tls, or a bad delegate ref.",
    ),
    Code("MZ2111", "InvalidGatewayRef", "error", "A gateway reference that is not 'mesh', a name or namespace/name."),
    Code("MZ2112", "InvalidRetries", "error", "Retries with negative attempts or an invalid retryOn policy."),
    Code(
        "MZ2113", "InvalidDirectResponse", "error", "A directResponse status outside 200..599 or with both body forms."
    ),
    Code(
        "MZ2114", "InvalidTlsRoute", "error", "A tls route without sniHosts or with SNI hosts not among the VS hosts."
    ),
    Code("MZ2115", "InvalidHeaderOperation", "error", "A header operation on a pseudo-header or an empty name."),
    Code("MZ2116", "MissingRoute", "error", "A tcp/tls route with no destination."),
    Code("MZ2117", "InvalidCorsPolicy", "error", "A CORS policy with an empty or invalid method/header list."),
    Code("MZ2118", "UnreachableRule", "warning", "A VirtualService rule that can never match (istioctl IST0130)."),
    Code("MZ2119", "IneffectiveMatch", "warning", "A match already covered by an earlier rule (istioctl IST0131)."),
    Code(
        "MZ2120",
        "JwtClaimRouteWithoutGateway",
        "error",
        "Routing on a JWT claim in a VirtualService not bound to a gateway.",
    ),
    # -- DestinationRule ----------------------------------------------------------------------
    Code("MZ2201", "DuplicateSubset", "error", "Two subsets with the same name."),
    Code("MZ2202", "InvalidSubset", "error", "A subset without a name or with invalid labels."),
    Code(
        "MZ2203",
        "WorkloadSelectorExport",
        "error",
        "A DestinationRule with workloadSelector exported beyond its namespace.",
    ),
    Code("MZ2204", "InvalidTrafficPolicy", "error", "A traffic policy with conflicting or out-of-range settings."),
    Code("MZ2205", "InvalidClientTls", "error", "Client TLS settings that are inconsistent with the mode."),
    # -- Gateway ------------------------------------------------------------------------------
    Code("MZ2301", "NoServers", "error", "A Gateway without servers."),
    Code("MZ2302", "ServerWithoutHosts", "error", "A Gateway server without hosts."),
    Code("MZ2303", "DuplicatePortName", "error", "Two Gateway servers with the same port name."),
    Code("MZ2304", "MissingServerTls", "error", "An HTTPS/TLS server without TLS settings."),
    Code("MZ2305", "InvalidServerTls", "error", "TLS settings inconsistent with the server's protocol or mode."),
    Code("MZ2306", "InvalidProtocol", "error", "A port protocol Istio does not know."),
    # -- ServiceEntry -------------------------------------------------------------------------
    Code("MZ2401", "InvalidResolution", "error", "Endpoints, addresses or hosts inconsistent with the resolution."),
    Code("MZ2402", "InvalidServiceEntryPort", "error", "Missing or duplicate service entry ports or port names."),
    Code("MZ2403", "EndpointsAndSelector", "error", "A ServiceEntry with both endpoints and workloadSelector."),
    # -- WorkloadEntry / WorkloadGroup --------------------------------------------------------
    Code(
        "MZ2501",
        "InvalidWorkloadAddress",
        "error",
        "A WorkloadEntry address that is not an IP, DNS name or unix:// path.",
    ),
    Code("MZ2502", "InvalidWorkloadPorts", "error", "A WorkloadEntry port map with bad names or numbers."),
    Code("MZ2503", "InvalidProbe", "error", "A WorkloadGroup readiness probe Istio rejects."),
    # -- Sidecar ------------------------------------------------------------------------------
    Code("MZ2601", "InvalidEgress", "error", "Sidecar egress listeners out of order, duplicated or without hosts."),
    Code("MZ2602", "InvalidEgressHost", "error", "A Sidecar egress host not in namespace/host form."),
    Code("MZ2603", "InvalidIngress", "error", "A Sidecar ingress listener with a bad port or defaultEndpoint."),
    # -- security kinds -----------------------------------------------------------------------
    Code("MZ2701", "InvalidMtls", "error", "PeerAuthentication port-level mTLS without a selector or with bad ports."),
    Code("MZ2702", "InvalidAuthorizationRule", "error", "An AuthorizationPolicy rule that Istio rejects."),
    Code("MZ2703", "InvalidJwtRule", "error", "A RequestAuthentication JWT rule that Istio rejects."),
    # MZ278x: what Istio enforces and Mizzen cannot (never accepted silently)
    Code("MZ2781", "CustomActionNotSupported", "error", "AuthorizationPolicy action CUSTOM: Mizzen has no ext_authz."),
    Code("MZ2782", "JwksNotResolvable", "error", "A JWT rule without jwks or jwksUri (OpenID discovery is not done)."),
    Code("MZ2783", "JwksUriNotInMesh", "warning", "A jwksUri no mesh service serves: every token will be rejected."),
    Code(
        "MZ2784", "UpstreamTlsNotApplied", "warning", "DestinationRule TLS Istio does not apply: traffic is plaintext."
    ),
    Code(
        "MZ2785",
        "SidecarIngressTlsNotApplied",
        "warning",
        "Sidecar ingress TLS on a port whose PeerAuthentication mode is not DISABLE: Istio keeps mesh mTLS there.",
    ),
    # -- Kubernetes core kinds ----------------------------------------------------------------
    Code("MZ2801", "InvalidServicePort", "error", "A Service port without number, duplicated or badly named."),
    Code("MZ2802", "ServicePortNaming", "warning", "A Service port name that does not follow Istio's protocol naming."),
    Code("MZ2803", "InvalidSecret", "error", "A TLS Secret without tls.crt/tls.key."),
    Code(
        "MZ2804",
        "UnrunKubernetesKind",
        "warning",
        "A Kubernetes kind or field Istio acts on that Mizzen does not run (an endpoint's Pod targetRef), or "
        "an EndpointSlice Istio ignores: it has no effect.",
    ),
    Code(
        "MZ2805",
        "EnvoyFilterNotApplied",
        "warning",
        "An EnvoyFilter Istio accepts: validated with Istio's rules, but Mizzen does not patch Envoy configuration.",
    ),
    Code("MZ2806", "InvalidEndpoints", "error", "An Endpoints or EndpointSlice the Kubernetes API server rejects."),
    # -- RouteTest (mizzen.io) ----------------------------------------------------------------
    Code("MZ2901", "InvalidRouteTestCase", "error", "A RouteTest case whose request or expectation cannot be used."),
    Code(
        "MZ2902", "UnknownTestWorkload", "error", "A RouteTest case from a workload or gateway that is not described."
    ),
    Code("MZ2904", "DuplicateTestWorkload", "error", "Two RouteTest workloads with the same namespace and name."),
    # -- Istio kinds Mizzen validates but does not run ----------------------------------------
    Code("MZ3001", "InvalidTelemetry", "error", "A Telemetry that Istio rejects (providers, tracing, metrics, logs)."),
    Code("MZ3002", "InvalidWasmPlugin", "error", "A WasmPlugin that Istio rejects (url, sha256, VM env, match)."),
    Code("MZ3003", "InvalidProxyConfig", "error", "A ProxyConfig that Istio rejects (negative concurrency)."),
    Code(
        "MZ3004",
        "InvalidEnvoyFilter",
        "error",
        "An EnvoyFilter that Istio rejects (patch, match, proxyVersion, a value that is not the Envoy type).",
    ),
    # -- Kubernetes Gateway API (gateway.networking.k8s.io) -----------------------------------
    Code("MZ3101", "GatewayApiInvalid", "error", "A Gateway API object its CRD's validation (limits, CEL) rejects."),
    Code(
        "MZ3102",
        "GatewayApiKindNotRun",
        "warning",
        "A Gateway API kind Mizzen does not run (ListenerSet, BackendTLSPolicy, ...): skipped, it has no effect.",
    ),
    Code(
        "MZ3103",
        "GatewayApiFieldNotRun",
        "warning",
        "A Gateway API field Istio acts on that Mizzen ignores (deployment parameters, frontend/backend TLS).",
    ),
)

CODES: dict[str, Code] = {c.code: c for c in _CATALOGUE}


def violation(code: str, message: str, path: str = "", *, level: Level | None = None) -> Violation:
    """A :class:`Violation` for ``code`` at ``path``, at the catalogue's level unless ``level`` is given.

    File, line and resource are filled in by whoever knows the document (see ``validate.locate``).
    """
    return Violation(code=code, message=message, path=path, level=level or CODES[code].level)
