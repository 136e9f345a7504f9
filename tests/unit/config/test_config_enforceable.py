"""Security configuration Mizzen cannot enforce gets a coded verdict, never a silent "created"."""

from __future__ import annotations

from mizzen.config import load_text
from mizzen.config.enforceable import custom_action_not_supported, jwt_rule_problems, upstream_tls_problems
from mizzen.config.mesh_checks import MeshHosts, unserved_jwks_uris
from mizzen.config.models.destination_rule import ClientTLSSettings, DestinationRule, Subset, TrafficPolicy
from mizzen.config.models.security import AuthorizationPolicy, ExtensionProvider, JWTRule, RequestAuthentication
from mizzen.config.resource import Resource


def test_custom_action_is_refused() -> None:
    """CUSTOM (ext_authz) is an error at spec.action; other actions pass."""
    (v,) = custom_action_not_supported(AuthorizationPolicy(action="CUSTOM", provider=ExtensionProvider(name="opa")))
    assert (v.code, v.level, v.path) == ("MZ2781", "error", "spec.action") and "'opa'" in v.message
    assert custom_action_not_supported(AuthorizationPolicy(action="DENY")) == []


def test_jwt_rules_need_keys_envoy_can_get() -> None:
    """No jwks/jwksUri is an error; a jwksUri no mesh service serves is a warning; served or inline is fine."""
    spec = RequestAuthentication(
        jwt_rules=(
            JWTRule(issuer="a"),
            JWTRule(issuer="b", jwks_uri="https://keys.example.com/jwks.json"),
            JWTRule(issuer="c", jwks_uri="http://jwks.default.svc.cluster.local:8000/keys"),
            JWTRule(issuer="d", jwks='{"keys": []}'),
        )
    )
    served = {("jwks.default.svc.cluster.local", 8000)}
    got = jwt_rule_problems(spec, lambda h, p: (h, p) in served)
    assert [(v.code, v.level, v.path) for v in got] == [
        ("MZ2782", "error", "spec.jwtRules[0]"),
        ("MZ2783", "warning", "spec.jwtRules[1].jwksUri"),
    ]
    assert "keys.example.com:443" in got[1].message


def test_destination_rule_tls_istio_leaves_plaintext() -> None:
    """credentialName without workloadSelector and MUTUAL without certificates are flagged where written."""
    spec = DestinationRule(
        host="h",
        traffic_policy=TrafficPolicy(tls=ClientTLSSettings(mode="SIMPLE", credential_name="cred")),
        subsets=(Subset(name="v1", traffic_policy=TrafficPolicy(tls=ClientTLSSettings(mode="MUTUAL"))),),
    )
    got = upstream_tls_problems(spec)
    assert [(v.code, v.path) for v in got] == [
        ("MZ2784", "spec.trafficPolicy.tls.credentialName"),
        ("MZ2784", "spec.subsets[0].trafficPolicy.tls.mode"),
    ]
    ok = DestinationRule(host="h", traffic_policy=TrafficPolicy(tls=ClientTLSSettings(mode="ISTIO_MUTUAL")))
    assert upstream_tls_problems(ok) == []


def _resources(text: str) -> list[Resource]:
    loaded = load_text(text, file="mesh.yaml")
    assert loaded.report.ok, loaded.report.violations
    return loaded.resources


MESH = """\
apiVersion: v1
kind: Service
metadata: {name: jwks, namespace: foo, annotations: {networking.istio.io/exportTo: "."}}
spec: {ports: [{name: http, port: 8000}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: keys, namespace: bar}
spec:
  hosts: [Keys.Example.com, "*.wild.example"]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
"""


def test_mesh_hosts_match_exact_host_port_and_visibility() -> None:
    """A host is served only by an exact host and port visible from the policy's namespace (as the
    translator's cluster lookup): exportTo "." hides a Service elsewhere; wildcards and short names never serve."""
    hosts = MeshHosts.of(_resources(MESH))
    assert hosts.serves("jwks.foo.svc.cluster.local", 8000, "foo")
    assert not hosts.serves("jwks.foo.svc.cluster.local", 8000, "other")
    assert not hosts.serves("jwks.foo.svc.cluster.local", 8001, "foo")
    assert not hosts.serves("jwks", 8000, "foo")
    assert hosts.serves("keys.example.com", 443, "foo")
    assert not hosts.serves("a.wild.example", 443, "foo")


def test_unserved_jwks_uris_are_located_in_the_checked_policies() -> None:
    """Only RequestAuthentications in ``checked`` are reported, with file, line and the input wording."""
    policy = _resources(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ra, namespace: other}\n"
        "spec:\n  jwtRules:\n  - issuer: i\n    jwksUri: http://jwks.foo.svc.cluster.local:8000/k\n"
        "  - issuer: j\n    jwksUri: https://keys.example.com/k\n"
    )
    (v,) = unserved_jwks_uris(policy, [*policy, *_resources(MESH)], where="input")
    assert (v.code, v.path, v.file, v.line, v.resource) == (
        "MZ2783",
        "spec.jwtRules[0].jwksUri",
        "mesh.yaml",
        7,
        "RequestAuthentication other/ra",
    )
    assert v.message.startswith("no Service or ServiceEntry in the input serves jwks.foo.svc.cluster.local:8000")
    assert unserved_jwks_uris([], _resources(MESH)) == []
