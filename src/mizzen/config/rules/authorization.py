"""Istio's AuthorizationPolicy rules (``ValidateAuthorizationPolicy``): actions and providers, sources,
operations, conditions and their attribute syntax."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from mizzen.config.codes import violation
from mizzen.config.enforceable import custom_action_not_supported
from mizzen.config.models import parse_spec
from mizzen.config.models.security import AuthorizationPolicy, Condition, Operation, Rule, Source
from mizzen.config.resource import Resource
from mizzen.config.rules import common, hosts, policy_target
from mizzen.config.rules.common import Found

_LITERAL = re.compile(r"[a-zA-Z0-9\-._~%!$&'()+,;:@=]+")
_L4_SOURCE: tuple[str, ...] = ("principals", "not_principals", "ip_blocks", "not_ip_blocks", "namespaces")
_L4_SOURCE += ("not_namespaces", "remote_ip_blocks", "not_remote_ip_blocks", "service_accounts", "not_service_accounts")
_CUSTOM_UNSUPPORTED_SOURCE = (
    ("namespaces", "Namespaces"),
    ("not_namespaces", "NotNamespaces"),
    ("service_accounts", "ServiceAccounts"),
    ("not_service_accounts", "NotServiceAccounts"),
    ("trust_domains", "TrustDomains"),
    ("not_trust_domains", "NotTrustDomains"),
    ("principals", "Principals"),
    ("not_principals", "NotPrincipals"),
    ("request_principals", "RequestPrincipals"),
    ("not_request_principals", "NotRequestPrincipals"),
)
DENY_HTTP_ONLY = (
    "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP "
    "attributes in a DENY rule; it is recommended to explicitly specify the port"
)
NEVER_TRIGGERED = (
    "action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be "
    "triggered for every request"
)


def _bad(message: str, path: str, out: Found) -> None:
    out.append(violation("MZ2702", message, path))


def check(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one AuthorizationPolicy."""
    ap: AuthorizationPolicy = parse_spec(res)
    out: Found = []
    policy_target.check(ap.selector, ap.target_ref, ap.target_refs, root, out)
    action = ap.action or "ALLOW"
    has_rules = bool(ap.rules)  # `rules: []` decodes as unset; `rules: [{}]` is one empty rule
    if action == "CUSTOM":
        _custom(ap, has_rules, root, out)
        out += custom_action_not_supported(ap, root)  # never a quiet "created": Mizzen has no ext_authz
    if ap.provider is not None and action != "CUSTOM":
        _bad(f"`provider` must not be with non CUSTOM action, found {action}", f"{root}.provider", out)
    if action == "DENY" and not has_rules:
        _bad(f"DENY {NEVER_TRIGGERED}", f"{root}.rules", out)
    for i, rule in enumerate(ap.rules):
        _rule(rule, i, action, f"{root}.rules[{i}]", out)
    return out


def _custom(ap: AuthorizationPolicy, has_rules: bool, root: str, out: Found) -> None:
    if not has_rules:
        _bad(f"CUSTOM {NEVER_TRIGGERED}", f"{root}.rules", out)
    elif ap.provider is None or not ap.provider.name:
        _bad("`provider.name` must not be empty", f"{root}.provider", out)
    for i, rule in enumerate(ap.rules):
        for j, f in enumerate(rule.from_):
            for attr, label in _CUSTOM_UNSUPPORTED_SOURCE:
                if f.source is not None and getattr(f.source, attr):
                    _bad(
                        f"From.{label} is currently not supported with CUSTOM action",
                        f"{root}.rules[{i}].from[{j}]",
                        out,
                    )
        for j, cond in enumerate(rule.when):
            key = cond.key
            if key in ("source.namespace", "source.serviceAccount", "source.trustDomain", "source.principal") or (
                key.startswith("request.auth.")
            ):
                _bad(f"{key} is currently not supported with CUSTOM action", f"{root}.rules[{i}].when[{j}]", out)


def _rule(rule: Rule, index: int, action: str, path: str, out: Found) -> None:
    l4_from = l4_to = False
    for j, f in enumerate(rule.from_):
        if f.source is None:
            _bad(f"`from.source` must not be nil, found at rule {index}", f"{path}.from[{j}]", out)
            continue
        _source(f.source, index, f"{path}.from[{j}].source", out)
        l4_from = l4_from or any(getattr(f.source, a) for a in _L4_SOURCE)
    for j, t in enumerate(rule.to):
        if t.operation is None:
            _bad(f"`to.operation` must not be nil, found at rule {index}", f"{path}.to[{j}]", out)
            continue
        _operation(t.operation, index, f"{path}.to[{j}].operation", out)
        l4_to = l4_to or bool(t.operation.ports or t.operation.not_ports)
    for j, cond in enumerate(rule.when):
        _condition(cond, f"{path}.when[{j}]", out)
    has_from = any(f.source is not None for f in rule.from_)
    has_to = any(t.operation is not None for t in rule.to)
    if action == "DENY" and ((has_from and not has_to and not l4_from) or (has_to and not l4_to)):
        common.warn(DENY_HTTP_ONLY, path, out)


