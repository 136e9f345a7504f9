"""One AuthorizationPolicy rule -> one Envoy RBAC policy (Istio's ``pilot/pkg/security/authz/model``).

Theory of operation
-------------------
A rule is ``from`` AND ``to`` AND ``when``. Each ``from`` entry becomes one principal and each ``to``
entry one permission (the RBAC policy matches when any principal and any permission do, which is
Istio's "entries are ORed"). Inside an entry every set field is one AND-ed matcher: the OR of its
values, followed by NOT(OR of its ``not`` values). ``when`` conditions are appended to every
principal (identity keys) or permission (connection keys), in the order written.

Some attributes exist only for HTTP (methods, paths, hosts, request principals, request headers,
JWT claims). On a TCP filter chain such an attribute raises :class:`HttpOnly`: for an ALLOW policy the
whole rule is dropped (so nothing it would allow is allowed), for DENY and AUDIT only that attribute
is ignored (so the rule matches more connections). This is Istio's documented behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mizzen.config.models.security import Rule, RuleTo, Source
from mizzen.translate.security import names
from mizzen.translate.security.matchers import (
    MatcherError,
    cidr_range,
    header_matcher,
    jwt_claim_matcher,
    jwt_string_claim,
    metadata_matcher,
    path_permission,
    port_number,
    quote_meta,
    regex_matcher,
    string_matcher,
    string_value_matchers,
    value_matcher_or,
)
from mizzen.translate.security.policy import JSON

Action = Literal["ALLOW", "DENY", "LOG"]
Side = Literal["permission", "principal"]
ValueGen = Callable[["Context", str, str], JSON]  # (context, key, value) -> one matcher
ListGen = Callable[["Context", str, Sequence[str]], JSON]  # "extended": all values in one matcher
CLUSTER_LOCAL = "cluster.local"


class HttpOnly(MatcherError):
    """An HTTP-only attribute on a TCP filter chain."""


class UnknownAttribute(MatcherError):
    """A ``when`` key Istio does not define."""


@dataclass(frozen=True)
class Context:
    """What generation depends on besides the rule."""

    policy_namespace: str
    for_tcp: bool = False
    trust_domain: str = CLUSTER_LOCAL
    trust_domain_aliases: tuple[str, ...] = ()
    # Workload port -> the port the connection really arrives on. Mizzen's sidecar listens on its own
    # port for each workload port, so ``ports: ["9080"]`` must match the listener's port (ports not
    # served here match nothing). Empty: no translation (Istio's own numbers).
    port_map: Mapping[int, int] = field(default_factory=dict)

    def http_only(self, key: str) -> None:
        """Refuse an HTTP-only field when building for a TCP port (Istio then drops the rule)."""
        if self.for_tcp:
            raise HttpOnly(f"{key!r} is HTTP only")


# -- quoting and trust domains ------------------------------------------------------------------


def _trust_domains(ctx: Context) -> list[str]:
    return [ctx.trust_domain, *ctx.trust_domain_aliases]


def _wild(a: str, pattern: str) -> bool:
    """``pattern`` is ``*suffix`` or ``prefix*`` and ``a`` matches it."""
    suffix = pattern.startswith("*") and a.endswith(pattern[1:])
    return suffix or (pattern.endswith("*") and a.startswith(pattern[:-1]))


def _td_matches(td: str, domains: Sequence[str]) -> bool:
    """Istio's trust-domain comparison: equal, ``*``, or a wildcard on either side."""
    return any(td == d or d == "*" or _wild(td, d) or _wild(d, td) for d in domains)


def replace_trust_domain_aliases(ctx: Context, principals: Sequence[str]) -> tuple[str, ...]:
    """A ``td/ns/<ns>/sa/<sa>`` principal of the mesh's trust domain, an alias or ``cluster.local``
    stands for the same identity in every trust domain of the bundle (Istio's trust-domain migration)."""
    out: list[str] = []
    domains = _trust_domains(ctx)
    for principal in principals:
        parts = principal.split("/")
        if len(parts) != 5 or parts[0] == "*" or not (_td_matches(parts[0], domains) or parts[0] == CLUSTER_LOCAL):
            out.append(principal)
            continue
        for td in domains:
            keep = parts[0].startswith("*") and td.endswith(parts[0][1:])
            candidate = principal if keep else "/".join([td, *parts[1:]])
            if candidate not in out:
                out.append(candidate)
    return tuple(out)


def expand_trust_domains(ctx: Context, values: Sequence[str]) -> tuple[str, ...]:
    """``source.trustDomain`` values naming a bundle member stand for every member."""
    out: list[str] = []
    for v in values:
        for item in _trust_domains(ctx) if v in _trust_domains(ctx) else [v]:
            if item not in out:
                out.append(item)
    return tuple(out)


# -- generators ---------------------------------------------------------------------------------


def _authenticated(matcher: JSON) -> JSON:
    return {"authenticated": {"principal_name": matcher}}


def _dest_ip(ctx: Context, key: str, value: str) -> JSON:
    return {"destination_ip": cidr_range(value)}


