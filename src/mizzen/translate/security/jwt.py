"""RequestAuthentication -> ``envoy.filters.http.jwt_authn`` (Istio's
``pilot/pkg/security/authn/policy_applier.go``, Envoy-fetched JWKS mode).

Every JWT rule of every RequestAuthentication that applies becomes one provider ``origins-<i>``
(rules sorted by issuer). The requirement is "any provider, or no token at all": a request without a
token passes (an AuthorizationPolicy asking for ``requestPrincipals`` then denies it), a request with
an invalid token - bad signature, expired, unknown issuer, wrong audience - gets 401.

The verified payload is written to dynamic metadata ``envoy.filters.http.jwt_authn`` under key
``payload``. That is what Istio's RBAC matchers read for ``requestPrincipals`` (``iss/sub``) and
``request.auth.*`` conditions, so stock Envoy gives the same verdicts without Istio's ``istio_authn``
filter (which only republishes the principal for telemetry).

A ``jwksUri`` is fetched by Envoy itself through the mesh cluster of its host and port (a mesh service
or ServiceEntry); with no such cluster the provider names Istio's would-be cluster, the fetch fails and
every token is rejected (fail closed, flagged by :func:`mizzen.config.enforceable.jwt_rule_problems`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from mizzen.config.enforceable import jwks_host
from mizzen.config.models.security import JWTRule, RequestAuthentication
from mizzen.config.schema import duration_seconds
from mizzen.translate.security import names
from mizzen.translate.security.authz import RbacFilters
from mizzen.translate.security.policy import JSON, Policy

ClusterLookup = Callable[[str, int], "str | None"]
"""(host, port) -> the outbound cluster serving it in this proxy's scope, or ``None``."""

# An RSA public key whose private half was generated for Mizzen and discarded at once: no token can
# be signed for it. Envoy rejects an empty key set (the listener would be NACKed), so a rule whose keys
# Mizzen cannot read gets this one and every token of its issuer fails with 401 (fail closed).
_NO_PRIVATE_KEY_N = (
    "peTKkLSjv7HWT5xQVk8AwxRqpJAwEKYw6f-0OpM8SSJydoA_FvS6KBVAoZQImwlCLHOnPCeqGDDJp9jX7x8W-0sh5EC1ThTL"
    "ISiNnwtOybmHlWRidBRj58q3-ayiji0rQenPC-YBpS144O36iL6CvfnpJJzRk4uy8pFlu2iC5-y5MPPeW-fBY3onCD3txiEb"
    "Gj2rqGdsKtrkW9LmyafiZB62QDNZDbtlYboNRr_2DaBPTS5qlPvC-St71Z4xQW7Aa8fDAWptTYJOrFOMiblbsBQt_ni1mC-Z"
    "IyqyN85OnFEcGz0ospkg9BJBpNZLPDN0IQvN6v3f_AqoN-caSCn5NQ"
)
NO_KEYS = json.dumps(
    {"keys": [{"kty": "RSA", "alg": "RS256", "kid": "mizzen-no-private-key", "e": "AQAB", "n": _NO_PRIVATE_KEY_N}]},
    separators=(",", ":"),
)
"""A key set no token verifies against: used when a rule has no key source Mizzen can read."""


def jwt_rules_of(policies: Sequence[Policy[RequestAuthentication]]) -> list[JWTRule]:
    """The JWT rules of the applying policies, sorted by issuer (stable: policy order breaks ties)."""
    return sorted((rule for p in policies for rule in p.spec.jwt_rules), key=lambda r: r.issuer)


def _proto_duration(text: str | None, default: str) -> str:
    seconds = duration_seconds(text) if text else None
    if seconds is None:
        return default
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def _space_delimited(claims: Sequence[str]) -> list[str]:
    if not claims:
        return list(names.JWT_DEFAULT_SPACE_DELIMITED)
    return sorted(set(claims) | set(names.JWT_DEFAULT_SPACE_DELIMITED))