def _source(src: Source, index: int, path: str, out: Found) -> None:
    if (src.principals or src.not_principals or src.namespaces or src.not_namespaces) and (
        src.service_accounts or src.not_service_accounts
    ):
        _bad(f"cannot set serviceAccounts with namespaces or principals, found at rule {index}", path, out)
    if not any(
        getattr(src, f)
        for f in (*_L4_SOURCE, "request_principals", "not_request_principals", "trust_domains", "not_trust_domains")
    ):
        _bad(f"`from.source` must not be empty, found at rule {index}", path, out)
    for field in ("ip_blocks", "not_ip_blocks", "remote_ip_blocks", "not_remote_ip_blocks"):
        _ips(getattr(src, field), f"{path}.{common_json(field)}", out)
    for field in ("principals", "request_principals", "namespaces", "ip_blocks", "remote_ip_blocks"):
        for prefix in ("", "not_"):
            _empty_values(getattr(src, prefix + field), prefix + field, path, out)
    for field in ("service_accounts", "not_service_accounts"):
        if (problem := service_account_error(common_label(field), getattr(src, field))) is not None:
            _bad(problem, f"{path}.{common_json(field)}", out)
    for field in ("trust_domains", "not_trust_domains"):
        if (problem := trust_domain_error(common_label(field), getattr(src, field))) is not None:
            _bad(problem, f"{path}.{common_json(field)}", out)


def common_json(field: str) -> str:
    """``not_ip_blocks`` -> ``notIpBlocks``."""
    head, *rest = field.split("_")
    return head + "".join(p.capitalize() for p in rest)


def common_label(field: str) -> str:
    """``not_ip_blocks`` -> ``NotIpBlocks`` (the name Istio's messages use)."""
    return "".join(p.capitalize() for p in field.split("_"))


def _empty_values(values: Sequence[str], field: str, path: str, out: Found) -> None:
    if any(v == "" for v in values):
        _bad(f"empty value not allowed, found in {common_label(field)}", f"{path}.{common_json(field)}", out)


def _operation(op: Operation, index: int, path: str, out: Found) -> None:
    fields = ("ports", "methods", "paths", "hosts", "not_ports", "not_methods", "not_paths", "not_hosts")
    if not any(getattr(op, f) for f in fields):
        _bad(f"`to.operation` must not be empty, found at rule {index}", path, out)
    for field in ("ports", "not_ports"):
        for problem in port_errors(getattr(op, field)):
            _bad(problem, f"{path}.{common_json(field)}", out)
    for field in fields:
        _empty_values(getattr(op, field), field, path, out)
    for field in ("paths", "not_paths"):
        if (bad_path := path_template_error(common_label(field), getattr(op, field))) is not None:
            _bad(bad_path, f"{path}.{common_json(field)}", out)


def _condition(cond: Condition, path: str, out: Found) -> None:
    if not cond.key:
        _bad("`key` must not be empty", f"{path}.key", out)
        return
    if not cond.values and not cond.not_values:
        _bad(f"at least one of `values` or `notValues` must be set for key {cond.key}", path, out)
        return
    for field, values, what in (("values", cond.values, "value"), ("notValues", cond.not_values, "notValue")):
        if (problem := attribute_error(cond.key, values)) is not None:
            _bad(f"invalid `{what}` for `key` {cond.key}: {problem}", f"{path}.{field}", out)


def _ips(values: Sequence[str], path: str, out: Found) -> None:
    for v in values:
        if "/" in v:
            if hosts.subnet_error(v) is not None:
                _bad(f'bad CIDR range ({v}): netip.ParsePrefix("{v}"): invalid prefix', path, out)
        elif not hosts.is_ip(v):
            _bad(f"bad IP address ({v})", path, out)


def port_errors(ports: Sequence[str]) -> list[str]:
    """Ports written as strings: unsigned decimal numbers up to 65535 (0 is accepted)."""
    return [
        f"bad port ({p}): strconv.ParseUint: parsing {p!r}: invalid syntax"
        for p in ports
        if not (p.isascii() and p.isdigit() and int(p) <= 65535)
    ]


