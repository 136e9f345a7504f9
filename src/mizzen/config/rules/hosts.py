"""Istio's host, label and address syntax, as its webhook checks them (not Kubernetes' stricter names).

Istio's DNS labels allow upper case; a wildcard may only lead the first label (``*``, ``*.foo.com``,
``*foo.com``, ``*-foo.com``); a top-level domain cannot be all digits (so ``1.2.3.4`` is not a host name);
one trailing dot is allowed (``istio.io.``). Each function returns Istio's complaint as text, or ``None``.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_WILDCARD_LABEL = re.compile(r"\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_OUTBOUND_FORMAT = "outbound_.<port>_._.<hostname>"
MAX_LABEL = 63


def is_label(value: str) -> bool:
    """Istio's ``IsDNS1123Label``: alphanumerics and '-', either case, at most 63 characters."""
    return len(value) <= MAX_LABEL and _LABEL.fullmatch(value) is not None


def is_wildcard_label(value: str) -> bool:
    """A label that may start with ``*`` or ``*-`` (or be just ``*``)."""
    return len(value) <= MAX_LABEL and _WILDCARD_LABEL.fullmatch(value) is not None


def _preconditions(name: str) -> str | None:
    if len(name) > 255:
        return f'domain name "{name}" too long (max 255)'
    if not name:
        return "empty domain name not allowed"
    return None


def _labels(domain: str) -> str | None:
    parts = domain.split(".")
    if parts[-1].isdigit():
        return f'domain name "{domain}" invalid (top level domain "{parts[-1]}" cannot be all-numeric)'
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None  # "istio.io." is an unambiguous name
        if not is_label(label):
            return f'domain name "{domain}" invalid (label "{label}" invalid)'
    return None


def fqdn_error(fqdn: str) -> str | None:
    """A host name without wildcard (an IP address does not pass: its last label is numeric)."""
    return _preconditions(fqdn) or _labels(fqdn)


def wildcard_domain_error(domain: str) -> str | None:
    """A host name whose first label may be a wildcard (``*``, ``*.foo.com``, ``*foo.com``)."""
    if (problem := _preconditions(domain)) is not None:
        return problem
    first, dot, rest = domain.partition(".")
    if not is_wildcard_label(first):
        return f'domain name "{domain}" invalid (label "{first}" invalid)'
    return _labels(rest) if dot else None


def gateway_bound_domain_error(domain: str, *, sni: bool) -> str | None:
    """A VirtualService host when bound to gateways; SNI routes may use ``outbound_.<port>_._.<host>``."""
    if (problem := _preconditions(domain)) is not None:
        return problem
    if sni and domain.startswith("outbound_"):
        parts = domain.split("_")
        if len(parts) < 4:
            return f"domain name {domain} invalid, should follow '{_OUTBOUND_FORMAT}' format"
        direction, port, name = parts[0], parts[1].strip("."), parts[3].strip(".")
        if direction != "outbound":
            return f'domain name "{domain}" invalid (label "{direction}" invalid)'
        if not re.search(r"[0-9]", port):
            return f'domain name "{domain}" invalid (label "{port}" invalid). should follow {_OUTBOUND_FORMAT} format'
        if not re.search(r"[a-zA-Z]", name):
            return f'domain name "{domain}" invalid (label "{name}" invalid). should follow {_OUTBOUND_FORMAT} format'
        return None
    return wildcard_domain_error(domain)


def partial_wildcard_error(host: str) -> str | None:
    """Istio's rule for Gateway/Sidecar hosts (and a ServiceEntry warning): ``*foo.com`` is not allowed."""
    if "*" in host and host != "*" and not host.startswith("*."):
        return f'partial wildcard "{host}" not allowed'
    return None


def is_ip(value: str) -> bool:
    """An IPv4 or IPv6 address (with an optional IPv6 zone), as Go's ``netip.ParseAddr`` reads it."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ip_error(value: str) -> str | None:
    """Istio's ``ValidateIPAddress``."""
    return None if is_ip(value) else f"{value} is not a valid IP"


def subnet_error(value: str) -> str | None:
    """Istio's ``ValidateIPSubnet``: an address, or ``address/bits`` (host bits may be set)."""
    if value.count("/") == 1:
        addr, _, bits = value.partition("/")
        if is_ip(addr) and "%" not in addr and bits.isdigit() and not (len(bits) > 1 and bits[0] == "0"):
            limit = 32 if ipaddress.ip_address(addr).version == 4 else 128
            if int(bits) <= limit:
                return None
        return f"{value} is not a valid CIDR block"
    return ip_error(value)


def _hostname_part_errors(hostname: str, *, gateway: bool) -> list[str]:
    out: list[str] = []
    if hostname != "*" and "." not in hostname:
        out.append("short names (non FQDN) are not allowed")
    problem = wildcard_domain_error(hostname)
    if problem is not None and not (gateway and is_ip(hostname)):
        out.append(problem)
    if (partial := partial_wildcard_error(hostname)) is not None:
        out.append(partial)
    return out


def namespaced_host_errors(hostname: str, *, gateway: bool) -> list[str]:
    """``namespace/dnsName`` hosts of Gateway servers (plain ``dnsName`` allowed) and Sidecar egress."""
    ns, slash, name = hostname.partition("/")
    if not slash:
        return _hostname_part_errors(hostname, gateway=True) if gateway else ["host must be of form namespace/dnsName"]
    out: list[str] = []
    if not ns or not name:
        out.append("config namespace and dnsName in host entry cannot be empty")
    if gateway:
        if ns not in ("*", ".") and not is_label(ns):
            out.append(f'invalid namespace value "{ns}" in gateway')
    else:
        bare = ns.removeprefix("~")
        if bare not in ("", "*", ".") and not is_label(bare):
            out.append(f'invalid namespace value "{ns}" in sidecar')
    return out + _hostname_part_errors(name, gateway=gateway)


def is_wildcarded(host: str) -> bool:
    """Istio's ``host.Name.IsWildCarded``."""
    return host.startswith("*")


def host_subset_of(a: str, b: str) -> bool:
    """Istio's ``host.Name.SubsetOf``: every host ``a`` matches is also matched by ``b``."""
    if is_wildcarded(a):
        return is_wildcarded(b) and len(a) >= len(b) and a[1:].endswith(b[1:])
    if is_wildcarded(b):
        return a.endswith(b[1:])
    return a == b
