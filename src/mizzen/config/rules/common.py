"""Checks used by several kinds' rules: ports, percentages, string matches, destinations, headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import re2

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models.common import Destination, Percent, StringMatch
from mizzen.config.report import Violation

Found = list[Violation]

# Envoy's request pseudo-headers; Istio refuses to let users edit them (Host/:authority is a rewrite).
PSEUDO_HEADERS = frozenset({":method", ":path", ":scheme", ":status", ":protocol"})
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # we report the error ourselves; RE2 would also print it to stderr
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def port(number: int | None, path: str, out: Found) -> None:
    """Istio's ValidatePort: 1..65535."""
    if number is not None and not 1 <= number <= 65535:
        out.append(violation("MZ2005", f"port number {number} must be in the range 1..65535", path))


def percent_value(value: float | None, path: str, out: Found) -> None:
    """A double percentage: 0..100."""
    if value is not None and not 0 <= value <= 100:
        out.append(violation("MZ2006", f"percentage {_num(value)} is not in range 0..100", path))


def percentage(p: Percent | None, path: str, out: Found) -> None:
    """A ``{value: N}`` percentage: 0..100."""
    if p is not None:
        percent_value(p.value, f"{path}.value", out)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def regex(pattern: str, path: str, out: Found, what: str) -> None:
    """Non-empty and compiles under RE2 (Envoy's ``safe_regex`` engine)."""
    if pattern == "":
        out.append(violation("MZ2007", f'"{what}": regex string match should not be empty', path))
        return
    try:
        re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        out.append(violation("MZ2007", f'"{what}": invalid regex "{pattern}": {detail}', path))


def string_match(m: StringMatch | None, path: str, out: Found, what: str, *, prefix_nonempty: bool) -> None:
    """A StringMatch: regex must be a valid RE2; for URI-like fields an empty prefix is rejected."""
    if m is None:
        return
    if m.regex is not None:
        regex(m.regex, f"{path}.regex", out, what)
    if prefix_nonempty and m.prefix == "":
        out.append(violation("MZ2008", f'"{what}": prefix string match should not be empty', f"{path}.prefix"))


def string_matches(matches: Mapping[str, StringMatch], path: str, out: Found, what: str) -> None:
    """Header / query-parameter match maps: non-empty names, valid regexes."""
    for name, m in matches.items():
        if not name:
            out.append(violation("MZ2011", f"{what} name cannot be empty", path))
        string_match(m, f"{path}.{name}", out, what, prefix_nonempty=False)


def host(value: str, path: str, out: Found) -> None:
    """A host name: FQDN, short name or wildcard (``*.foo.com``)."""
    if (problem := names.wildcard_host_problem(value)) is not None:
        out.append(violation("MZ2004", problem, path))


def destination(dest: Destination | None, path: str, out: Found) -> None:
    """Destination: host required (no bare ``*``), subset a DNS label, port in range."""
    if dest is None:
        return
    if dest.host == "*":
        out.append(violation("MZ2004", "destination host cannot be '*'", f"{path}.host"))
    elif dest.host:
        host(dest.host, f"{path}.host", out)
    if dest.subset is not None and not names.is_dns1123_label(dest.subset):
        out.append(violation("MZ2004", f'subset name is invalid: "{dest.subset}"', f"{path}.subset"))
    if dest.port is not None:
        port(dest.port.number, f"{path}.port.number", out)


def header_names(keys: Iterable[str], path: str, out: Found, *, editing: bool) -> None:
    """Header names in operations: non-empty; pseudo-headers cannot be edited."""
    for key in keys:
        if not key:
            out.append(violation("MZ2115", "header name cannot be empty", path))
        elif editing and key.lower() in PSEUDO_HEADERS:
            out.append(violation("MZ2115", f"invalid header {key}: pseudo-headers cannot be modified", f"{path}.{key}"))


def labels(values: Mapping[str, str], path: str, out: Found) -> None:
    """Label selector syntax."""
    out.extend(names.label_problems(dict(values), path))


def cidrs(values: Iterable[str], path: str, out: Found) -> None:
    """Each entry an IP or CIDR."""
    for i, v in enumerate(values):
        if (problem := names.cidr_problem(v)) is not None:
            out.append(violation("MZ2010", problem, f"{path}[{i}]"))


def duplicates(values: Iterable[str]) -> list[str]:
    """Values that occur more than once, in first-repeat order."""
    seen: set[str] = set()
    dup: list[str] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup
