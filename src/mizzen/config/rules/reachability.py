"""VirtualService rules that can never be used, and matches already covered by an earlier rule.

Istio reports these as validation warnings and ``istioctl analyze`` as IST0130 (unreachable rule) and
IST0131 (ineffective match). Rules are tried in order, so:

- a rule without matches catches everything; any later rule is unreachable;
- a match identical to an earlier one (ignoring its ``name``) never wins, and a rule whose matches all
  repeat earlier ones is unreachable;
- an HTTP URI-prefix match is covered by an earlier prefix that is a prefix of it, when port, method
  (unset means ``GET``), authority, headers, query parameters and absent headers agree.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mizzen.config.models.common import StringMatch
from mizzen.config.models.virtual_service import HTTPMatchRequest, VirtualService


@dataclass(frozen=True)
class Finding:
    """One unreachable rule (``match`` and ``earlier`` empty) or ineffective match."""

    section: str  # "http", "tcp" or "tls"
    rule_index: int
    match_index: int | None
    rule: str  # '#1' or the quoted rule name
    reason: str = ""  # why a rule is unreachable
    match: str = ""  # the ineffective match, e.g. '#0' or '#1 of prefix /api'
    earlier: str = ""  # the rule (and match) that covers it

    @property
    def unreachable(self) -> bool:
        """True for a whole rule that can never be used (IST0130); False for an ineffective match (IST0131)."""
        return not self.match

    @property
    def path(self) -> str:
        """The field path reported: the rule (``spec.http[1]``) or its match (``spec.http[1].match[0]``)."""
        base = f"spec.{self.section}[{self.rule_index}]"
        return base if self.match_index is None else f"{base}.match[{self.match_index}]"


def go_quote(text: str) -> str:
    """Go's ``%q`` for the names we quote."""
    return json.dumps(text, ensure_ascii=False)


def _name(obj: Any, index: int, section: str) -> str:
    name = getattr(obj, "name", None) if section == "http" else None
    return go_quote(name) if name else f"#{index}"


def _canonical(value: Any) -> Any:
    """A comparable form of a match: no name, and unset-equivalent values (``None``, ``false``, ``0``) dropped."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "name"}
        return {k: v for k, v in items.items() if v not in (None, False, 0, (), {}, "")}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    return value


def _key(match: Any) -> str:
    return json.dumps(_canonical(match), sort_keys=True)


def findings(vs: VirtualService) -> list[Finding]:
    """Every unreachable rule and ineffective match of a VirtualService, in rule order."""
    out: list[Finding] = []
    for section, rules in (("http", vs.http), ("tcp", vs.tcp), ("tls", vs.tls)):
        _ordered(section, rules, out)
    _overlapping_prefixes(vs.http, out)
    return out


def _ordered(section: str, rules: Sequence[Any], out: list[Finding]) -> None:
    seen: dict[str, int] = {}
    catch_all = -1
    for i, rule in enumerate(rules):
        name = _name(rule, i, section)
        if not rule.match:
            if catch_all >= 0:
                out.append(Finding(section, i, None, name, reason="only the last rule can have no matches"))
            catch_all = i
            continue
        if catch_all >= 0:
            out.append(Finding(section, i, None, name, reason="route without matches defined before"))
            continue
        repeated = 0
        for j, match in enumerate(rule.match):
            key = _key(match)
            if key in seen:
                earlier = seen[key]
                out.append(
                    Finding(
                        section,
                        i,
                        j,
                        name,
                        match=_name(match, j, section),
                        earlier=_name(rules[earlier], earlier, section),
                    )
                )
                repeated += 1
            else:
                seen[key] = i
        if repeated == len(rule.match):
            out.append(Finding(section, i, None, name, reason="all matches used by prior rules"))


@dataclass(frozen=True)
class _PrefixMatch:
    rule_index: int
    match_index: int
    rule: str
    match: str
    prefix: str
    port: int
    method: str
    authority: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    without: Mapping[str, str]


def _exact_or_prefix(m: StringMatch | None) -> str:
    if m is not None and m.exact:
        return f"exact:{m.exact}"
    if m is not None and m.prefix:
        return f"prefix:{m.prefix}"
    return ""


def _prefix_match(rule_index: int, rule_name: str, match_index: int, m: HTTPMatchRequest) -> _PrefixMatch | None:
    if m.uri is None or not m.uri.prefix:
        return None
    return _PrefixMatch(
        rule_index,
        match_index,
        rule_name,
        _name(m, match_index, "http"),
        m.uri.prefix,
        m.port or 0,
        _exact_or_prefix(m.method) or "exact:GET",  # a request without a method match is taken as a GET
        _exact_or_prefix(m.authority),
        {k: _exact_or_prefix(v) for k, v in m.headers.items()},
        {k: _exact_or_prefix(v) for k, v in m.query_params.items()},
        {k: _exact_or_prefix(v) for k, v in m.without_headers.items()},
    )


def _maps_covered(earlier: Mapping[str, str], later: Mapping[str, str]) -> bool:
    if len(earlier) != len(later):
        return False
    return all(k in later and (v == later[k] or v.startswith(later[k])) for k, v in earlier.items())


def _covers(a: _PrefixMatch, b: _PrefixMatch) -> bool:
    """Whether earlier match ``a`` takes every request of later match ``b`` (Istio's rule, kept as is)."""
    return (
        b.prefix.startswith(a.prefix)
        and a.port == b.port
        and (a.method == b.method or a.method.startswith(b.method))
        and (a.authority == b.authority or a.authority.startswith(b.authority))
        and _maps_covered(a.headers, b.headers)
        and _maps_covered(a.query, b.query)
        and _maps_covered(a.without, b.without)
    )


def _overlapping_prefixes(rules: Sequence[Any], out: list[Finding]) -> None:
    seen: set[str] = set()
    candidates: list[_PrefixMatch] = []
    catch_all = False
    for i, rule in enumerate(rules):
        if not rule.match:
            catch_all = True
            continue
        for j, m in enumerate(rule.match):
            key = _key(m)
            if catch_all or key in seen:
                continue
            seen.add(key)
            if (pm := _prefix_match(i, _name(rule, i, "http"), j, m)) is not None:
                candidates.append(pm)
    for x, a in enumerate(candidates):
        for b in candidates[x + 1 :]:
            if b.prefix != a.prefix and _covers(a, b):
                out.append(
                    Finding(
                        "http",
                        b.rule_index,
                        b.match_index,
                        b.rule,
                        match=f"{b.match} of prefix {b.prefix}",
                        earlier=f"{a.match} of prefix {a.prefix} on {a.rule}",
                    )
                )
