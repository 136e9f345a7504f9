"""AuthorizationPolicy -> Envoy RBAC filters: ``envoy.filters.http.rbac`` on HTTP chains,
``envoy.filters.network.rbac`` on TCP chains (Istio's ``pilot/pkg/security/authz/builder``).

Theory of operation
-------------------
The policies that apply to a workload (:func:`~mizzen.translate.security.selection.authorization_policies_for`)
become up to four filters, in this order: CUSTOM, AUDIT (action LOG: marks requests for the access log,
never denies), DENY, ALLOW. Envoy runs them in order, so a request must pass CUSTOM, then every DENY
policy, then - when any ALLOW policy applies - match at least one ALLOW rule. No ALLOW policy means no
ALLOW filter, i.e. allow. A policy without rules (``spec: {}``) gets a policy that never matches: as
ALLOW it denies everything; ``rules: [{}]`` matches everything. Each rule is one RBAC policy named
``ns[<ns>]-policy[<name>]-rule[<i>]``.

A policy annotated ``istio.io/dry-run: "true"`` goes to the filter's ``shadow_rules``: evaluated,
counted (``istio_dry_run_allow_``/``istio_dry_run_deny_`` stats) and logged, never enforced.

CUSTOM (ext_authz) is not supported by Mizzen: the apply path rejects it
(:func:`mizzen.config.enforceable.custom_action_not_supported`). Should such a policy still
reach the builder, it is compiled the way Istio compiles a CUSTOM policy whose provider it cannot use:
a DENY filter of its rules (fail closed), ``...-deny-due-to-bad-CUSTOM-action``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mizzen.config.models.security import AuthorizationPolicy
from mizzen.translate.security import names
from mizzen.translate.security.matchers import MatcherError
from mizzen.translate.security.policy import JSON, Policy
from mizzen.translate.security.rbac_rules import (
    Action,
    Attribute,
    Context,
    RuleModel,
    expand_trust_domains,
    replace_trust_domain_aliases,
    rule_model,
)
from mizzen.translate.security.selection import AuthorizationPolicies

_NEVER: JSON = {"permissions": [{"not_rule": {"any": True}}], "principals": [{"not_id": {"any": True}}]}
_CUSTOM_PREFIX = "istio-ext-authz"
_BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action"
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}


@dataclass(frozen=True)
class RbacFilters:
    """The RBAC filters of one chain: the CUSTOM ones (before authentication filters) and the local
    AUDIT/DENY/ALLOW ones (after), plus the rules left out with the reason (Istio logs them)."""

    custom: tuple[JSON, ...] = ()
    local: tuple[JSON, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def filters(self) -> tuple[JSON, ...]:
        """All of them, in order (what a chain without authentication filters runs)."""
        return self.custom + self.local


def is_dry_run(policy: Policy[AuthorizationPolicy]) -> bool:
    """``istio.io/dry-run`` parsed as Go's ParseBool (anything else counts as false)."""
    return policy.annotations.get(names.DRY_RUN_ANNOTATION, "") in _TRUE


# -- one rule -------------------------------------------------------------------------------------


def _migrate(attr: Attribute, ctx: Context) -> Attribute:
    if attr.key == "source.principal":
        return replace(
            attr,
            values=replace_trust_domain_aliases(ctx, attr.values),
            not_values=replace_trust_domain_aliases(ctx, attr.not_values),
        )
    if attr.key == "source.trustDomain":
        return replace(
            attr, values=expand_trust_domains(ctx, attr.values), not_values=expand_trust_domains(ctx, attr.not_values)
        )
    return attr


def _one(attr: Attribute, values: tuple[str, ...], ctx: Context, action: Action, ors: str) -> JSON | None:
    """The matcher for ``values`` of ``attr``; generation errors fail an ALLOW rule, else drop the value."""
    if not values:
        return None
    try:
        if attr.list_gen is not None:
            return attr.list_gen(ctx, attr.key, values)
    except MatcherError:
        if action == "ALLOW":
            raise
        return None
    items: list[JSON] = []
    gen = attr.gen
    if gen is None:
        return None
    for v in values:
        try:
            items.append(gen(ctx, attr.key, v))
        except MatcherError:
            if action == "ALLOW":
                raise
    key = "rules" if ors == "or_rules" else "ids"
    return {ors: {key: items}} if items else None


def _and(attrs: Sequence[Attribute], ctx: Context, action: Action, permission: bool) -> JSON:
    ors, nots, ands, key = ("or_rules", "not_rule", "and_rules", "rules")
    if not permission:
        ors, nots, ands, key = ("or_ids", "not_id", "and_ids", "ids")
    out: list[JSON] = []
    for attr in (_migrate(a, ctx) for a in attrs):
        positive = _one(attr, attr.values, ctx, action, ors)
        if positive is not None:
            out.append(positive)
        negative = _one(attr, attr.not_values, ctx, action, ors)
        if negative is not None:
            out.append({nots: negative})
    return {ands: {key: out or [{"any": True}]}}


