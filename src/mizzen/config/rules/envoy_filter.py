"""Istio's rules for EnvoyFilter: its webhook's ``ValidateEnvoyFilter`` and the CRD's constraints.

Per patch, Istio stops at the first problem of the kind that makes the rest meaningless (no applyTo, no
patch, no operation, no value, a bad proxyVersion pattern, a match of the wrong object type, a filter
match without a name); the value is then decoded as the Envoy message ``applyTo`` names
(:mod:`.envoy_api`). Patches whose match context is WAYPOINT are not checked by the webhook beyond the
CRD. Every EnvoyFilter also gets Istio's standing warning that it exposes implementation details.
"""

from __future__ import annotations

import re

from mizzen.config.codes import violation
from mizzen.config.models.common import PolicyTargetReference
from mizzen.config.models.envoy_filter import ConfigPatch, EnvoyFilter, FilterMatch, ObjectMatch
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found
from mizzen.config.schema import build

EXPOSES_INTERNALS = (
    "EnvoyFilter exposes internal implementation details that may change at any time. "
    "Prefer other APIs if possible, and exercise extreme caution, especially around upgrades."
)
NO_LABELS = "Envoy filter: workload selector specified without labels, will be applied to all services in namespace"
HCM = "envoy.filters.network.http_connection_manager"
MAX_PROXY_VERSION = 1024
MAX_TARGET_REFS = 16
_LISTENER_CLASS = frozenset({"LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER"})
_ROUTE_CLASS = frozenset({"ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE"})
_KIND = re.compile(r"[a-zA-Z](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_GROUP = re.compile(r"(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*)?")

# Istio's map of filter names Envoy retired (the old name → the one to use).
DEPRECATED_FILTER_NAMES = {
    "envoy.buffer": "envoy.filters.http.buffer",
    "envoy.cors": "envoy.filters.http.cors",
    "envoy.csrf": "envoy.filters.http.csrf",
    "envoy.http_dynamo_filter": "envoy.filters.http.dynamo",
    "envoy.fault": "envoy.filters.http.fault",
    "envoy.grpc_http1_bridge": "envoy.filters.http.grpc_http1_bridge",
    "envoy.grpc_json_transcoder": "envoy.filters.http.grpc_json_transcoder",
    "envoy.grpc_web": "envoy.filters.http.grpc_web",
    "envoy.gzip": "envoy.filters.http.gzip",
    "envoy.health_check": "envoy.filters.http.health_check",
    "envoy.ip_tagging": "envoy.filters.http.ip_tagging",
    "envoy.lua": "envoy.filters.http.lua",
    "envoy.rate_limit": "envoy.filters.http.ratelimit",
    "envoy.router": "envoy.filters.http.router",
    "envoy.squash": "envoy.filters.http.squash",
    "envoy.listener.http_inspector": "envoy.filters.listener.http_inspector",
    "envoy.listener.original_dst": "envoy.filters.listener.original_dst",
    "envoy.listener.original_src": "envoy.filters.listener.original_src",
    "envoy.listener.proxy_protocol": "envoy.filters.listener.proxy_protocol",
    "envoy.listener.tls_inspector": "envoy.filters.listener.tls_inspector",
    "envoy.client_ssl_auth": "envoy.filters.network.client_ssl_auth",
    # Istio maps "envoy.ext_authz" to both the HTTP and the network filter; which one a Go map keeps
    # varies, the warning does not.
    "envoy.ext_authz": "envoy.filters.network.ext_authz",
    "envoy.http_connection_manager": HCM,
    "envoy.mongo_proxy": "envoy.filters.network.mongo_proxy",
    "envoy.ratelimit": "envoy.filters.network.ratelimit",
    "envoy.redis_proxy": "envoy.filters.network.redis_proxy",
    "envoy.tcp_proxy": "envoy.filters.network.tcp_proxy",
}


def check(res: Resource, root: str) -> Found:
    """Every EnvoyFilter violation (unlocated), with Istio's warnings."""
    spec: EnvoyFilter = build(EnvoyFilter, res.spec)
    out: Found = []
    common.warn(EXPOSES_INTERNALS, root, out)
    _attachment(spec, res, root, out)
    if spec.priority is not None and not -(2**31) <= spec.priority < 2**31:  # the CRD's int32 format
        out.append(violation("MZ3004", f"priority {spec.priority} is not a 32-bit integer", f"{root}.priority"))
    if spec.workload_selector is not None:
        at = f"{root}.workloadSelector"
        found: Found = []
        if not common.selector(spec.workload_selector.labels, f"{at}.labels", found) and not found:
            common.warn(NO_LABELS, at, out)
        if found:  # Istio returns at once: no patch is checked
            return out + found
    for i, patch in enumerate(spec.config_patches):
        _patch(patch, f"{root}.configPatches[{i}]", out)
    return out


def _attachment(spec: EnvoyFilter, res: Resource, root: str, out: Found) -> None:
    """The CRD's rules on how an EnvoyFilter attaches: a selector or targetRefs, never both."""
    selector = any(res.spec.get(key) is not None for key in ("workloadSelector", "workload_selector"))
    refs = any(res.spec.get(key) is not None for key in ("targetRefs", "target_refs"))
    if selector and refs:  # the CRD's CEL rule counts fields present, even empty ones
        out.append(violation("MZ3004", "only one of targetRefs or workloadSelector can be set", root))
    if len(spec.target_refs) > MAX_TARGET_REFS:
        message = f"spec.targetRefs: Too many: {len(spec.target_refs)}: must have at most {MAX_TARGET_REFS} items"
        out.append(violation("MZ3004", message, f"{root}.targetRefs"))
    for i, ref in enumerate(spec.target_refs):
        _target_ref(ref, f"{root}.targetRefs[{i}]", out)


def _target_ref(ref: PolicyTargetReference, path: str, out: Found) -> None:
    if ref.kind and (len(ref.kind) > 63 or not _KIND.fullmatch(ref.kind)):
        out.append(violation("MZ3004", f"kind {ref.kind!r} is not a valid kind name", f"{path}.kind"))
    if ref.group and (len(ref.group) > 253 or not _GROUP.fullmatch(ref.group)):
        out.append(violation("MZ3004", f"group {ref.group!r} is not a valid API group", f"{path}.group"))
    if len(ref.name) > 253:
        out.append(violation("MZ3004", "name may not be longer than 253 characters", f"{path}.name"))
    if ref.namespace:
        out.append(violation("MZ3004", "cross namespace referencing is not currently supported", f"{path}.namespace"))


def _patch(cp: ConfigPatch, path: str, out: Found) -> None:
    """One config patch, in the webhook's order; the first fatal problem ends its checks."""
    match = cp.match
    if match is not None and not _waypoint_consistent(match, f"{path}.match", out):
        return
    if match is not None and match.context == "WAYPOINT":
        return  # Istio's webhook does not check waypoint patches (yet)
    problem = _fatal(cp, path)
    if problem is not None:
        out.append(violation("MZ3004", f"Envoy filter: {problem[0]}", problem[1]))
        return
    assert cp.patch is not None and cp.apply_to is not None  # _fatal checked both
    if match is not None and not _proxy_version(match, f"{path}.match.proxy.proxyVersion", out):
        return
    if match is not None and not _match_lines_up(cp.apply_to, match, f"{path}.match", out):
        return
    if cp.patch.value is not None:
        _value(cp.apply_to, cp.patch.value, f"{path}.patch.value", out)


def _waypoint_consistent(match: ObjectMatch, path: str, out: Found) -> bool:
    """The CRD's rules: a waypoint match exactly when the context is WAYPOINT; its port in 1..65535."""
    if (match.context == "WAYPOINT") != (match.waypoint is not None):
        out.append(violation("MZ3004", "only support waypointMatch when context is WAYPOINT", path))
        return False
    port = match.waypoint.port_number if match.waypoint is not None else None
    if port is not None and not 0 < port <= 65535:
        out.append(violation("MZ3004", "port must be between 1-65535", f"{path}.waypoint.portNumber"))
        return False
    return True


def _fatal(cp: ConfigPatch, path: str) -> tuple[str, str] | None:
    """The problems after which Istio checks nothing more of a patch (its message and field)."""
    if cp.apply_to in (None, "INVALID"):
        return "missing applyTo", f"{path}.applyTo"
    if cp.patch is None:
        return "missing patch", f"{path}.patch"
    if cp.patch.operation in (None, "INVALID"):
        return "missing patch operation", f"{path}.patch.operation"
    if cp.patch.operation != "REMOVE" and cp.patch.value is None:
        return "missing patch value for non-remove operation", f"{path}.patch.value"
    return None


def _proxy_version(match: ObjectMatch, path: str, out: Found) -> bool:
    """A proxyVersion must compile (Go's RE2 dialect); one too long to compile is ignored, with a warning."""
    version = match.proxy.proxy_version if match.proxy is not None else ""
    if not version:
        return True
    if len(version) > MAX_PROXY_VERSION:
        message = f"Envoy filter: proxyVersion match exceeds {MAX_PROXY_VERSION} characters and will be ignored"
        common.warn(message, path, out)
        return True
    found: Found = []
    common.regex(version, path, found, "proxyVersion")
    if found:
        detail = found[0].message.removeprefix('"proxyVersion": ').split("; Istio uses RE2")[0]
        out.append(violation("MZ3004", f"Envoy filter: invalid regex for proxy version, [{detail}]", path))
        return False
    return True


def _match_lines_up(apply_to: str, match: ObjectMatch, path: str, out: Found) -> bool:
    """The match's object type suits ``applyTo``; listener filter matches name what they match."""
    has_object = any(x is not None for x in (match.listener, match.route_configuration, match.cluster))
    if not has_object:
        return True
    if apply_to in _LISTENER_CLASS:
        if match.listener is None:
            message = "Envoy filter: applyTo for listener class objects cannot have non listener match"
            out.append(violation("MZ3004", message, path))
            return False
        chain = match.listener.filter_chain
        if chain is not None and chain.filter is not None:
            return _filter_match(apply_to, chain.filter, f"{path}.listener.filterChain.filter", out)
    elif apply_to in _ROUTE_CLASS and match.route_configuration is None:
        message = "Envoy filter: applyTo for http route class objects cannot have non route configuration match"
        out.append(violation("MZ3004", message, path))
    elif apply_to == "CLUSTER" and match.cluster is None:
        message = "Envoy filter: applyTo for cluster class objects cannot have non cluster match"
        out.append(violation("MZ3004", message, path))
    return True


def _filter_match(apply_to: str, f: FilterMatch, path: str, out: Found) -> bool:
    if apply_to in ("LISTENER", "FILTER_CHAIN"):  # an error in spirit, a warning for compatibility
        common.warn(f"Envoy filter: filter match has no effect when used with {apply_to}", path, out)
    if not f.name:
        out.append(violation("MZ3004", "Envoy filter: filter match has no name to match on", f"{path}.name"))
        return False
    if f.sub_filter is not None:
        sub = f"{path}.subFilter"
        problem = ""
        if apply_to != "HTTP_FILTER":
            problem = "subfilter match can be used with applyTo HTTP_FILTER only"
        elif f.name not in (HCM, "envoy.http_connection_manager"):
            problem = f"subfilter match requires filter match with {HCM}"
        elif not f.sub_filter.name:
            problem, sub = "subfilter match has no name to match on", f"{sub}.name"
        if problem:
            out.append(violation("MZ3004", f"Envoy filter: {problem}", sub))
            return False
    _deprecated_name(f.name, f"{path}.name", out)
    if f.sub_filter is not None:
        _deprecated_name(f.sub_filter.name, f"{path}.subFilter.name", out)
    return True


def _deprecated_name(name: str, path: str, out: Found) -> None:
    if name in DEPRECATED_FILTER_NAMES:
        common.warn(f'using deprecated filter name "{name}"; use "{DEPRECATED_FILTER_NAMES[name]}" instead', path, out)


def _value(apply_to: str, value: object, path: str, out: Found) -> None:
    if not isinstance(value, dict):
        return  # the schema reports a value that is not an object
    # Imported here: protobuf and the Envoy descriptors cost ~140 ms, which loading a file that merely
    # holds some skipped document (a Deployment) should not pay.
    from mizzen.config.rules import envoy_api

    outcome = envoy_api.check_value(apply_to, value)
    if outcome.error is not None:
        message, where = outcome.error
        out.append(violation("MZ3004", message, f"{path}.{where}" if where else path))
    for message, where in outcome.warnings:
        common.warn(message, f"{path}.{where}" if where else path, out)