def _dest_port(ctx: Context, key: str, value: str) -> JSON:
    port = port_number(value)
    if ctx.port_map:
        port = ctx.port_map.get(port, 0)  # port 0 never carries a connection: matches nothing
    return {"destination_port": port}


def _sni(ctx: Context, key: str, value: str) -> JSON:
    return {"requested_server_name": string_matcher(value)}


def _host(ctx: Context, key: str, value: str) -> JSON:
    ctx.http_only(key)
    return {"header": header_matcher(":authority", value, ignore_case=True)}


def _method(ctx: Context, key: str, value: str) -> JSON:
    ctx.http_only(key)
    return {"header": header_matcher(":method", value)}


def _path(ctx: Context, key: str, value: str) -> JSON:
    ctx.http_only(key)
    return path_permission(value)


def _envoy_filter(ctx: Context, key: str, values: Sequence[str]) -> JSON:
    filter_name, sep, path = key.removeprefix("experimental.").removesuffix("]").partition("[")
    if not sep:
        raise MatcherError(f"invalid key: {key}")
    matchers: list[JSON] = []
    for v in values:
        if v.startswith("[") and v.endswith("]"):
            matchers.append({"list_match": {"one_of": {"string_match": string_matcher(v.strip("[]"))}}})
        else:
            matchers.append({"string_match": string_matcher(v)})
    return {"metadata": metadata_matcher(filter_name, [path], value_matcher_or(matchers))}


def _src_ip(ctx: Context, key: str, value: str) -> JSON:
    return {"direct_remote_ip": cidr_range(value)}


def _remote_ip(ctx: Context, key: str, value: str) -> JSON:
    return {"remote_ip": cidr_range(value)}


def _src_namespace(ctx: Context, key: str, value: str) -> JSON:
    regex = ".*".join(quote_meta(part) for part in value.split("*"))
    return _authenticated(regex_matcher(f".*/ns/{regex}/.*"))


def _src_service_account(ctx: Context, key: str, value: str) -> JSON:
    ns, sep, sa = value.partition("/")
    if not sep:
        ns, sa = ctx.policy_namespace, value
    return _authenticated(regex_matcher(f"spiffe://.+/ns/{quote_meta(ns)}/(.+/|)sa/{quote_meta(sa)}(/.+)?"))


def _src_trust_domain(ctx: Context, key: str, value: str) -> JSON:
    if value == "*":
        return _authenticated({"prefix": names.SPIFFE_PREFIX})
    if "*" not in value:
        return _authenticated({"prefix": f"{names.SPIFFE_PREFIX}{value}/"})
    head, _, tail = value.partition("*")
    return _authenticated(regex_matcher(f"spiffe://{quote_meta(head)}[^/]*{quote_meta(tail)}/.*"))


def _src_principal(ctx: Context, key: str, value: str) -> JSON:
    return _authenticated(string_matcher(value, names.SPIFFE_PREFIX))


_ANY_VALUE = regex_matcher(".+")


def _issuer_subject(value: str) -> tuple[JSON, JSON]:
    """(iss matcher, sub matcher) for one ``iss/sub`` request principal (split at the last ``/``)."""
    iss, found, sub = value.rpartition("/")
    if not found:
        iss, sub = value, ""
    if value == "*":
        return _ANY_VALUE, _ANY_VALUE
    if value.startswith("*"):
        if not found:
            return _ANY_VALUE, {"suffix": value[1:]}
        return (_ANY_VALUE if iss == "*" else {"suffix": iss[1:]}), {"exact": sub}
    if value.endswith("*"):
        if not found:
            return {"prefix": value[:-1]}, _ANY_VALUE
        return {"exact": iss}, (_ANY_VALUE if sub == "*" else {"prefix": sub[:-1]})
    return {"exact": iss}, {"exact": sub}


def _request_principal(ctx: Context, key: str, values: Sequence[str]) -> JSON:
    ctx.http_only(key)
    ors: list[JSON] = []
    for v in values:
        iss, sub = _issuer_subject(v)
        ids = [{"metadata": jwt_string_claim("iss", iss)}, {"metadata": jwt_string_claim("sub", sub)}]
        ors.append({"and_ids": {"ids": ids}})
    return ors[0] if len(ors) == 1 else {"or_ids": {"ids": ors}}


def _claims_of(ctx: Context, key: str, claims: Sequence[str], values: Sequence[str]) -> JSON:
    ctx.http_only(key)
    return {"metadata": jwt_claim_matcher(claims, string_value_matchers(values))}


def _audiences(ctx: Context, key: str, values: Sequence[str]) -> JSON:
    return _claims_of(ctx, key, ["aud"], values)


def _presenter(ctx: Context, key: str, values: Sequence[str]) -> JSON:
    return _claims_of(ctx, key, ["azp"], values)


def _claims(ctx: Context, key: str, values: Sequence[str]) -> JSON:
    return _claims_of(ctx, key, claim_path(key.removeprefix("request.auth.claims")), values)


def _request_header(ctx: Context, key: str, value: str) -> JSON:
    ctx.http_only(key)
    return {"header": header_matcher(bracketed(key.removeprefix("request.headers")), value)}


