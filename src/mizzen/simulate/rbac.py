"""Evaluate generated security filters the way Envoy does: "is this request allowed, and why?".

It reads only the Envoy filter configs the translator built (``envoy.filters.http.jwt_authn``,
``envoy.filters.http.rbac``, ``envoy.filters.network.rbac``), so it checks real output::

    filters = inbound_http_security_filters(http_rbac_filters(authz, ctx), jwt_authn_filter(ras, lookup))
    d = evaluate_http(filters, Request(method="GET", path="/productpage"), Peer.spiffe("default", "sleep"))
    assert d.allowed and d.policy == "ns[default]-policy[allow-get]-rule[0]"

or on a whole inbound listener (:func:`evaluate_listener`), which first picks the filter chain the TLS
inspector would - so a plaintext client of a STRICT port is refused before any policy runs.

Theory of operation
-------------------
Filters run in order. jwt_authn verifies the request's token against its providers' requirement
(invalid -> 401, missing -> continue) and, on success, publishes the token's claims as dynamic metadata
``envoy.filters.http.jwt_authn`` / ``payload``. Each RBAC filter then matches its policies (a policy
matches when any permission and any principal match): ALLOW denies unless one matches, DENY denies if
one matches, LOG only records. ``shadow_rules`` are evaluated and reported, never enforced.

The token is described, not signed: its claims, whether its signature and lifetime check out
(``valid``) and where it is sent. The peer is its verified certificate identity (``principal``, empty
for a plaintext client) and addresses. When several policies match, the first in config order is
reported (Envoy iterates its policy map in its own order).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import re2

JSON = Mapping[str, object]
HCM = "envoy.filters.network.http_connection_manager"
MESH_ALPN = ("istio-peer-exchange", "istio")  # what a client sidecar's ISTIO_MUTUAL offers
JWT_FILTER = "envoy.filters.http.jwt_authn"
RBAC_HTTP = "envoy.filters.http.rbac"
RBAC_NETWORK = "envoy.filters.network.rbac"
_LITERAL = "a-zA-Z0-9-._~%!$&'()+,;:@="  # Envoy's uri_template pchar set


@dataclass(frozen=True)
class Peer:
    """Who connects: the SPIFFE ID of its verified client certificate ("" = plaintext) and addresses."""

    principal: str = ""
    ip: str = "127.0.0.1"  # the connection's remote address (source.ip, ipBlocks)
    remote_ip: str | None = None  # the original client (X-Forwarded-For / PROXY protocol); default ip

    @classmethod
    def spiffe(cls, namespace: str, service_account: str, trust_domain: str = "cluster.local", **kw: str) -> Peer:
        """A mesh workload with an mTLS certificate ``spiffe://<td>/ns/<ns>/sa/<sa>``."""
        return cls(principal=f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}", **kw)


@dataclass(frozen=True)
class Token:
    """A JWT: its claims, whether it verifies (signature, exp/nbf), and where the client puts it."""

    claims: Mapping[str, object]
    valid: bool = True
    header: str | None = "authorization"
    prefix: str = "Bearer "
    param: str | None = None
    cookie: str | None = None


@dataclass(frozen=True)
class Request:
    """An HTTP request (or, for TCP, just the connection fields: port, destination IP, SNI)."""

    method: str = "GET"
    path: str = "/"
    host: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    port: int = 80  # the local port the connection arrived on
    destination_ip: str = "127.0.0.1"
    sni: str = ""
    token: Token | None = None
    metadata: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # set by earlier filters


@dataclass(frozen=True)
class Shadow:
    """A dry-run (shadow rules) result: what the filter would have done."""

    action: str
    allowed: bool
    policy: str | None


@dataclass(frozen=True)
class Decision:
    """The verdict: allowed, the HTTP status, and who decided."""

    allowed: bool
    status: int  # HTTP: 200, 401 (jwt_authn) or 403 (RBAC); TCP: 0
    filter: str = ""  # the deciding filter: "envoy.filters.http.jwt_authn", "envoy.filters.http.rbac[2]"
    policy: str | None = None  # the RBAC policy that matched: the denying one, or the ALLOW one that admitted
    reason: str = ""
    shadow: tuple[Shadow, ...] = ()
    logged: tuple[str, ...] = ()  # AUDIT policies that matched


