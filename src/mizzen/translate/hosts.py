"""Host names: short-name resolution, wildcard matching and the virtual-host domain variants."""

from __future__ import annotations

from collections.abc import Iterable

from mizzen.registry.model import Service

DOMAIN_SUFFIX = "svc.cluster.local"


def fqdn(host: str, namespace: str) -> str:
    """Resolve a host as Istio does: a name without dots is relative to ``namespace``.

    ``reviews`` in ``default`` -> ``reviews.default.svc.cluster.local``; ``*`` and names with dots are
    kept as written (lower-cased).
    """
    host = host.strip().lower()
    if not host or host == "*" or "." in host:
        return host
    return f"{host}.{namespace}.{DOMAIN_SUFFIX}"


def resolve(host: str, namespace: str, known: Iterable[str] = ()) -> str:
    """Like :func:`fqdn`, but also accepts ``name.ns`` / ``name.ns.svc`` when that service exists."""
    full = fqdn(host, namespace)
    if "." in host and not host.endswith(DOMAIN_SUFFIX) and not host.startswith("*"):
        known_set = known if isinstance(known, frozenset | set) else set(known)
        if full not in known_set:
            for suffix in (f".{DOMAIN_SUFFIX}", ".cluster.local"):
                candidate = full + suffix if not full.endswith(".svc") else full + ".cluster.local"
                if candidate in known_set:
                    return candidate
    return full


def host_matches(pattern: str, hostname: str) -> bool:
    """True when ``pattern`` (exact, ``*`` or ``*.suffix``) covers ``hostname``."""
    if pattern == "*" or pattern == hostname:
        return True
    if pattern.startswith("*"):
        return hostname.endswith(pattern[1:])
    return False


def hosts_intersect(a: str, b: str) -> bool:
    """True when two host patterns (either may be a wildcard) can name the same host."""
    return host_matches(a, b) or host_matches(b, a)


def match_specificity(pattern: str) -> int:
    """Higher for more specific patterns: exact names beat wildcards, longer suffixes beat shorter."""
    return 10_000 if not pattern.startswith("*") else len(pattern)


def domain_variants(service: Service, proxy_namespace: str) -> list[str]:
    """Names a client may use for ``service``, per Istio's same-/other-namespace rules (no ports).

    Kubernetes-style hosts in the proxy's namespace include the bare short name; other namespaces get
    ``name.ns``, ``name.ns.svc`` and the FQDN. Other hosts get just the host. The absolute form with a
    trailing dot is left out: HTTP-proxy clients never send it.
    """
    host = service.hostname
    out = [host]
    suffix = f".{DOMAIN_SUFFIX}"
    if host.endswith(suffix):
        parts = host[: -len(suffix)].split(".")
        if len(parts) == 2:
            name, ns = parts
            if ns == proxy_namespace:
                out.append(name)
            out += [f"{name}.{ns}", f"{name}.{ns}.svc"]
    out += [a for a in service.addresses if a and "/" not in a]
    return list(dict.fromkeys(out))


def with_port(names: Iterable[str], port: int) -> list[str]:
    """``name:port`` for each name (what an HTTP-proxy client sends as Host); port 80 adds bare names."""
    out: list[str] = []
    for n in names:
        out.append(f"{n}:{port}")
        if port == 80:
            out.append(n)
    return out
