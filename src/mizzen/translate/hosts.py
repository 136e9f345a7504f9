"""The virtual-host domains of a service: the names a client may use for it, with and without ports.

Host resolution and wildcard matching are Istio's shared rules, in :mod:`mizzen.config.semantics.hosts`.
"""

from __future__ import annotations

from collections.abc import Iterable

from mizzen.config.semantics.hosts import DOMAIN_SUFFIX
from mizzen.registry.model import Service


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
