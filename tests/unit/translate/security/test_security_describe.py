"""``describe`` lines for security, in istioctl's words, computed from what the builders use."""

from __future__ import annotations

from security_fixtures import HTTPBIN, ROOT, peer_authns, security_filters

from mizzen.config.models import AuthorizationPolicy
from mizzen.translate.security.describe import applied_lines, peer_authentication_lines, rbac_policies_line
from mizzen.translate.security.policy import policy_from_json
from mizzen.translate.security.selection import effective_peer_authentication

PAS = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  portLevelMtls: {"8080": {mode: PERMISSIVE}}
"""


def test_peer_authentication_lines() -> None:
    """The effective mode, per-port modes and the applied policies (root namespace first)."""
    merged = effective_peer_authentication(peer_authns(PAS), HTTPBIN, ROOT)
    assert peer_authentication_lines(merged, ROOT) == [
        "Effective PeerAuthentication:",
        "   Workload mTLS mode: STRICT",
        "   Port Level mTLS mode:",
        "      8080: PERMISSIVE",
        "Applied PeerAuthentication:",
        "   default.istio-system, httpbin.foo",
    ]


def test_default_mode_has_no_applied_line() -> None:
    """Without policies the mode is PERMISSIVE and nothing is listed as applied."""
    merged = effective_peer_authentication((), HTTPBIN, ROOT)
    assert peer_authentication_lines(merged, ROOT) == [
        "Effective PeerAuthentication:",
        "   Workload mTLS mode: PERMISSIVE",
    ]


def test_rbac_policies_line_reads_the_first_rbac_filter() -> None:
    """Like istioctl, the policy names of the first HTTP RBAC filter, with a port prefix on request."""
    docs = (
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: viewer, namespace: foo}\n"
        "spec:\n  rules:\n  - to: [{operation: {methods: [GET]}}]\n  - {}\n"
    )
    line = rbac_policies_line(security_filters(docs), 8000)
    assert line == "8000 RBAC policies: ns[foo]-policy[viewer]-rule[0], ns[foo]-policy[viewer]-rule[1]"
    assert rbac_policies_line([]) is None


def test_policies_from_api_json() -> None:
    """A document as the HTTP API returns it becomes a typed policy the selection functions accept."""
    obj = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "dry", "namespace": "foo", "annotations": {"istio.io/dry-run": "true"}},
        "spec": {"action": "DENY", "rules": [{}]},
    }
    p = policy_from_json(obj, AuthorizationPolicy)
    assert (p.ref, p.spec.action, len(p.spec.rules), p.annotations) == (
        "dry.foo",
        "DENY",
        1,
        {"istio.io/dry-run": "true"},
    )
    assert applied_lines("AuthorizationPolicy", [p]) == ["Applied AuthorizationPolicy:", "   dry.foo"]
