"""Name syntax shared by every kind: Kubernetes names and labels, host names, references, addresses.

Each ``*_problem`` function returns the complaint as text, or ``None`` when the value is fine.
"""

from __future__ import annotations

import ipaddress
import re

from mizzen.config.codes import violation
from mizzen.config.report import Violation
from mizzen.config.resource import Resource

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_HOST_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)


def is_dns1123_label(value: str) -> bool:
    """``reviews``: lower-case alphanumerics and '-', at most 63 characters."""
    return len(value) <= 63 and _DNS1123_LABEL.fullmatch(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    """``reviews.v1``: dot-separated DNS-1123 labels, at most 253 characters."""
    return 0 < len(value) <= 253 and all(is_dns1123_label(p) for p in value.split("."))


def is_dns1035_label(value: str) -> bool:
    """A DNS-1123 label that starts with a letter (Kubernetes Service names)."""
    return len(value) <= 63 and _DNS1035_LABEL.fullmatch(value) is not None


def label_key_problem(key: str) -> str | None:
    """Kubernetes label/annotation key syntax: ``[prefix/]name``."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return f'invalid label key "{key}": prefix part must be non-empty'
    if prefix and not is_dns1123_subdomain(prefix):
        return f'invalid label key "{key}": prefix part {SUBDOMAIN_MSG}'
    if not name or len(name) > 63 or _LABEL_NAME.fullmatch(name) is None:
        return (
            f"invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (at most 63 characters)"
        )
    return None


def label_value_problem(key: str, value: str) -> str | None:
    """Kubernetes label value syntax (empty allowed)."""
    if value and (len(value) > 63 or _LABEL_NAME.fullmatch(value) is None):
        return (
            f'invalid label value "{value}" for "{key}": must be 63 characters or less and consist of '
            "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
        )
    return None


def label_problems(labels: object, path: str) -> list[Violation]:
    """MZ2003 for every bad key or value of a label map (non-maps are left to the schema check)."""
    if not isinstance(labels, dict):
        return []
    out = []
    for key, value in labels.items():
        problem = label_key_problem(str(key))
        if problem is None and isinstance(value, str):
            problem = label_value_problem(str(key), value)
        if problem is not None:
            out.append(violation("MZ2003", problem, f"{path}.{key}"))
    return out


def check_metadata(res: Resource) -> list[Violation]:
    """Name, namespace, label and annotation-key syntax of ``res.metadata``."""
    out: list[Violation] = []
    name, ns = res.metadata.name, res.metadata.namespace
    if res.kind == "Service":
        if not is_dns1035_label(name):
            out.append(violation("MZ2001", f'Invalid value: "{name}": {DNS1035_MSG}', "metadata.name"))
    elif not is_dns1123_subdomain(name):
        out.append(violation("MZ2001", f'Invalid value: "{name}": {SUBDOMAIN_MSG}', "metadata.name"))
    if ns and not is_dns1123_label(ns):  # "" only for cluster-scoped kinds (the loader sets it)
        out.append(violation("MZ2001", f'Invalid value: "{ns}": {LABEL_MSG}', "metadata.namespace"))
    out.extend(label_problems(dict(res.metadata.labels), "metadata.labels"))
    for key in res.metadata.annotations:
        if (problem := label_key_problem(key)) is not None:
            out.append(
                violation("MZ2003", problem.replace("label key", "annotation key"), f"metadata.annotations.{key}")
            )
    return out


def fqdn_problem(host: str) -> str | None:
    """A host name without wildcard: dot-separated DNS labels (an IP address also passes)."""
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 255:
        return f'invalid host "{host}": domain name must be 1..255 characters'
    for label in name.lower().split("."):
        if not label or len(label) > 63 or _HOST_LABEL.fullmatch(label) is None:
            return f'invalid host "{host}": label "{label}" is not a valid DNS label'
    return None


def wildcard_host_problem(host: str) -> str | None:
    """``*``, ``*.foo.com``, ``*foo.com``, ``foo.com`` or a short name like ``reviews``."""
    if host == "*":
        return None
    if host.startswith("*"):
        rest = host[1:].lstrip(".")
        return fqdn_problem(rest) if rest else None
    if "*" in host:
        return f'invalid host "{host}": wildcard is only allowed as the leftmost label'
    return fqdn_problem(host)


def namespaced_host_problem(value: str, *, allow_tilde: bool = False) -> str | None:
    """``namespace/host`` form of Gateway server and Sidecar egress hosts (namespace ``*``, ``.``, ``~`` or a name)."""
    ns, sep, host = value.partition("/")
    if not sep:
        return f'invalid host "{value}": must be of the form namespace/dnsName'
    if ns not in ("*", ".") and not (allow_tilde and ns == "~") and not is_dns1123_label(ns):
        return f'invalid namespace "{ns}" in host "{value}": must be *, . or a namespace name'
    return wildcard_host_problem(host)


def export_to_problems(values: tuple[str, ...], path: str) -> list[Violation]:
    """exportTo entries: ``.``, ``*``, ``~`` or namespace names; ``~`` and ``*`` stand alone."""
    out = []
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v not in (".", "*", "~") and not is_dns1123_label(v):
            out.append(
                violation(
                    "MZ2009", f"invalid exportTo value \"{v}\": must be '.', '*', '~' or a namespace", f"{path}[{i}]"
                )
            )
        if v in seen:
            out.append(violation("MZ2009", f"duplicate entry in exportTo: {v}", f"{path}[{i}]"))
        seen.add(v)
    if len(values) > 1 and ("~" in values or "*" in values):
        out.append(violation("MZ2009", "exportTo '~' or '*' cannot be combined with other values", path))
    return out


def ip_problem(value: str) -> str | None:
    """An IPv4/IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f'invalid IP address "{value}"'
    return None


def cidr_problem(value: str) -> str | None:
    """An IP address or CIDR block (``10.0.0.0/8``)."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f'invalid IP address or CIDR "{value}"'
    return None