# -- strings, headers, addresses ---------------------------------------------------------------


def _dict(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> Sequence[object]:
    return value if isinstance(value, list | tuple) else ()


def string_matches(m: Mapping[str, object], value: str) -> bool:
    """Envoy's StringMatcher (exact, prefix, suffix, contains, safe_regex full match; ignore_case)."""
    fold = bool(m.get("ignore_case"))
    v = value.lower() if fold else value

    def norm(key: str) -> str:
        text = str(m[key])
        return text.lower() if fold else text

    if "exact" in m:
        return v == norm("exact")
    if "prefix" in m:
        return v.startswith(norm("prefix"))
    if "suffix" in m:
        return v.endswith(norm("suffix"))
    if "contains" in m:
        return norm("contains") in v
    if "safe_regex" in m:
        return re2.fullmatch(str(_dict(m["safe_regex"]).get("regex", "")), value) is not None
    return False


def _in_cidr(address: str, cidr: Mapping[str, object]) -> bool:
    try:
        net = ipaddress.ip_network(f"{cidr.get('address_prefix')}/{cidr.get('prefix_len', 32)}", strict=False)
        return ipaddress.ip_address(address) in net
    except ValueError:
        return False


def _uri_template_regex(template: str) -> str:
    parts = []
    for seg in template.split("/"):
        parts.append({"*": f"[{_LITERAL}]+", "**": f"[{_LITERAL}/]*"}.get(seg, re2.escape(seg)))
    return "/".join(parts)


@dataclass(frozen=True)
class _Ctx:
    """Everything a matcher may look at."""

    request: Request
    peer: Peer
    metadata: Mapping[str, Mapping[str, object]]  # dynamic metadata by filter name
    http: bool

    def header(self, name: str) -> str | None:
        if not self.http:
            return None
        r = self.request
        special = {":method": r.method, ":path": r.path, ":authority": r.host, "host": r.host}
        if name.lower() in special:
            return special[name.lower()]
        return {k.lower(): v for k, v in r.headers.items()}.get(name.lower())

    def path_only(self) -> str:
        return self.request.path.split("?", 1)[0].split("#", 1)[0]


def _header_matches(m: Mapping[str, object], ctx: _Ctx) -> bool:
    value = ctx.header(str(m.get("name", "")))
    if value is None:
        return False
    if "present_match" in m:
        return bool(m["present_match"])
    if "string_match" in m:
        return string_matches(_dict(m["string_match"]), value)
    return True


def _value_matches(m: Mapping[str, object], value: object) -> bool:
    """Envoy's ValueMatcher on a metadata value (string_match, list_match one_of, or_match, present)."""
    if "string_match" in m:
        return isinstance(value, str) and string_matches(_dict(m["string_match"]), value)
    if "list_match" in m:
        one_of = _dict(_dict(m["list_match"]).get("one_of"))
        return isinstance(value, list) and any(_value_matches(one_of, v) for v in value)
    if "or_match" in m:
        return any(_value_matches(_dict(x), value) for x in _list(_dict(m["or_match"]).get("value_matchers")))
    if "present_match" in m:
        return value is not None
    return False


def _metadata_matches(m: Mapping[str, object], ctx: _Ctx) -> bool:
    value: object = ctx.metadata.get(str(m.get("filter", "")))
    for seg in _list(m.get("path")):
        value = _dict(value).get(str(_dict(seg).get("key")))
        if value is None:
            return False
    return _value_matches(_dict(m.get("value")), value)


# -- permissions and principals ----------------------------------------------------------------


def _set(kind: str, node: Mapping[str, object], key: str) -> Sequence[Mapping[str, object]]:
    return [_dict(x) for x in _list(_dict(node.get(kind)).get(key))]


def permission_matches(p: Mapping[str, object], ctx: _Ctx) -> bool:
    """Envoy's RBAC Permission."""
    return _rule_matches(p, ctx, _PERMISSIONS, "permission")


def principal_matches(p: Mapping[str, object], ctx: _Ctx) -> bool:
    """Envoy's RBAC Principal."""
    return _rule_matches(p, ctx, _PRINCIPALS, "principal")


_Matcher = Callable[[Mapping[str, object], _Ctx], bool]


def _rule_matches(p: Mapping[str, object], ctx: _Ctx, table: Sequence[tuple[str, _Matcher]], what: str) -> bool:
    """A Permission or Principal is a oneof: the first of its table's fields it sets decides."""
    if p.get("any"):
        return True
    for key, matches in table:
        if key in p:
            return matches(p, ctx)
    raise ValueError(f"{what} not modelled: {sorted(p)}")


def _authenticated(p: Mapping[str, object], ctx: _Ctx) -> bool:
    if not ctx.peer.principal:
        return False  # no client certificate: never authenticated
    name = _dict(_dict(p["authenticated"]).get("principal_name"))
    return not name or string_matches(name, ctx.peer.principal)


def _uri_template(p: Mapping[str, object], ctx: _Ctx) -> bool:
    template = str(_dict(_dict(p["uri_template"]).get("typed_config")).get("path_template", ""))
    return ctx.http and re2.fullmatch(_uri_template_regex(template), ctx.path_only()) is not None


def _url_path(p: Mapping[str, object], ctx: _Ctx) -> bool:
    return ctx.http and string_matches(_dict(_dict(p["url_path"]).get("path")), ctx.path_only())


def _source_ip(p: Mapping[str, object], ctx: _Ctx) -> bool:
    return _in_cidr(ctx.peer.ip, _dict(p.get("direct_remote_ip") or p.get("source_ip")))


_PERMISSIONS: tuple[tuple[str, _Matcher], ...] = (
    ("and_rules", lambda p, ctx: all(permission_matches(x, ctx) for x in _set("and_rules", p, "rules"))),
    ("or_rules", lambda p, ctx: any(permission_matches(x, ctx) for x in _set("or_rules", p, "rules"))),
    ("not_rule", lambda p, ctx: not permission_matches(_dict(p["not_rule"]), ctx)),
    ("header", lambda p, ctx: _header_matches(_dict(p["header"]), ctx)),
    ("url_path", _url_path),
    ("uri_template", _uri_template),
    ("destination_port", lambda p, ctx: ctx.request.port == p["destination_port"]),
    ("destination_ip", lambda p, ctx: _in_cidr(ctx.request.destination_ip, _dict(p["destination_ip"]))),
    ("requested_server_name", lambda p, ctx: string_matches(_dict(p["requested_server_name"]), ctx.request.sni)),
    ("metadata", lambda p, ctx: _metadata_matches(_dict(p["metadata"]), ctx)),
)
_PRINCIPALS: tuple[tuple[str, _Matcher], ...] = (
    ("and_ids", lambda p, ctx: all(principal_matches(x, ctx) for x in _set("and_ids", p, "ids"))),
    ("or_ids", lambda p, ctx: any(principal_matches(x, ctx) for x in _set("or_ids", p, "ids"))),
    ("not_id", lambda p, ctx: not principal_matches(_dict(p["not_id"]), ctx)),
    ("authenticated", _authenticated),
    ("direct_remote_ip", _source_ip),
    ("source_ip", _source_ip),
    ("remote_ip", lambda p, ctx: _in_cidr(ctx.peer.remote_ip or ctx.peer.ip, _dict(p["remote_ip"]))),
    ("header", lambda p, ctx: _header_matches(_dict(p["header"]), ctx)),
    ("url_path", _url_path),
    ("metadata", lambda p, ctx: _metadata_matches(_dict(p["metadata"]), ctx)),
)


def _matching_policy(rbac: Mapping[str, object], ctx: _Ctx) -> str | None:
    for name, policy in _dict(rbac.get("policies")).items():
        pol = _dict(policy)
        if any(permission_matches(_dict(x), ctx) for x in _list(pol.get("permissions"))) and any(
            principal_matches(_dict(x), ctx) for x in _list(pol.get("principals"))
        ):
            return name
    return None


def _verdict(rbac: Mapping[str, object], ctx: _Ctx) -> tuple[str, bool, str | None]:
    """(action, allowed, matched policy) of one RBAC rule set."""
    action = str(rbac.get("action", "ALLOW"))
    matched = _matching_policy(rbac, ctx)
    allowed = matched is not None if action == "ALLOW" else (matched is None if action == "DENY" else True)
    return action, allowed, matched


# -- jwt_authn ---------------------------------------------------------------------------------


def _token_at(provider: Mapping[str, object], request: Request) -> Token | None:
    """The request's token if it is sent where ``provider`` looks (default: Bearer header, access_token)."""
    token = request.token
    if token is None:
        return None
    headers = [_dict(h) for h in _list(provider.get("from_headers"))]
    params = [str(x) for x in _list(provider.get("from_params"))]
    cookies = [str(x) for x in _list(provider.get("from_cookies"))]
    if not headers and not params and not cookies:
        headers, params = [{"name": "Authorization", "value_prefix": "Bearer "}], ["access_token"]
    for h in headers:
        prefix = str(h.get("value_prefix", ""))
        if token.header and token.header.lower() == str(h.get("name", "")).lower() and token.prefix == prefix:
            return token
    if token.param and token.param in params:
        return token
    return token if token.cookie and token.cookie in cookies else None


def _verifies(provider: Mapping[str, object], token: Token) -> bool:
    if not token.valid or token.claims.get("iss") != provider.get("issuer"):
        return False
    audiences = [str(a) for a in _list(provider.get("audiences"))]
    aud = token.claims.get("aud")
    have = [str(a) for a in _list(aud)] if isinstance(aud, list) else [str(aud)] if aud is not None else []
    return not audiences or any(a in audiences for a in have)


def _requirement(req: Mapping[str, object], providers: Mapping[str, object], request: Request) -> str:
    """ "ok", "missing" or "failed" for one JwtRequirement."""
    if "provider_name" in req:
        provider = _dict(providers.get(str(req["provider_name"])))
        token = _token_at(provider, request)
        return "missing" if token is None else ("ok" if _verifies(provider, token) else "failed")
    if "allow_missing" in req:
        found = [t for p in providers.values() if (t := _token_at(_dict(p), request)) is not None]
        if not found:
            return "ok"
        return "ok" if any(_verifies(_dict(p), found[0]) for p in providers.values()) else "failed"
    kind = "requires_any" if "requires_any" in req else "requires_all"
    results = [_requirement(_dict(x), providers, request) for x in _list(_dict(req.get(kind)).get("requirements"))]
    if kind == "requires_all":
        return "ok" if all(r == "ok" for r in results) else ("failed" if "failed" in results else "missing")
    return "ok" if "ok" in results else ("failed" if "failed" in results else "missing")


def _payload(config: Mapping[str, object], request: Request) -> Mapping[str, object] | None:
    """The verified claims (space-delimited claims split into lists), as jwt_authn publishes them."""
    token = request.token
    for provider in (_dict(p) for p in _dict(config.get("providers")).values()):
        if token is not None and _token_at(provider, request) is token and _verifies(provider, token):
            split = _list(_dict(provider.get("normalize_payload_in_metadata")).get("space_delimited_claims"))
            claims = dict(token.claims)
            for name in (str(s) for s in split):
                if isinstance(claims.get(name), str):
                    claims[name] = str(claims[name]).split()
            return claims
    return None


# -- filter chains -----------------------------------------------------------------------------


def _jwt(config: Mapping[str, object], request: Request) -> tuple[str, Mapping[str, object] | None]:
    """(requirement status, verified payload) of one jwt_authn filter."""
    rule = _dict(_list(config.get("rules"))[0]) if _list(config.get("rules")) else {}
    status = _requirement(_dict(rule.get("requires")), _dict(config.get("providers")), request)
    return status, (_payload(config, request) if status == "ok" else None)


def _rbac(
    config: Mapping[str, object], ctx: _Ctx, shadows: list[Shadow], logged: list[str]
) -> tuple[str, bool, str | None]:
    """(action, allowed, matched policy) of one RBAC filter; its dry-run verdict and an AUDIT match are
    recorded in ``shadows`` / ``logged``. A filter with only shadow rules allows."""
    if "shadow_rules" in config:
        shadows.append(Shadow(*_verdict(_dict(config["shadow_rules"]), ctx)))
    if "rules" not in config:
        return "", True, None
    action, allowed, matched = _verdict(_dict(config["rules"]), ctx)
    if action == "LOG" and matched is not None:
        logged.append(matched)
    return action, allowed, matched


def _run(filters: Sequence[JSON], request: Request, peer: Peer, http: bool) -> Decision:
    metadata: dict[str, Mapping[str, object]] = dict(request.metadata)
    shadows: list[Shadow] = []
    logged: list[str] = []
    allowed_by: str | None = None  # the ALLOW policy that admitted the request, if one had to
    for i, f in enumerate(filters):
        name, config = str(f.get("name", "")), _dict(f.get("typed_config"))
        label = f"{name}[{i}]"
        if name == JWT_FILTER and http:
            status, payload = _jwt(config, request)
            if status != "ok":
                reason = "Jwt is missing" if status == "missing" else "Jwt verification fails"
                return Decision(False, 401, label, None, reason, tuple(shadows), tuple(logged))
            if payload is not None:
                metadata[JWT_FILTER] = {"payload": payload}
            continue
        if name not in (RBAC_HTTP, RBAC_NETWORK):
            continue
        action, allowed, matched = _rbac(config, _Ctx(request, peer, metadata, http), shadows, logged)
        if action == "ALLOW" and allowed_by is None:
            allowed_by = matched
        if not allowed:
            reason = "RBAC: access denied"
            return Decision(False, 403 if http else 0, label, matched, reason, tuple(shadows), tuple(logged))
    return Decision(True, 200 if http else 0, "", allowed_by, "allowed", tuple(shadows), tuple(logged))


def evaluate_http(filters: Sequence[JSON], request: Request, peer: Peer | None = None) -> Decision:
    """Run an HTTP chain's security filters (jwt_authn, RBAC) on a request: 200, 401 or 403."""
    return _run(filters, request, peer or Peer(), http=True)


def evaluate_tcp(filters: Sequence[JSON], connection: Request, peer: Peer | None = None) -> Decision:
    """Run a TCP chain's network RBAC filters on a connection (``allowed`` False: Envoy closes it)."""
    return _run(filters, connection, peer or Peer(), http=False)


def _chain_accepts(chain: Mapping[str, object], peer: Peer) -> bool:
    """Whether Envoy would pick ``chain`` for the peer: a peer with a certificate speaks mTLS with the
    mesh ALPN (it needs a TLS-terminating chain), one without speaks plaintext."""
    match = _dict(chain.get("filter_chain_match"))
    mtls = bool(peer.principal)
    if str(match.get("transport_protocol", "tls" if mtls else "raw_buffer")) != ("tls" if mtls else "raw_buffer"):
        return False
    alpn = [str(a) for a in _list(match.get("application_protocols"))]
    return not mtls or ("transport_socket" in chain and (not alpn or bool(set(alpn) & set(MESH_ALPN))))


def evaluate_listener(listener: JSON, request: Request, peer: Peer | None = None) -> Decision:
    """Run a whole inbound listener: choose the filter chain as the TLS inspector would, then its HTTP
    or network security filters. No chain for the peer (plaintext to STRICT, mTLS to DISABLE): refused."""
    peer = peer or Peer()
    for chain in (_dict(c) for c in _list(listener.get("filter_chains"))):
        if not _chain_accepts(chain, peer):
            continue
        filters = [_dict(f) for f in _list(chain.get("filters"))]
        hcm = next((f for f in filters if f.get("name") == HCM), None)
        if hcm is not None:
            http_filters = [_dict(f) for f in _list(_dict(hcm.get("typed_config")).get("http_filters"))]
            return evaluate_http(http_filters, request, peer)
        return evaluate_tcp(filters, request, peer)
    return Decision(False, 0, "", None, "no filter chain matches: connection refused")