def _key_source(rule: JWTRule, lookup: ClusterLookup) -> JSON:
    """``remote_jwks`` through the mesh for a ``jwksUri``, ``local_jwks`` for inline ``jwks``."""
    if rule.jwks:
        return {"local_jwks": {"inline_string": rule.jwks}}
    if not rule.jwks_uri:
        return {"local_jwks": {"inline_string": NO_KEYS}}
    target = jwks_host(rule.jwks_uri)
    if target is None:
        return {"local_jwks": {"inline_string": NO_KEYS}}
    host, port = target
    cluster = lookup(host, port) or f"outbound|{port}||{host}"
    http_uri = {"uri": rule.jwks_uri, "cluster": cluster, "timeout": _proto_duration(rule.timeout, "5s")}
    return {"remote_jwks": {"http_uri": http_uri, "cache_duration": "300s"}}


def jwt_provider(rule: JWTRule, lookup: ClusterLookup, *, clear_route_cache: bool = False) -> JSON:
    """One jwt_authn provider for a JWT rule."""
    provider: JSON = {"issuer": rule.issuer}
    if rule.audiences:
        provider["audiences"] = list(rule.audiences)
    provider.update(_key_source(rule, lookup))
    if rule.forward_original_token:
        provider["forward"] = True
    if rule.from_headers:
        provider["from_headers"] = [
            {"name": h.name, **({"value_prefix": h.prefix} if h.prefix else {})} for h in rule.from_headers
        ]
    if rule.from_params:
        provider["from_params"] = list(rule.from_params)
    if rule.from_cookies:
        provider["from_cookies"] = list(rule.from_cookies)
    if rule.output_payload_to_header:
        provider["forward_payload_header"] = rule.output_payload_to_header
    provider["payload_in_metadata"] = names.JWT_PAYLOAD_KEY
    provider["normalize_payload_in_metadata"] = {
        "space_delimited_claims": _space_delimited(rule.space_delimited_claims)
    }
    if rule.output_claim_to_headers:
        provider["claim_to_headers"] = [
            {"header_name": c.header, "claim_name": c.claim} for c in rule.output_claim_to_headers
        ]
    if clear_route_cache:
        provider["clear_route_cache"] = True
    return provider


def _requirement(count: int) -> JSON:
    """Any provider verifies the token, or - for each provider - its token is missing."""
    inner: list[JSON] = [
        {"requires_any": {"requirements": [{"provider_name": names.jwt_provider_name(i)}, {"allow_missing": {}}]}}
        for i in range(count)
    ]
    if count == 1:
        return inner[0]
    either = [{"provider_name": names.jwt_provider_name(i)} for i in range(count)]
    return {"requires_any": {"requirements": [*either, {"requires_all": {"requirements": inner}}]}}


def jwt_authn_config(rules: Sequence[JWTRule], lookup: ClusterLookup, *, clear_route_cache: bool = False) -> JSON:
    """The JwtAuthentication config for ``rules`` (already sorted by issuer)."""
    providers = {
        names.jwt_provider_name(i): jwt_provider(r, lookup, clear_route_cache=clear_route_cache)
        for i, r in enumerate(rules)
    }
    return {
        "@type": names.T_JWT_AUTHN,
        "providers": providers,
        "rules": [{"match": {"prefix": "/"}, "requires": _requirement(len(rules))}],
        "bypass_cors_preflight": True,
    }


def jwt_authn_filter(
    policies: Sequence[Policy[RequestAuthentication]], lookup: ClusterLookup, *, clear_route_cache: bool = False
) -> JSON | None:
    """The jwt_authn HTTP filter for the RequestAuthentications that apply (``None`` for none).

    ``clear_route_cache`` is Istio's choice for gateways, whose routes may match on JWT claims.
    """
    rules = jwt_rules_of(policies)
    if not rules:
        return None
    config = jwt_authn_config(rules, lookup, clear_route_cache=clear_route_cache)
    return {"name": names.JWT_AUTHN, "typed_config": config}


def inbound_http_security_filters(rbac: RbacFilters, jwt: JSON | None) -> list[JSON]:
    """Security HTTP filters in Istio's order, to go before fault/cors/router: CUSTOM, then
    jwt_authn (so RBAC sees the verified payload), then AUDIT, DENY and ALLOW RBAC."""
    return [*rbac.custom, *([jwt] if jwt is not None else []), *rbac.local]
