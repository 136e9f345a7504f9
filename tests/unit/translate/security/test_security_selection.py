"""Which PeerAuthentication, AuthorizationPolicy and RequestAuthentication apply to a workload, and its
effective mTLS mode per port (Istio's precedence rules)."""

from __future__ import annotations

import pytest
from security_fixtures import ROOT, authz, peer_authns, request_authns

from mizzen.translate.security.policy import Workload
from mizzen.translate.security.selection import (
    authorization_policies_for,
    effective_peer_authentication,
    namespace_mtls_mode,
    request_authentications_for,
)

REVIEWS = Workload("default", {"app": "reviews", "version": "v1"})


def pa(name: str, ns: str, mode: str | None, selector: dict[str, str] | None = None, ports: str = "") -> str:
    """One PeerAuthentication document."""
    spec = []
    if selector is not None:
        labels = "".join(f"\n      {k}: {v}" for k, v in selector.items())
        spec.append(f"  selector:\n    matchLabels:{labels or ' {}'}")
    if mode is not None:
        spec.append(f"  mtls:\n    mode: {mode}")
    if ports:
        spec.append(f"  portLevelMtls:\n{ports}")
    body = "\n".join(spec) or "  {}"
    return (
        f"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        f"metadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{body}\n---\n"
    )


def mode_of(text: str, workload: Workload = REVIEWS) -> str:
    return effective_peer_authentication(peer_authns(text), workload, ROOT).mode


def test_default_is_permissive() -> None:
    """With no PeerAuthentication a workload accepts mTLS and plaintext."""
    assert mode_of("") == "PERMISSIVE"


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        (pa("default", ROOT, "STRICT"), "STRICT"),
        (pa("default", ROOT, "STRICT") + pa("ns", "default", "PERMISSIVE"), "PERMISSIVE"),
        (pa("default", ROOT, "STRICT") + pa("ns", "default", "UNSET"), "STRICT"),
        (pa("default", ROOT, "STRICT") + pa("ns", "default", None), "STRICT"),
        (pa("ns", "default", "DISABLE") + pa("wl", "default", "STRICT", {"app": "reviews"}), "STRICT"),
        (pa("ns", "default", "STRICT") + pa("wl", "default", "UNSET", {"app": "reviews"}), "STRICT"),
        (pa("ns", "default", "STRICT") + pa("other", "default", "DISABLE", {"app": "ratings"}), "STRICT"),
        (pa("ns", "other", "STRICT"), "PERMISSIVE"),
        (pa("wl", ROOT, "STRICT", {"app": "reviews"}), "PERMISSIVE"),
        (pa("ns", "default", "STRICT", {}), "STRICT"),
    ],
    ids=[
        "mesh-wide",
        "namespace-overrides-mesh",
        "namespace-unset-inherits-mesh",
        "namespace-without-mtls-inherits",
        "workload-overrides-namespace",
        "workload-unset-inherits-namespace",
        "other-workload-selector-ignored",
        "other-namespace-ignored",
        "selector-in-root-namespace-ignored",
        "empty-selector-is-namespace-wide",
    ],
)
def test_peer_authentication_precedence(docs: str, expected: str) -> None:
    """Mesh, namespace and workload layers override in that order; UNSET inherits the layer below."""
    assert mode_of(docs) == expected


def test_oldest_namespace_policy_wins() -> None:
    """Of two namespace-wide policies Istio uses the older one (documents are in creation order)."""
    assert mode_of(pa("old", "default", "STRICT") + pa("new", "default", "DISABLE")) == "STRICT"


def test_port_level_mtls_from_the_workload_policy() -> None:
    """portLevelMtls overrides the workload mode per port; an UNSET port takes the workload mode."""
    ports = "    9080:\n      mode: DISABLE\n    9090:\n      mode: UNSET\n"
    merged = effective_peer_authentication(
        peer_authns(pa("ns", "default", "PERMISSIVE") + pa("wl", "default", "STRICT", {"app": "reviews"}, ports)),
        REVIEWS,
        ROOT,
    )
    assert merged.mode == "STRICT"
    assert dict(merged.per_port) == {9080: "DISABLE", 9090: "STRICT"}
    assert merged.mode_for_port(9080) == "DISABLE" and merged.mode_for_port(9443) == "STRICT"
    assert [p.ref for p in merged.applied] == ["ns.default", "wl.default"]


