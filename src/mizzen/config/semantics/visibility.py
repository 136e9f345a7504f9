"""Which namespaces see a resource (``exportTo``) and ``namespace/host`` references.

``exportTo`` (VirtualService, DestinationRule, ServiceEntry; a Kubernetes Service uses the annotation
``networking.istio.io/exportTo``, comma-separated): ``*`` everywhere (also the default when empty),
``.`` the resource's own namespace, ``~`` nowhere, else namespace names.

Gateway server hosts and Sidecar egress hosts are ``namespace/dnsName``: the namespace part is ``*``
(any), ``.`` (the namespace the reference is read in), ``~`` (none) or a name; a Gateway host
written without ``/`` means ``*/host``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mizzen.config.semantics.hosts import fqdn, host_matches

EXPORT_ALL = "*"
EXPORT_LOCAL = "."
EXPORT_NONE = "~"
EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"


def export_scopes(export_to: Sequence[str], namespace: str) -> frozenset[str]:
    """The namespaces a resource of ``namespace`` is visible in: ``{"*"}`` for all, ``{}`` for none."""
    if not export_to or EXPORT_ALL in export_to:
        return frozenset({EXPORT_ALL})
    return frozenset(namespace if e == EXPORT_LOCAL else e for e in export_to if e != EXPORT_NONE)


def exported_to(export_to: Sequence[str], owner_namespace: str, viewer_namespace: str) -> bool:
    """True when a resource of ``owner_namespace`` with ``export_to`` is visible from ``viewer_namespace``."""
    scopes = export_scopes(export_to, owner_namespace)
    return EXPORT_ALL in scopes or viewer_namespace in scopes


def service_export_to(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """A Kubernetes Service's ``exportTo`` from its annotation (``()`` when unset: exported to all)."""
    raw = annotations.get(EXPORT_TO_ANNOTATION, "")
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def namespaced_host(entry: str, own_namespace: str) -> tuple[str, str]:
    """(namespace filter, lower-cased host) of ``ns/host``; ``.`` is ``own_namespace``, no ``/`` is ``*``."""
    ns, _, host = entry.rpartition("/")
    return (own_namespace if ns == EXPORT_LOCAL else (ns or EXPORT_ALL), host.lower())


def namespace_admits(namespace_filter: str, namespace: str) -> bool:
    """True when a ``namespace/host`` filter (already resolved: ``*``, ``~`` or a name) admits ``namespace``."""
    return namespace_filter in (EXPORT_ALL, namespace)


def hosts_admit(entries: Iterable[tuple[str, str]], hostname: str, namespace: str) -> bool:
    """True when one ``(namespace filter, host)`` entry admits ``hostname`` defined in ``namespace``.

    A short host in an entry is read relative to the namespace of the service it is compared with.
    """
    for ns, host in entries:
        if not namespace_admits(ns, namespace):
            continue
        if host_matches(fqdn(host, namespace) if host != "*" else host, hostname):
            return True
    return False
