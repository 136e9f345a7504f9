"""Checks shared by several kinds' rules, with Istio's own wording: ports, percentages, string matches,
destinations, labels and selectors, exportTo, gateway references and header edits.

Every check appends to a ``Found`` list; codes come from :mod:`mizzen.config.codes`. Warnings (Istio
accepts the value but warns) use ``MZ2021`` with Istio's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import re2

from mizzen.config.codes import violation
from mizzen.config.models.common import Destination, Percent, StringMatch
from mizzen.config.models.virtual_service import HeaderOperations
from mizzen.config.report import Violation
from mizzen.config.rules import headers, hosts

Found = list[Violation]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # we report the error ourselves; RE2 would also print it to stderr
_LABEL_FMT = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_QUALIFIED = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_TAG = re.compile(rf"((?:{_LABEL_FMT}(?:\.{_LABEL_FMT})*)/)?({_QUALIFIED})")
_TAG_VALUE = re.compile(rf"(?:{_QUALIFIED})?")
MAX_REGEX = 1024


def warn(message: str, path: str, out: Found) -> None:
    """Istio accepts the configuration but warns (its text, code MZ2021)."""
    out.append(violation("MZ2021", message, path))


def port(number: int | None, path: str, out: Found, *, code: str = "MZ2005") -> None:
    """Istio's ``ValidatePort``: 1..65535 (``None`` counts as 0, proto3's unset)."""
    value = number or 0
    if not 1 <= value <= 65535:
        out.append(violation(code, f"port number {value} must be in the range 1..65535", path))


def int_percent(value: int | None, path: str, out: Found) -> None:
    """Istio's ``ValidatePercent`` for integer percentages: 0..100."""
    if value is not None and not 0 <= value <= 100:
        out.append(violation("MZ2006", f"percentage {value} is not in range 0..100", path))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def fraction(p: Percent | None, path: str, out: Found) -> None:
    """A ``{value: N}`` fault percentage: 0, or 0.0001..100."""
    if p is None:
        return
    v = p.value
    if v < 0 or v > 100 or 0 < v < 0.0001:
        out.append(
            violation("MZ2006", f"percentage {_num(v)} is neither 0.0, nor in range [0.0001, 100.0]", f"{path}.value")
        )


def regex(pattern: str, path: str, out: Found, where: str) -> None:
    """An RE2 pattern (Envoy's ``safe_regex``), at most 1024 characters."""
    if len(pattern) > MAX_REGEX:
        out.append(violation("MZ2007", f'"{where}": regex is too large, max length allowed is {MAX_REGEX}', path))
        return
    try:
        re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        out.append(
            violation(
                "MZ2007",
                f'"{where}": {detail}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)',
                path,
            )
        )


def match_regex(m: StringMatch | None, path: str, out: Found, where: str) -> None:
    """Only the regex form of a StringMatch is checked (URI matches may use an empty prefix)."""
    if m is None or m.regex is None:
        return
    if m.regex == "":
        out.append(violation("MZ2007", f'"{where}": regex string match should not be empty', f"{path}.regex"))
    else:
        regex(m.regex, f"{path}.regex", out, where)


def string_match(m: StringMatch | None, path: str, out: Found, where: str) -> None:
    """A StringMatch: an empty prefix or regex is rejected; a regex must compile."""
    if m is None:
        return
    if m.prefix == "" and m.exact is None and m.regex is None:
        out.append(violation("MZ2008", f'"{where}": prefix string match should not be empty', f"{path}.prefix"))
    match_regex(m, path, out, where)


def host(value: str, path: str, out: Found) -> None:
    """A host name that may start with a wildcard label."""
    if (problem := hosts.wildcard_domain_error(value)) is not None:
        out.append(violation("MZ2004", problem, path))


def subset_name(name: str, path: str, out: Found, *, code: str = "MZ2202") -> None:
    """A subset name: a DNS label."""
    if not name:
        out.append(violation(code, "subset name cannot be empty", path))
    elif not hosts.is_label(name):
        out.append(violation(code, f"subset name is invalid: {name}", path))


