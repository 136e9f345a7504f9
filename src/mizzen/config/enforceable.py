"""Security configuration Istio enforces and Mizzen cannot: verdicts for the apply path and ``analyze``.

Mizzen never accepts such a resource silently. Each function returns coded violations (catalogue
range ``MZ278x``) with the field path; the caller fills in file, line and resource:

- :func:`custom_action_not_supported`: AuthorizationPolicy ``action: CUSTOM`` needs an ext_authz
  provider, which Mizzen does not run (error). Were it applied anyway, the translator fails closed.
- :func:`jwt_rule_problems`: a JWT rule with neither ``jwks`` nor ``jwksUri`` (Istio's control plane
  would discover the keys over the network; Mizzen's translator does no I/O: error), and a ``jwksUri``
  whose host and port no mesh service serves (Envoy cannot fetch the keys, every token is rejected:
  warning).
- :func:`upstream_tls_problems`: DestinationRule TLS that Istio itself drops to plaintext - MUTUAL
  without certificates, ``credentialName`` on a sidecar DestinationRule without ``workloadSelector``
  (warning).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from mizzen.config.codes import violation
from mizzen.config.models.destination_rule import ClientTLSSettings, DestinationRule
from mizzen.config.models.security import AuthorizationPolicy, RequestAuthentication
from mizzen.config.report import Violation

HostLookup = Callable[[str, int], bool]
"""(host, port) -> whether a mesh service or ServiceEntry serves it."""


def custom_action_not_supported(spec: AuthorizationPolicy, root: str = "spec") -> list[Violation]:
    """CUSTOM authorization is refused: Mizzen has no external authorizer to consult."""
    if spec.action != "CUSTOM":
        return []
    provider = spec.provider.name if spec.provider is not None else ""
    return [
        violation(
            "MZ2781",
            f"action CUSTOM (ext_authz provider {provider!r}) is not supported by Mizzen; "
            "use ALLOW/DENY policies, or enforce it in the application",
            f"{root}.action",
        )
    ]


def jwks_host(uri: str) -> tuple[str, int] | None:
    """(host, port) Envoy fetches an http(s) ``jwksUri`` from (default ports 80/443), else ``None``."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:  # a port that is not a number (validation reports the URL itself)
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def jwt_rule_problems(
    spec: RequestAuthentication, served: HostLookup, root: str = "spec", searched: str = "mesh service or ServiceEntry"
) -> list[Violation]:
    """JWT rules whose keys Envoy could not obtain (``searched`` names what ``served`` looked in)."""
    out: list[Violation] = []
    for i, rule in enumerate(spec.jwt_rules):
        path = f"{root}.jwtRules[{i}]"
        if not rule.jwks and not rule.jwks_uri:
            out.append(
                violation(
                    "MZ2782",
                    f"issuer {rule.issuer!r} has neither jwks nor jwksUri; Mizzen does not discover keys "
                    "through OpenID configuration: set jwksUri (served in the mesh) or inline jwks",
                    path,
                )
            )
            continue
        target = jwks_host(rule.jwks_uri) if rule.jwks_uri and not rule.jwks else None
        if target is not None and not served(*target):
            host, port = target
            out.append(
                violation(
                    "MZ2783",
                    f"no {searched} serves {host}:{port}; Envoy fetches jwksUri through the mesh, so until "
                    "a Service or ServiceEntry defines that host and port every token of this issuer is "
                    "rejected with 401",
                    f"{path}.jwksUri",
                )
            )
    return out


def _tls_problem(tls: ClientTLSSettings | None, has_selector: bool, path: str) -> Violation | None:
    if tls is None or tls.mode not in ("SIMPLE", "MUTUAL"):
        return None
    secret = bool(tls.credential_name) and not (tls.credential_name or "").startswith("configmap://")
    if secret and not has_selector:
        return violation(
            "MZ2784",
            f"credentialName {tls.credential_name!r} is not used by sidecars unless the DestinationRule has a "
            "workloadSelector (Istio's rule), so sidecars send plaintext; gateways do use it",
            f"{path}.credentialName",
        )
    if tls.mode == "MUTUAL" and not tls.credential_name and not (tls.client_certificate and tls.private_key):
        return violation(
            "MZ2784", "MUTUAL without clientCertificate and privateKey: Istio sends plaintext", f"{path}.mode"
        )
    return None


def upstream_tls_problems(spec: DestinationRule, root: str = "spec") -> list[Violation]:
    """TLS settings of a DestinationRule that Istio leaves unapplied (traffic stays plaintext)."""
    has_selector = spec.workload_selector is not None
    places: list[tuple[ClientTLSSettings | None, str]] = []
    for base, policy in [(f"{root}.trafficPolicy", spec.traffic_policy)] + [
        (f"{root}.subsets[{i}].trafficPolicy", s.traffic_policy) for i, s in enumerate(spec.subsets)
    ]:
        if policy is None:
            continue
        places.append((policy.tls, f"{base}.tls"))
        places += [(p.tls, f"{base}.portLevelSettings[{j}].tls") for j, p in enumerate(policy.port_level_settings)]
    return [v for tls, path in places if (v := _tls_problem(tls, has_selector, path)) is not None]