def bracketed(text: str) -> str:
    """``[name]`` -> ``name``."""
    if not (text.startswith("[") and text.endswith("]")):
        raise MatcherError(f"expecting format [<NAME>], but found {text}")
    return text[1:-1]


def claim_path(text: str) -> list[str]:
    """``[a][b]`` -> ``["a", "b"]``; ``[a.b]`` -> ``["a.b"]`` (Istio's nested claim syntax)."""
    parts: list[str] = []
    rest = text
    while rest:
        end = rest.find("]")
        inner = rest[1:end] if rest.startswith("[") and end > 0 else None
        if inner is None or "[" in inner:
            return [bracketed(text)]
        parts.append(inner)
        rest = rest[end + 1 :]
    return parts or [bracketed(text)]


# -- rule lists -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """One key of a principal or permission, with its values, ``not`` values and generator."""

    key: str
    values: tuple[str, ...]
    not_values: tuple[str, ...]
    gen: ValueGen | None = None
    list_gen: ListGen | None = None


def _when_attribute(key: str, values: tuple[str, ...], not_values: tuple[str, ...]) -> tuple[Side, Attribute]:
    """The side and generator of a ``when`` condition key."""
    exact: dict[str, tuple[Side, ValueGen | None, ListGen | None]] = {
        "destination.ip": ("permission", _dest_ip, None),
        "destination.port": ("permission", _dest_port, None),
        "connection.sni": ("permission", _sni, None),
        "source.ip": ("principal", _src_ip, None),
        "remote.ip": ("principal", _remote_ip, None),
        "source.namespace": ("principal", _src_namespace, None),
        "source.trustDomain": ("principal", _src_trust_domain, None),
        "source.serviceAccount": ("principal", _src_service_account, None),
        "source.principal": ("principal", _src_principal, None),
        "request.auth.principal": ("principal", None, _request_principal),
        "request.auth.audiences": ("principal", None, _audiences),
        "request.auth.presenter": ("principal", None, _presenter),
    }
    if key in exact:
        side, gen, list_gen = exact[key]
    elif key.startswith("experimental.envoy.filters."):
        side, gen, list_gen = "permission", None, _envoy_filter
    elif key.startswith("request.headers"):
        side, gen, list_gen = "principal", _request_header, None
    elif key.startswith("request.auth.claims"):
        side, gen, list_gen = "principal", None, _claims
    else:
        raise UnknownAttribute(f"unknown attribute {key}")
    return side, Attribute(key, values, not_values, gen, list_gen)


def _source_attributes(src: Source) -> list[Attribute]:
    """A ``from.source``'s fields in Istio's matcher order."""
    fields = [
        ("source.principal", src.principals, src.not_principals, _src_principal, None),
        ("request.auth.principal", src.request_principals, src.not_request_principals, None, _request_principal),
        ("source.serviceAccount", src.service_accounts, src.not_service_accounts, _src_service_account, None),
        ("source.trustDomain", src.trust_domains, src.not_trust_domains, _src_trust_domain, None),
        ("source.namespace", src.namespaces, src.not_namespaces, _src_namespace, None),
        ("remote.ip", src.remote_ip_blocks, src.not_remote_ip_blocks, _remote_ip, None),
        ("source.ip", src.ip_blocks, src.not_ip_blocks, _src_ip, None),
    ]
    return [Attribute(k, v, n, g, lg) for k, v, n, g, lg in fields if v or n]


def _operation_attributes(rule_to: RuleTo) -> list[Attribute]:
    """A ``to.operation``'s fields in Istio's matcher order."""
    op = rule_to.operation
    if op is None:
        return []
    fields = [
        (":authority", op.hosts, op.not_hosts, _host),
        (":method", op.methods, op.not_methods, _method),
        ("path-matcher", op.paths, op.not_paths, _path),
        ("destination.port", op.ports, op.not_ports, _dest_port),
    ]
    return [Attribute(k, v, n, g) for k, v, n, g in fields if v or n]


@dataclass(frozen=True)
class RuleModel:
    """A rule as lists of attributes: one list per principal and one per permission."""

    principals: tuple[tuple[Attribute, ...], ...]
    permissions: tuple[tuple[Attribute, ...], ...]


def rule_model(rule: Rule) -> RuleModel:
    """Istio's ``model.New``: raises :class:`UnknownAttribute` for an unknown ``when`` key."""
    base: dict[Side, list[Attribute]] = {"permission": [], "principal": []}
    for cond in rule.when:
        side, attr = _when_attribute(cond.key, cond.values, cond.not_values)
        if attr.values or attr.not_values:
            base[side].append(attr)
    principals = [
        tuple(_source_attributes(f.source) if f.source is not None else []) + tuple(base["principal"])
        for f in rule.from_
    ] or [tuple(base["principal"])]
    permissions = [tuple(_operation_attributes(t)) + tuple(base["permission"]) for t in rule.to] or [
        tuple(base["permission"])
    ]
    return RuleModel(principals=tuple(principals), permissions=tuple(permissions))
