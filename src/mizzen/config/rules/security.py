"""Istio's rules for PeerAuthentication, AuthorizationPolicy and RequestAuthentication."""

from __future__ import annotations

from urllib.parse import urlparse

from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.common import LabelSelector, PolicyTargetReference
from mizzen.config.models.security import (
    AuthorizationPolicy,
    Operation,
    PeerAuthentication,
    RequestAuthentication,
    Source,
)
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found
from mizzen.config.schema import fields_of


def check_peer_authentication(res: Resource, root: str) -> Found:
    """Every rule violation of one PeerAuthentication."""
    pa: PeerAuthentication = parse_spec(res)
    out: Found = []
    _selector(pa.selector, (), root, out)
    if pa.port_level_mtls and (pa.selector is None or not pa.selector.match_labels):
        out.append(violation("MZ2701", "portLevelMtls requires selector", f"{root}.portLevelMtls"))
    for port in pa.port_level_mtls:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            out.append(
                violation("MZ2701", f"port must be in range 1..65535, got {port}", f"{root}.portLevelMtls.{port}")
            )
    return out


def _selector(sel: LabelSelector | None, refs: tuple[PolicyTargetReference, ...], root: str, out: Found) -> None:
    if sel is not None:
        common.labels(sel.match_labels, f"{root}.selector.matchLabels", out)
        if refs:
            out.append(violation("MZ2702", "only one of targetRefs or workloadSelector can be set", root))


def check_authorization_policy(res: Resource, root: str) -> Found:
    """Every rule violation of one AuthorizationPolicy."""
    ap: AuthorizationPolicy = parse_spec(res)
    out: Found = []
    refs = ap.target_refs + ((ap.target_ref,) if ap.target_ref else ())
    _selector(ap.selector, refs, root, out)
    if ap.target_ref is not None and ap.target_refs:
        out.append(violation("MZ2702", "only one of targetRef or targetRefs can be set", root))
    if ap.action == "CUSTOM" and ap.provider is None:
        out.append(violation("MZ2702", "CUSTOM action without `provider`", f"{root}.provider"))
    if ap.provider is not None and ap.action != "CUSTOM":
        out.append(violation("MZ2702", "`provider` must not be set for ALLOW/DENY/AUDIT action", f"{root}.provider"))
    for i, rule in enumerate(ap.rules):
        path = f"{root}.rules[{i}]"
        for j, f in enumerate(rule.from_):
            _source(f.source, f"{path}.from[{j}].source", out)
        for j, t in enumerate(rule.to):
            _operation(t.operation, f"{path}.to[{j}].operation", out)
        for j, cond in enumerate(rule.when):
            if not cond.values and not cond.not_values:
                out.append(
                    violation(
                        "MZ2702",
                        f"at least one of values or notValues must be set for key {cond.key}",
                        f"{path}.when[{j}]",
                    )
                )
    return out


def _empty_values(obj: Source | Operation, path: str, out: Found) -> bool:
    """Report empty strings in list fields; return whether any field is set."""
    any_set = False
    for spec in fields_of(type(obj)):
        values = getattr(obj, spec.attr)
        any_set = any_set or bool(values)
        for k, v in enumerate(values):
            if v == "":
                out.append(violation("MZ2702", "empty value not allowed", f"{path}.{spec.json}[{k}]"))
    return any_set


def _source(src: Source | None, path: str, out: Found) -> None:
    if src is None or not _empty_values(src, path, out):
        out.append(violation("MZ2702", "`from.source` must not be empty", path))
        return
    for field, values in (
        ("ipBlocks", src.ip_blocks),
        ("notIpBlocks", src.not_ip_blocks),
        ("remoteIpBlocks", src.remote_ip_blocks),
        ("notRemoteIpBlocks", src.not_remote_ip_blocks),
    ):
        common.cidrs(values, f"{path}.{field}", out)


def _operation(op: Operation | None, path: str, out: Found) -> None:
    if op is None or not _empty_values(op, path, out):
        out.append(violation("MZ2702", "`to.operation` must not be empty", path))
        return
    for field, ports in (("ports", op.ports), ("notPorts", op.not_ports)):
        for k, p in enumerate(ports):
            if not p.isdigit() or not 1 <= int(p) <= 65535:
                out.append(
                    violation("MZ2702", f'invalid port "{p}": must be a number in 1..65535', f"{path}.{field}[{k}]")
                )


def check_request_authentication(res: Resource, root: str) -> Found:
    """Every rule violation of one RequestAuthentication."""
    ra: RequestAuthentication = parse_spec(res)
    out: Found = []
    refs = ra.target_refs + ((ra.target_ref,) if ra.target_ref else ())
    _selector(ra.selector, refs, root, out)
    for i, rule in enumerate(ra.jwt_rules):
        path = f"{root}.jwtRules[{i}]"
        if rule.jwks_uri:
            url = urlparse(rule.jwks_uri)
            if url.scheme not in ("http", "https") or not url.hostname:
                out.append(
                    violation("MZ2703", f'invalid jwksUri "{rule.jwks_uri}": must be an http(s) URL', f"{path}.jwksUri")
                )
        for j, h in enumerate(rule.from_headers):
            if not h.name:
                out.append(violation("MZ2703", "location header name must be non-empty", f"{path}.fromHeaders[{j}]"))
        for j, c in enumerate(rule.output_claim_to_headers):
            if c.header and c.header.lower() in common.PSEUDO_HEADERS | {"host", ":authority"}:
                out.append(
                    violation(
                        "MZ2703",
                        f"outputClaimToHeaders header {c.header} is not allowed",
                        f"{path}.outputClaimToHeaders[{j}].header",
                    )
                )
    for dup in common.duplicates([r.issuer for r in ra.jwt_rules if r.issuer]):
        out.append(violation("MZ2703", f"duplicate issuer {dup}", f"{root}.jwtRules"))
    return out