def destination(dest: Destination | None, path: str, out: Found) -> None:
    """Istio's ``validateDestination``: a host (not ``*``), a valid subset name, a port in range."""
    if dest is None:
        return
    if dest.host == "*":
        out.append(violation("MZ2004", "invalid destination host *", f"{path}.host"))
    else:
        host(dest.host, f"{path}.host", out)
    if dest.subset:
        subset_name(dest.subset, f"{path}.subset", out, code="MZ2004")
    if dest.port is not None:
        port(dest.port.number, f"{path}.port.number", out)


def labels(values: Mapping[str, str], path: str, out: Found) -> None:
    """Istio's label map syntax (``labels.Instance.Validate``): Kubernetes-style keys and values."""
    for key, value in values.items():
        m = _TAG.fullmatch(key)
        if m is None:
            out.append(violation("MZ2003", f'invalid tag key: "{key}"', f"{path}.{key}"))
        elif m.group(1) and len(m.group(1)) - 1 > 253:
            out.append(violation("MZ2003", f'invalid tag key: "{key}" (DNS prefix is too long)', f"{path}.{key}"))
        elif len(m.group(2)) > hosts.MAX_LABEL:
            out.append(violation("MZ2003", f'invalid tag key: "{key}" (name is too long)', f"{path}.{key}"))
        if isinstance(value, str) and _TAG_VALUE.fullmatch(value) is None:
            out.append(violation("MZ2003", f'invalid tag value: "{value}"', f"{path}.{key}"))


def selector(values: Mapping[str, str], path: str, out: Found) -> bool:
    """Workload selector labels: no empty key, no ``*``. Returns whether the selector has labels."""
    for key, value in values.items():
        pair = f'"{key}={value}"'
        if key == "":
            out.append(violation("MZ2015", f"empty key is not supported in selector: {pair}", path))
        if "*" in key or "*" in str(value):
            out.append(violation("MZ2015", f"wildcard is not supported in selector: {pair}", f"{path}.{key}"))
    return bool(values)


def subnets(values: Iterable[str], path: str, out: Found) -> None:
    """Each entry an IP address or CIDR block."""
    for i, v in enumerate(values):
        if (problem := hosts.subnet_error(v)) is not None:
            out.append(violation("MZ2010", problem, f"{path}[{i}]"))


def export_to(
    namespace: str, values: tuple[str, ...], path: str, out: Found, *, service_entry: bool = False
) -> set[str]:
    """Istio's ``validateExportTo``; returns the accepted entries (``.`` resolved to ``namespace``)."""
    accepted: set[str] = set()
    for i, value in enumerate(values):
        key = namespace if value == "." else value
        if key in accepted:
            text = (
                f"duplicate entries in exportTo: . and current namespace {namespace}"
                if key != value
                else f"duplicate entries in exportTo for entry {value}"
            )
            out.append(violation("MZ2009", text, f"{path}[{i}]"))
        elif service_entry and value == "~":
            accepted.add(key)
        elif (problem := _visibility_error(key)) is not None:
            out.append(violation("MZ2009", problem, f"{path}[{i}]"))
        else:
            accepted.add(key)
    if "*" in accepted and len(values) > 1:
        out.append(
            violation("MZ2009", "cannot have both public (*) and non-public exportTo values for a resource", path)
        )
    if "~" in accepted and len(values) > 1:
        out.append(violation("MZ2009", "cannot export service entry to no one (~) and someone", path))
    return accepted


def _visibility_error(value: str) -> str | None:
    if value in (".", "*"):
        return None
    if value == "~":
        return "exportTo ~ (none) is not allowed for Istio configuration objects"
    if not hosts.is_label(value):
        return "only .,*, or a valid DNS 1123 label is allowed as exportTo entry"
    return None