def service_account_error(key: str, values: Sequence[str]) -> str | None:
    """``serviceAccount`` or ``namespace/serviceAccount``, no wildcard, at most 16 values."""
    if len(values) > 16:
        return "may not have more than 16 values"
    for v in values:
        if v == "":
            return f"empty value not allowed, found in {key}"
        if "*" in v:
            return f"wildcard not allowed, found in {key}"
        if v.count("/") > 1:
            return f"expected format 'serviceAccount' or 'namespace/serviceAccount', found \"{v}\" in {key}"
        if len(v) > 320:
            return f'value cannot exceed 320 characters, found "{v}" in {key}'
        ns, slash, sa = v.partition("/")
        if slash and not ns:
            return (
                f"expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace \"{v}\" in "
                f"{key}"
            )
        if slash and not sa:
            return (
                f"expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount \"{v}\" "
                f"in {key}"
            )
    return None


def wildcard_error(key: str, values: Sequence[str]) -> str | None:
    """Non-empty values with at most one ``*``, at the start or the end."""
    for v in values:
        if v == "":
            return f"empty value not allowed, found in {key}"
        count = v.count("*")
        if count > 1:
            return f'at most one wildcard is allowed, found in {key}: "{v}"'
        if count == 1 and v != "*" and not v.startswith("*") and not v.endswith("*"):
            return f'wildcard is only allowed at the start or end, found in {key}: "{v}"'
    return None


def trust_domain_error(key: str, values: Sequence[str]) -> str | None:
    """Trust domains: wildcard rules, and no ``/``."""
    if (problem := wildcard_error(key, values)) is not None:
        return problem
    for v in values:
        if "/" in v:
            return f"trust domain must not contain '/', found in {key}: \"{v}\""
    return None


def path_template_error(key: str, paths: Sequence[str]) -> str | None:
    """``{*}`` and ``{**}`` path templates: ``{**}`` last, no other braces, plain literals around them."""
    for original in paths:
        templated = "{*}" in original or "{**}" in original
        path = original.strip("/")
        seen_any = False
        for glob in path.split("/"):
            if glob in ("{*}", "{**}"):
                if seen_any:
                    return f"invalid or unsupported path {path}, found in {key}. {{**}} is not the last operator"
                seen_any = glob == "{**}"
                continue
            if "{" in glob or "}" in glob:
                return (
                    f"invalid or unsupported path {path}, found in {key}. "
                    "Contains '{' or '}' beyond a supported path template"
                )
            if templated and _LITERAL.fullmatch(glob) is None:
                return (
                    f"invalid or unsupported path {path}, found in {key}. "
                    f"Contains segment {glob} with invalid string literal"
                )
    return None


def attribute_error(key: str, values: Sequence[str]) -> str | None:
    """Istio's ``ValidateAttribute``: a known ``when`` key and values of the right form."""
    if any(v == "" for v in values):
        return f"empty value not allowed, found in {key}"
    if key.startswith(("request.headers", "request.auth.claims", "experimental.envoy.filters.")):
        return _map_key_error(key)
    check = _ATTRIBUTE_CHECKS.get(key)
    if check is not None:
        return check(key, values)
    if key.startswith("destination.labels"):
        return f"attribute {key} is replaced by the workload selector"
    return f"unknown attribute: {key}"


def _ip_error(_key: str, values: Sequence[str]) -> str | None:
    bad: Found = []
    _ips(values, "", bad)
    return "; ".join(v.message for v in bad) or None


def _port_error(_key: str, values: Sequence[str]) -> str | None:
    return "; ".join(port_errors(values)) or None


def _any_value(_key: str, _values: Sequence[str]) -> str | None:
    return None


def _replaced_by_namespace(key: str, _values: Sequence[str]) -> str | None:
    return f"attribute {key} is replaced by the metadata.namespace"


def _v1alpha1_only(key: str, _values: Sequence[str]) -> str | None:
    return f"deprecated attribute {key}: only supported in v1alpha1"


# The ``when`` keys Istio knows by exact name, with the check of their values.
_ATTRIBUTE_CHECKS: dict[str, Callable[[str, Sequence[str]], str | None]] = {
    "source.ip": _ip_error,
    "remote.ip": _ip_error,
    "destination.ip": _ip_error,
    "destination.port": _port_error,
    "source.serviceAccount": service_account_error,
    "source.trustDomain": wildcard_error,
    "source.namespace": _any_value,
    "source.principal": _any_value,
    "request.auth.principal": _any_value,
    "request.auth.audiences": _any_value,
    "request.auth.presenter": _any_value,
    "connection.sni": _any_value,
    "destination.namespace": _replaced_by_namespace,
    "destination.name": _v1alpha1_only,
    "destination.user": _v1alpha1_only,
}


def _map_key_error(key: str) -> str | None:
    open_at = key.find("[")
    if key.endswith("]") and 0 < open_at < len(key) - 2:
        return None
    return f"bad key ({key}): should have format a[b]"
