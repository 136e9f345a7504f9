"""Host names as Istio reads them: short-name resolution, wildcard matching and intersection.

A dot-less name is relative to the namespace of the resource that mentions it (Istio's
``ResolveShortnameToFQDN``): ``reviews`` in ``default`` is ``reviews.default.svc.cluster.local``.
``*``, IP addresses and names with a dot are kept as written. Where the name of a known service is
wanted (a route destination, an upstream, a request's authority), :func:`resolve` also accepts the
Kubernetes DNS forms ``name.ns`` and ``name.ns.svc``, as a client in the cluster could use them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

DOMAIN_SUFFIX = "svc.cluster.local"
_KUBE_FQDN = re.compile(r"^(.+)\.(.+)\.svc\.cluster\.local$")


def kube_host(name: str, namespace: str) -> str:
    """The hostname of Kubernetes Service ``name`` in ``namespace``: ``name.namespace.svc.cluster.local``."""
    return f"{name}.{namespace}.{DOMAIN_SUFFIX}"


def fqdn(host: str, namespace: str) -> str:
    """``host`` resolved relative to ``namespace`` (lower-cased): only dot-less names expand."""
    host = host.strip().lower()
    if not host or host == "*" or "." in host or _is_ip(host):
        return host
    return kube_host(host, namespace)


def resolve(host: str, namespace: str, known: Collection[str] = ()) -> str:
    """Like :func:`fqdn`, but ``name.ns`` / ``name.ns.svc`` become the FQDN when ``known`` has it."""
    full = fqdn(host, namespace)
    if full in known or "." not in full or full.startswith("*") or full.endswith(DOMAIN_SUFFIX):
        return full
    suffixes = (".cluster.local",) if full.endswith(".svc") else (f".{DOMAIN_SUFFIX}", ".cluster.local")
    return next((full + s for s in suffixes if full + s in known), full)


def name_of_host(host: str, default_namespace: str) -> tuple[str, str]:
    """(namespace, name) a host refers to: parsed from a Kubernetes FQDN, else ``host`` in the namespace."""
    m = _KUBE_FQDN.match(host)
    if m:
        return m.group(2), m.group(1)
    return default_namespace, host


def host_matches(pattern: str, hostname: str) -> bool:
    """True when ``pattern`` (exact, ``*`` or ``*suffix``) covers ``hostname`` (which may be a wildcard)."""
    if pattern == hostname or pattern == "*":
        return True
    return pattern.startswith("*") and hostname.endswith(pattern[1:])


def hosts_intersect(a: str, b: str) -> bool:
    """Istio's ``host.Name.Matches``: two host patterns (either may be a wildcard) can name one host."""
    return host_matches(a, b) or host_matches(b, a)


def match_specificity(pattern: str) -> int:
    """Higher for more specific patterns: exact names beat wildcards, longer suffixes beat shorter."""
    return 10_000 if not pattern.startswith("*") else len(pattern)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
