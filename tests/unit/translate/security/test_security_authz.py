"""AuthorizationPolicy -> RBAC filter shapes: filter order, policy names, empty specs, dry-run, TCP
rules, CUSTOM fail-closed, trust domains, port translation."""

from __future__ import annotations

from security_fixtures import HTTPBIN, ROOT, authz, parse_filter, security_filters

from mizzen.translate.security.authz import http_rbac_filters, tcp_rbac_filters
from mizzen.translate.security.rbac_rules import Context
from mizzen.translate.security.selection import authorization_policies_for


def ap(name: str, spec: str, ns: str = "foo", annotations: str = "") -> str:
    meta = f"\n  annotations:\n    {annotations}" if annotations else ""
    return (
        f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        f"metadata:\n  name: {name}\n  namespace: {ns}{meta}\nspec:\n{spec}\n---\n"
    )


def configs(text: str, *, tcp: bool = False) -> list[dict[str, object]]:
    out = []
    for f in security_filters(text, tcp=tcp):
        parse_filter(f, tcp=tcp)
        c = f["typed_config"]
        assert isinstance(c, dict)
        out.append(c)
    return out


def test_no_policy_no_filter() -> None:
    """A workload without AuthorizationPolicies gets no RBAC filter (everything allowed)."""
    assert security_filters("") == []


def test_filters_in_evaluation_order_with_istio_names() -> None:
    """AUDIT (LOG), DENY and ALLOW each get a filter in that order; rules are `ns[..]-policy[..]-rule[i]`."""
    docs = (
        ap("allow", "  rules:\n  - to: [{operation: {methods: [GET]}}]\n  - {}")
        + ap("deny", "  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]")
        + ap("audit", "  action: AUDIT\n  rules: [{}]")
    )
    log, deny, allow = configs(docs)
    assert log["rules"]["action"] == "LOG"  # type: ignore[index]
    assert deny["rules"]["action"] == "DENY" and "action" not in allow["rules"]  # type: ignore[index, operator]
    assert list(allow["rules"]["policies"]) == ["ns[foo]-policy[allow]-rule[0]", "ns[foo]-policy[allow]-rule[1]"]  # type: ignore[index]
    # Istio names the prefix after the shadow rules' action, ALLOW when there are none (even for AUDIT).
    assert allow["shadow_rules_stat_prefix"] == log["shadow_rules_stat_prefix"] == "istio_dry_run_allow_"


def test_empty_spec_matches_nothing_and_empty_rule_matches_everything() -> None:
    """`spec: {}` yields a never-matching policy (ALLOW: deny all); `rules: [{}]` matches any request."""
    (never,) = configs(ap("allow-nothing", "  {}"))
    assert never["rules"]["policies"]["ns[foo]-policy[allow-nothing]-rule[0]"] == {  # type: ignore[index]
        "permissions": [{"not_rule": {"any": True}}],
        "principals": [{"not_id": {"any": True}}],
    }
    (everything,) = configs(ap("allow-all", "  rules: [{}]"))
    assert everything["rules"]["policies"]["ns[foo]-policy[allow-all]-rule[0]"] == {  # type: ignore[index]
        "permissions": [{"and_rules": {"rules": [{"any": True}]}}],
        "principals": [{"and_ids": {"ids": [{"any": True}]}}],
    }


def test_dry_run_policies_are_shadow_rules() -> None:
    """istio.io/dry-run policies go to shadow_rules with Istio's stat prefix; enforced ones stay in rules."""
    docs = ap("dry", "  action: DENY\n  rules: [{}]", annotations='istio.io/dry-run: "true"') + ap(
        "real", "  action: DENY\n  rules: [{to: [{operation: {ports: ['80']}}]}]", annotations='istio.io/dry-run: "no"'
    )
    (deny,) = configs(docs)
    assert list(deny["shadow_rules"]["policies"]) == ["ns[foo]-policy[dry]-rule[0]"]  # type: ignore[index]
    assert list(deny["rules"]["policies"]) == ["ns[foo]-policy[real]-rule[0]"]  # type: ignore[index]
    assert deny["shadow_rules_stat_prefix"] == "istio_dry_run_deny_"
    (only_dry,) = configs(ap("dry", "  rules: [{}]", annotations='istio.io/dry-run: "true"'))
    assert "rules" not in only_dry and "shadow_rules" in only_dry