def rbac_policy(model: RuleModel, ctx: Context, action: Action) -> JSON:
    """Istio's ``Model.Generate``: one RBAC policy; raises MatcherError when an ALLOW rule cannot be built."""
    return {
        "permissions": [_and(attrs, ctx, action, True) for attrs in model.permissions],
        "principals": [_and(attrs, ctx, action, False) for attrs in model.principals],
    }


# -- one action -----------------------------------------------------------------------------------


@dataclass
class _Built:
    rules: dict[str, JSON]
    shadow: dict[str, JSON]
    enforced: bool = False
    dry_run: bool = False


def _rbac(policies: dict[str, JSON], action: Action) -> JSON:
    out: JSON = {} if action == "ALLOW" else {"action": action}
    if policies:
        out["policies"] = policies
    return out


def _compile(
    policies: Sequence[Policy[AuthorizationPolicy]], action: Action, ctx: Context, prefix: str, skipped: list[str]
) -> _Built:
    built = _Built(rules={}, shadow={})
    for p in policies:
        dry = is_dry_run(p) and not prefix
        target = built.shadow if dry else built.rules
        built.dry_run |= dry
        built.enforced |= not dry
        pctx = replace(ctx, policy_namespace=p.namespace)
        for i, rule in enumerate(p.spec.rules):
            name = prefix + names.rbac_policy_name(p.namespace, p.name, i)
            try:
                target[name] = rbac_policy(rule_model(rule), pctx, action)
            except MatcherError as exc:
                chain = "TCP" if ctx.for_tcp else "HTTP"
                skipped.append(f"skipped rule {name} on {chain} filter chain: {exc}")
        if not p.spec.rules:
            target[prefix + names.rbac_policy_name(p.namespace, p.name, 0)] = _NEVER
    return built


def _filter(built: _Built, action: Action, for_tcp: bool, *, shadow_prefix: bool = True) -> JSON:
    shadow_action = action if built.dry_run else "ALLOW"
    config: JSON = {"@type": names.T_RBAC_NETWORK if for_tcp else names.T_RBAC_HTTP}
    if built.enforced:
        config["rules"] = _rbac(built.rules, action)
    if built.dry_run:
        config["shadow_rules"] = _rbac(built.shadow, action)
    # Istio derives the prefix from the shadow rules' action, ALLOW when there are none; LOG has none.
    if shadow_prefix and shadow_action != "LOG":
        stat = names.SHADOW_DENY_STAT_PREFIX if shadow_action == "DENY" else names.SHADOW_ALLOW_STAT_PREFIX
        config["shadow_rules_stat_prefix"] = stat
    if for_tcp:
        config["stat_prefix"] = names.RBAC_TCP_STAT_PREFIX
    return {"name": names.RBAC_NETWORK if for_tcp else names.RBAC_HTTP, "typed_config": config}


def _custom_filters(custom: Sequence[Policy[AuthorizationPolicy]], ctx: Context, skipped: list[str]) -> list[JSON]:
    """Unsupported CUSTOM policies, fail closed: one DENY filter per provider (Istio's bad-provider path)."""
    out: list[JSON] = []
    for provider in sorted({p.spec.provider.name if p.spec.provider else "" for p in custom}):
        mine = [p for p in custom if (p.spec.provider.name if p.spec.provider else "") == provider]
        prefix = f"{_CUSTOM_PREFIX}-{provider}-" if provider else f"{_CUSTOM_PREFIX}-"
        built = _compile([replace(p, annotations={}) for p in mine], "DENY", ctx, prefix, skipped)
        built.rules = {k + _BAD_CUSTOM_SUFFIX: v for k, v in built.rules.items()}
        built.enforced, built.dry_run = True, False
        out.append(_filter(built, "DENY", ctx.for_tcp, shadow_prefix=False))
    return out


def rbac_filters(authz: AuthorizationPolicies, ctx: Context) -> RbacFilters:
    """The RBAC filters of one filter chain (HTTP, or TCP when ``ctx.for_tcp``), in Envoy order."""
    skipped: list[str] = []
    custom = _custom_filters(authz.custom, ctx, skipped)
    local: list[JSON] = []
    stages: tuple[tuple[tuple[Policy[AuthorizationPolicy], ...], Action], ...] = (
        (authz.audit, "LOG"),
        (authz.deny, "DENY"),
        (authz.allow, "ALLOW"),
    )
    for policies, action in stages:
        if policies:
            local.append(_filter(_compile(policies, action, ctx, "", skipped), action, ctx.for_tcp))
    return RbacFilters(custom=tuple(custom), local=tuple(local), skipped=tuple(skipped))


def http_rbac_filters(authz: AuthorizationPolicies, ctx: Context) -> RbacFilters:
    """HTTP filters (before fault/cors/router, after jwt_authn) for an inbound HTTP chain or a gateway."""
    return rbac_filters(authz, replace(ctx, for_tcp=False))


def tcp_rbac_filters(authz: AuthorizationPolicies, ctx: Context) -> RbacFilters:
    """Network filters (before tcp_proxy) for an inbound TCP chain."""
    return rbac_filters(authz, replace(ctx, for_tcp=True))
