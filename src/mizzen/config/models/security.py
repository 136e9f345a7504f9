"""PeerAuthentication, AuthorizationPolicy and RequestAuthentication (``security.istio.io``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mizzen.config.models.common import LabelSelector, PolicyTargetReference
from mizzen.config.schema import Duration, fld

MtlsMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]


@dataclass(frozen=True)
class MutualTLS:
    """The mTLS mode of a workload or port."""

    mode: MtlsMode | None = fld()


@dataclass(frozen=True)
class PeerAuthentication:
    """The spec of a PeerAuthentication."""

    selector: LabelSelector | None = fld()
    mtls: MutualTLS | None = fld()
    port_level_mtls: Mapping[str, MutualTLS] = fld(dict)


@dataclass(frozen=True)
class Source:
    """Who sends the request (all fields ANDed, values within a field ORed)."""

    principals: tuple[str, ...] = fld(())
    not_principals: tuple[str, ...] = fld(())
    request_principals: tuple[str, ...] = fld(())
    not_request_principals: tuple[str, ...] = fld(())
    namespaces: tuple[str, ...] = fld(())
    not_namespaces: tuple[str, ...] = fld(())
    service_accounts: tuple[str, ...] = fld(())
    not_service_accounts: tuple[str, ...] = fld(())
    ip_blocks: tuple[str, ...] = fld(())
    not_ip_blocks: tuple[str, ...] = fld(())
    remote_ip_blocks: tuple[str, ...] = fld(())
    not_remote_ip_blocks: tuple[str, ...] = fld(())
    trust_domains: tuple[str, ...] = fld(())
    not_trust_domains: tuple[str, ...] = fld(())


@dataclass(frozen=True)
class Operation:
    """What the request does."""

    hosts: tuple[str, ...] = fld(())
    not_hosts: tuple[str, ...] = fld(())
    ports: tuple[str, ...] = fld(())
    not_ports: tuple[str, ...] = fld(())
    methods: tuple[str, ...] = fld(())
    not_methods: tuple[str, ...] = fld(())
    paths: tuple[str, ...] = fld(())
    not_paths: tuple[str, ...] = fld(())


@dataclass(frozen=True)
class RuleFrom:
    """One ``from`` entry."""

    source: Source | None = fld()


@dataclass(frozen=True)
class RuleTo:
    """One ``to`` entry."""

    operation: Operation | None = fld()


@dataclass(frozen=True)
class Condition:
    """One ``when`` condition on a request attribute."""

    key: str = fld("", required=True)
    values: tuple[str, ...] = fld(())
    not_values: tuple[str, ...] = fld(())


@dataclass(frozen=True)
class Rule:
    """One authorization rule: from AND to AND when."""

    from_: tuple[RuleFrom, ...] = fld((), json="from")
    to: tuple[RuleTo, ...] = fld(())
    when: tuple[Condition, ...] = fld(())


@dataclass(frozen=True)
class ExtensionProvider:
    """The external authorizer of a CUSTOM policy."""

    name: str = fld("", required=True)


@dataclass(frozen=True)
class AuthorizationPolicy:
    """The spec of an AuthorizationPolicy."""

    selector: LabelSelector | None = fld()
    target_ref: PolicyTargetReference | None = fld()
    target_refs: tuple[PolicyTargetReference, ...] = fld(())
    rules: tuple[Rule, ...] = fld(())
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] | None = fld()
    provider: ExtensionProvider | None = fld()


@dataclass(frozen=True)
class JWTHeader:
    """A header a JWT is read from."""

    name: str = fld("", required=True)
    prefix: str | None = fld()


@dataclass(frozen=True)
class ClaimToHeader:
    """A claim copied into a request header."""

    header: str = fld("", required=True)
    claim: str = fld("", required=True)


@dataclass(frozen=True)
class JWTRule:
    """How to validate JWTs of one issuer."""

    issuer: str = fld("")
    audiences: tuple[str, ...] = fld(())
    jwks_uri: str | None = fld(oneof="jwks_source")
    jwks: str | None = fld(oneof="jwks_source")
    from_headers: tuple[JWTHeader, ...] = fld(())
    from_params: tuple[str, ...] = fld(())
    from_cookies: tuple[str, ...] = fld(())
    output_payload_to_header: str | None = fld()
    forward_original_token: bool | None = fld()
    output_claim_to_headers: tuple[ClaimToHeader, ...] = fld(())
    timeout: Duration | None = fld()
    space_delimited_claims: tuple[str, ...] = fld(())
    presence: Literal["OPTIONAL", "REQUIRED"] | None = fld()


@dataclass(frozen=True)
class RequestAuthentication:
    """The spec of a RequestAuthentication."""

    selector: LabelSelector | None = fld()
    target_ref: PolicyTargetReference | None = fld()
    target_refs: tuple[PolicyTargetReference, ...] = fld(())
    jwt_rules: tuple[JWTRule, ...] = fld(())
