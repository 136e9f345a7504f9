"""Istio's rules for PeerAuthentication and RequestAuthentication (JWT rules, JWKS documents)."""

from __future__ import annotations

import json
import re
from typing import Any

from mizzen.config.codes import violation
from mizzen.config.enforceable import jwt_rule_problems
from mizzen.config.models import parse_spec
from mizzen.config.models.security import JWTRule, PeerAuthentication, RequestAuthentication
from mizzen.config.resource import Resource
from mizzen.config.rules import common, headers, policy_target
from mizzen.config.rules.common import Found

_URL_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Members a JSON Web Key must carry, per key type; "d" (or any "oct" key) is private material.
_JWK_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x"), "oct": ("k",)}


def check_peer_authentication(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one PeerAuthentication."""
    pa: PeerAuthentication = parse_spec(res)
    out: Found = []
    if (pa.selector is None or not pa.selector.match_labels) and pa.port_level_mtls:
        out.append(
            violation(
                "MZ2701", "mesh/namespace peer authentication cannot have port level mTLS", f"{root}.portLevelMtls"
            )
        )
    raw = res.spec.get("portLevelMtls", res.spec.get("port_level_mtls"))
    if isinstance(raw, dict) and not raw:
        out.append(
            violation("MZ2701", "port level mTLS, if defined, must have at least one element", f"{root}.portLevelMtls")
        )
    for port in pa.port_level_mtls:
        path = f"{root}.portLevelMtls.{port}"
        if not (port.isascii() and port.isdigit()) or int(port) > 2**32 - 1:
            out.append(violation("MZ1002", f'port "{port}" is not an unsigned 32-bit number', path))
        elif not 1 <= int(port) <= 65535:
            out.append(violation("MZ2701", "port must be in range 1..65535", path))
    if pa.selector is not None and not common.selector(pa.selector.match_labels, f"{root}.selector.matchLabels", out):
        common.warn("workload selector specified without labels", f"{root}.selector", out)
    return out


def check_request_authentication(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one RequestAuthentication."""
    ra: RequestAuthentication = parse_spec(res)
    out: Found = []
    policy_target.check(ra.selector, ra.target_ref, ra.target_refs, root, out)
    for i, rule in enumerate(ra.jwt_rules):
        _jwt_rule(rule, f"{root}.jwtRules[{i}]", out)
    # Keys Envoy could never obtain (MZ2782); whether a jwksUri is served in the mesh needs the whole
    # config, so `analyze` reports that one (MZ2783).
    out += jwt_rule_problems(ra, lambda host, port: True, root)
    return out


def _bad(message: str, path: str, out: Found) -> None:
    out.append(violation("MZ2703", message, path))


def _jwt_rule(rule: JWTRule, path: str, out: Found) -> None:
    _jwt_issuer(rule, path, out)
    _jwt_locations(rule, path, out)
    _jwt_claim_headers(rule, path, out)


def _jwt_issuer(rule: JWTRule, path: str, out: Found) -> None:
    """Who signs the tokens: audiences, issuer or JWKS URI, the inline JWKS."""
    for i, aud in enumerate(rule.audiences):
        if not aud:
            _bad("audience must be non-empty string", f"{path}.audiences[{i}]", out)
    if not rule.issuer and not rule.jwks_uri:
        _bad("issuer or jwksUri must be non-empty string", path, out)
    if rule.jwks_uri and (problem := jwks_uri_error(rule.jwks_uri)) is not None:
        _bad(problem, f"{path}.jwksUri", out)
    if rule.jwks:
        _jwks(rule.jwks, f"{path}.jwks", out)


def _jwt_locations(rule: JWTRule, path: str, out: Found) -> None:
    """Where the token is read from (headers, query parameters, cookies) and which claims are lists."""
    for i, h in enumerate(rule.from_headers):
        if not h.name:
            _bad("location header name must be non-empty string", f"{path}.fromHeaders[{i}].name", out)
    for field, values, what in (
        ("fromParams", rule.from_params, "location query"),
        ("fromCookies", rule.from_cookies, "cookie name"),
        ("spaceDelimitedClaims", rule.space_delimited_claims, "space delimited claim"),
    ):
        for i, v in enumerate(values):
            if not v:
                _bad(f"{what} must be non-empty string", f"{path}.{field}[{i}]", out)


def _jwt_claim_headers(rule: JWTRule, path: str, out: Found) -> None:
    """``outputClaimToHeaders``: both sides set, the header a valid name."""
    for i, c in enumerate(rule.output_claim_to_headers):
        cp = f"{path}.outputClaimToHeaders[{i}]"
        if not c.claim or not c.header:
            _bad("outputClaimToHeaders header and claim value must be non-empty string", cp, out)
        elif (problem := headers.strict_name_error(c.header)) is not None:
            _bad(problem, f"{cp}.header", out)


def jwks_uri_error(uri: str) -> str | None:
    """Istio accepts an ``http://`` or ``https://`` URL (with a numeric port, if any)."""
    if _CONTROL.search(uri):
        return f'parse "{uri}": net/url: invalid control character in URL'
    m = _URL_SCHEME.match(uri)
    scheme = m.group(1).lower() if m else ""
    if scheme not in ("http", "https"):
        return f'URI scheme "{scheme}" is not supported'
    rest = uri[m.end() :] if m else ""
    if rest.startswith("//"):
        authority = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
        host_port = authority[authority.rfind("]") + 1 :] if authority.startswith("[") else authority
        if ":" in host_port and not host_port.rsplit(":", 1)[1].isdigit() and host_port.rsplit(":", 1)[1]:
            return f'parse "{uri}": invalid port ":{host_port.rsplit(":", 1)[1]}" after host'
    return None


def _jwks(text: str, path: str, out: Found) -> None:
    """A JSON Web Key Set (or a single key); private key material is warned about."""
    keys, problem = parse_jwks(text)
    if problem is not None:
        _bad(f"jwks parse error: {problem}", path, out)
        return
    for i, key in enumerate(keys):
        if key.get("kty") == "oct" or "d" in key:
            common.warn(
                f"jwks key at index {i} contains private key material; only public keys are used for verification",
                path,
                out,
            )


def parse_jwks(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """The keys of a JWKS document, or the reason it does not parse."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return [], f"failed to unmarshal JWK set: {exc}"
    if not isinstance(doc, dict):
        return [], "failed to unmarshal JWK set: not a JSON object"
    raw = doc.get("keys", [doc])
    if not isinstance(raw, list):
        return [], 'failed to unmarshal JWK set: "keys" must be a list'
    for key in raw:
        if not isinstance(key, dict) or key.get("kty") not in _JWK_MEMBERS:
            return [], f"invalid key type: {key.get('kty') if isinstance(key, dict) else key!r}"
        missing = [m for m in _JWK_MEMBERS[key["kty"]] if not isinstance(key.get(m), str)]
        if missing:
            return [], f"failed to parse {key['kty']} key: missing {', '.join(missing)}"
    return raw, None
