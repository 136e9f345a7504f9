"""IST0130 / IST0131: VirtualService rules that can never be used and matches that repeat earlier ones.

Rules are tried in order, so a rule without matches catches everything after it, and a match that
is byte-for-byte a match of an earlier rule (ignoring its ``name``) never wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mizzen.config.resource import Resource

from . import messages as m
from .context import Context, spec_list, spec_map


def analyze_unreachable_rules(ctx: Context) -> None:
    """Check the http, tcp and tls rule lists of every VirtualService."""
    for vs in ctx.of("VirtualService"):
        for section in ("http", "tcp", "tls"):
            _check_rules(ctx, vs, section, spec_list(vs.spec.get(section)))


def _rule_name(rule: Mapping[str, Any], index: int, section: str) -> str:
    # Only HTTP rules and matches have names; istioctl quotes them with Go's %q.
    name = rule.get("name") if section == "http" else None
    return m.quote(str(name)) if name else f"#{index}"


def _match_key(match: Any) -> str:
    body = {k: v for k, v in spec_map(match).items() if k != "name"}
    return json.dumps(body, sort_keys=True)


def _check_rules(ctx: Context, vs: Resource, section: str, rules: list[Any]) -> None:
    seen: dict[str, int] = {}
    catch_all = -1
    for i, raw in enumerate(rules):
        rule = spec_map(raw)
        name, path = _rule_name(rule, i, section), f"spec.{section}[{i}]"
        matches = spec_list(rule.get("match"))
        if not matches:
            if catch_all >= 0:
                ctx.report(m.VS_UNREACHABLE_RULE, vs, name, "only the last rule can have no matches", path=path)
            catch_all = i
            continue
        if catch_all >= 0:
            ctx.report(m.VS_UNREACHABLE_RULE, vs, name, "route without matches defined before", path=path)
            continue
        duplicates = 0
        for j, match in enumerate(matches):
            key = _match_key(match)
            if key in seen:
                dup = seen[key]
                match_name = spec_map(match).get("name") if section == "http" else None
                ctx.report(
                    m.VS_INEFFECTIVE_MATCH,
                    vs,
                    name,
                    m.quote(str(match_name)) if match_name else f"#{j}",
                    _rule_name(spec_map(rules[dup]), dup, section),
                    path=f"{path}.match[{j}]",
                )
                duplicates += 1
            else:
                seen[key] = i
        if duplicates == len(matches):
            ctx.report(m.VS_UNREACHABLE_RULE, vs, name, "all matches used by prior rules", path=path)