def test_tcp_drops_http_only_allow_rules_and_ignores_them_in_deny() -> None:
    """On a TCP chain an ALLOW rule with an HTTP-only field is left out (denying more); a DENY rule
    loses just that field (denying more), as Istio documents."""
    allow = ap("a", "  rules:\n  - to: [{operation: {methods: [GET]}}]\n  - to: [{operation: {ports: ['9080']}}]")
    (a,) = configs(allow, tcp=True)
    assert list(a["rules"]["policies"]) == ["ns[foo]-policy[a]-rule[1]"]  # type: ignore[index]
    assert a["stat_prefix"] == "tcp."
    selected = authorization_policies_for(authz(allow), HTTPBIN, ROOT)
    skipped = tcp_rbac_filters(selected, Context("foo")).skipped
    assert skipped == ("skipped rule ns[foo]-policy[a]-rule[0] on TCP filter chain: ':method' is HTTP only",)
    (d,) = configs(ap("d", "  action: DENY\n  rules: [{to: [{operation: {methods: [GET], ports: ['80']}}]}]"), tcp=True)
    assert d["rules"]["policies"]["ns[foo]-policy[d]-rule[0]"]["permissions"] == [  # type: ignore[index]
        {"and_rules": {"rules": [{"or_rules": {"rules": [{"destination_port": 80}]}}]}}
    ]


def test_custom_fails_closed() -> None:
    """An unsupported CUSTOM policy becomes a DENY of its rules ahead of everything (Istio's bad-provider path)."""
    docs = ap("ext", "  action: CUSTOM\n  provider: {name: opa}\n  rules: [{to: [{operation: {paths: [/x]}}]}]")
    (custom,) = configs(docs)
    assert custom["rules"]["action"] == "DENY"  # type: ignore[index]
    assert list(custom["rules"]["policies"]) == [  # type: ignore[index]
        "istio-ext-authz-opa-ns[foo]-policy[ext]-rule[0]-deny-due-to-bad-CUSTOM-action"
    ]


def test_principals_follow_the_trust_domain_bundle() -> None:
    """A `cluster.local/...` principal also matches the mesh's trust domain and aliases."""
    docs = ap("p", "  rules: [{from: [{source: {principals: [cluster.local/ns/foo/sa/a]}}]}]")
    selected = authorization_policies_for(authz(docs), HTTPBIN, ROOT)
    ctx = Context("foo", trust_domain="td1", trust_domain_aliases=("old",))
    (f,) = http_rbac_filters(selected, ctx).filters
    ids = f["typed_config"]["rules"]["policies"]["ns[foo]-policy[p]-rule[0]"]["principals"][0]["and_ids"]["ids"]  # type: ignore[index]
    names = [x["authenticated"]["principal_name"]["exact"] for x in ids[0]["or_ids"]["ids"]]
    assert names == ["spiffe://td1/ns/foo/sa/a", "spiffe://old/ns/foo/sa/a"]


def test_workload_ports_become_listener_ports() -> None:
    """`ports: ["9080"]` matches the sidecar's own listener port for 9080; other ports match nothing."""
    docs = ap("p", "  rules: [{to: [{operation: {ports: ['9080', '9090']}}]}]")
    selected = authorization_policies_for(authz(docs), HTTPBIN, ROOT)
    (f,) = http_rbac_filters(selected, Context("foo", port_map={9080: 31234})).filters
    perm = f["typed_config"]["rules"]["policies"]["ns[foo]-policy[p]-rule[0]"]["permissions"][0]  # type: ignore[index]
    assert perm["and_rules"]["rules"][0]["or_rules"]["rules"] == [{"destination_port": 31234}, {"destination_port": 0}]