def gateway_names(names: tuple[str, ...], path: str, out: Found) -> None:
    """Gateway references: ``name``, ``namespace/name`` or a legacy ``name.namespace`` (warned)."""
    for i, name in enumerate(names):
        sub = f"{path}[{i}]"
        ns, slash, gw = name.partition("/")
        if not slash:
            if "." in name:
                parts = name.split(".")
                warn(
                    f'using legacy gatewayName format "{name}"; prefer the <namespace>/<name> format: '
                    f'"{parts[1]}/{parts[0]}"',
                    sub,
                    out,
                )
            if (problem := hosts.fqdn_error(name)) is not None:
                out.append(violation("MZ2111", problem, sub))
            return  # Istio stops at the first name without a namespace
        if not ns or not gw:
            out.append(violation("MZ2111", "config namespace and gateway name cannot be empty", sub))
        if not hosts.is_label(ns):
            out.append(violation("MZ2111", f'invalid value for namespace: "{ns}"', sub))
        if not hosts.is_label(gw):
            out.append(violation("MZ2111", f'invalid value for gateway name: "{gw}"', sub))


def header_edits(request: HeaderOperations | None, response: HeaderOperations | None, path: str, out: Found) -> None:
    """``headers.request/response`` set/add/remove: allowed names and Envoy-formatter values."""
    for side, ops, name_rule in (
        ("request", request, headers.request_set_name_error),
        ("response", response, headers.edit_name_error),
    ):
        if ops is None:
            continue
        for verb in ("set", "add"):
            for name, value in getattr(ops, verb).items():
                where = f"{path}.{side}.{verb}.{name}" if name else f"{path}.{side}.{verb}"
                if (problem := name_rule(name)) is not None:
                    out.append(violation("MZ2115", problem, where))
                if (bad := headers.value_error(value)) is not None:
                    out.append(violation("MZ2012", bad, where))
        for i, name in enumerate(ops.remove):
            if (problem := headers.edit_name_error(name)) is not None:
                out.append(violation("MZ2115", problem, f"{path}.{side}.remove[{i}]"))


def duplicates(values: Iterable[str]) -> list[str]:
    """Values that occur more than once, in first-repeat order."""
    seen: set[str] = set()
    dup: list[str] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup


# Istio's protocol names (``protocol.Parse``, case-insensitive); anything else is "unsupported".
PROTOCOLS = {
    p.lower(): p
    for p in (
        "TCP",
        "UDP",
        "GRPC",
        "GRPC-Web",
        "HTTP",
        "HTTP_PROXY",
        "HTTP2",
        "HTTPS",
        "TLS",
        "Mongo",
        "Redis",
        "MySQL",
    )
}
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"})
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
TCP_PROTOCOLS = frozenset({"TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL"})


def protocol(name: str | None) -> str | None:
    """The canonical protocol for a name Istio knows (``http`` -> ``HTTP``), or ``None``."""
    return PROTOCOLS.get((name or "").lower())


def protocol_name(value: str | None, path: str, out: Found, *, code: str = "MZ2306") -> None:
    """Istio's ``ValidateProtocol``: empty (sniffed) or a known protocol."""
    if value and protocol(value) is None:
        out.append(violation(code, f"unsupported protocol: {value}", path))


def port_name(name: str, path: str, out: Found, *, code: str) -> None:
    """Istio's ``ValidatePortName``: a DNS label."""
    if not hosts.is_label(name):
        out.append(violation(code, f"invalid port name: {name}", path))


def unix_address(addr: str, path: str, out: Found, *, code: str = "MZ2010") -> None:
    """Istio's ``ValidateUnixAddress``: an absolute file path, or an abstract socket ``@name``."""
    if not addr:
        out.append(violation(code, "unix address must not be empty", path))
    elif not addr.startswith("@") and (not addr.startswith("/") or addr.endswith("/")):
        out.append(violation(code, f"{addr} is not an absolute path to a file", path))