@pytest.mark.parametrize(
    ("docs", "namespace", "expected"),
    [
        ("", "default", None),
        (pa("default", ROOT, "STRICT"), "default", "STRICT"),
        (pa("default", ROOT, "UNSET"), "default", "PERMISSIVE"),
        (pa("default", ROOT, "STRICT") + pa("ns", "default", "DISABLE"), "default", "DISABLE"),
        (pa("default", ROOT, "STRICT") + pa("ns", "default", "UNSET"), "default", "STRICT"),
        (pa("ns", "default", "UNSET"), "default", "PERMISSIVE"),
        (pa("wl", "default", "DISABLE", {"app": "x"}), "default", None),
    ],
)
def test_namespace_mode_clients_infer(docs: str, namespace: str, expected: str | None) -> None:
    """Clients infer a destination namespace's mode from namespace and mesh policies only."""
    assert namespace_mtls_mode(peer_authns(docs), namespace, ROOT) == expected


def ap(name: str, ns: str, spec: str, annotations: str = "") -> str:
    meta = f"\n  annotations:\n{annotations}" if annotations else ""
    return (
        f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        f"metadata:\n  name: {name}\n  namespace: {ns}{meta}\nspec:\n{spec}\n---\n"
    )


def test_authorization_policies_by_scope_and_action() -> None:
    """Root-namespace policies come first; selector mismatches, other namespaces and targetRefs drop out."""
    docs = (
        ap("mine-deny", "default", "  action: DENY\n  rules: [{}]")
        + ap("mesh-allow", ROOT, "  rules: [{}]")
        + ap("selected", "default", "  selector:\n    matchLabels:\n      app: reviews\n  rules: [{}]")
        + ap("not-me", "default", "  selector:\n    matchLabels:\n      app: ratings\n  rules: [{}]")
        + ap("elsewhere", "other", "  rules: [{}]")
        + ap(
            "gateway", "default", "  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: gw"
        )
        + ap("audit", "default", "  action: AUDIT\n  rules: [{}]")
        + ap("custom", "default", "  action: CUSTOM\n  provider:\n    name: ext\n  rules: [{}]")
    )
    got = authorization_policies_for(authz(docs), REVIEWS, ROOT)
    assert [p.name for p in got.allow] == ["mesh-allow", "selected"]
    assert [p.name for p in got.deny] == ["mine-deny"]
    assert [p.name for p in got.audit] == ["audit"]
    assert [p.name for p in got.custom] == ["custom"]


def test_target_refs_attach_to_gateway_api_gateways_only() -> None:
    """A targetRef names a Gateway API gateway in the policy's namespace; selectors still apply to it."""
    ref = "  targetRef:\n    kind: Gateway\n    group: gateway.networking.k8s.io\n    name: {name}\n  rules: [{{}}]"
    docs = (
        ap("hits", "default", ref.format(name="gw"))
        + ap("other-gw", "default", ref.format(name="other"))
        + ap("other-ns", "infra", ref.format(name="gw"))
        + ap("by-selector", "default", "  selector:\n    matchLabels:\n      istio: gw\n  rules: [{}]")
    )
    gateway = Workload("default", {"gateway.networking.k8s.io/gateway-name": "gw", "istio": "gw"})
    assert [p.name for p in authorization_policies_for(authz(docs), gateway, ROOT).allow] == ["hits", "by-selector"]
    classic = Workload("default", {"istio": "gw"})
    assert [p.name for p in authorization_policies_for(authz(docs), classic, ROOT).allow] == ["by-selector"]


def test_request_authentications_that_apply() -> None:
    """RequestAuthentications of the workload's namespace and the root namespace with a matching selector."""
    ra = (
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: {n}\n  namespace: {ns}\n"
        "spec:\n  {sel}jwtRules:\n  - issuer: {n}\n    jwks: '{{}}'\n---\n"
    )
    docs = (
        ra.format(n="mesh", ns=ROOT, sel="")
        + ra.format(n="mine", ns="default", sel="selector:\n    matchLabels:\n      app: reviews\n  ")
        + ra.format(n="theirs", ns="default", sel="selector:\n    matchLabels:\n      app: ratings\n  ")
        + ra.format(n="other", ns="other", sel="")
    )
    got = request_authentications_for(request_authns(docs), REVIEWS, ROOT)
    assert [p.name for p in got] == ["mine", "mesh"]
