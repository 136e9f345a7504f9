"""``serviceentry.Analyzer`` (IST0134: TCP ports without addresses) and
``serviceentry.ConflictingServiceEntryProtocolAnalyzer`` (IST0177)."""

from __future__ import annotations

from mizzen.config.resource import Resource
from mizzen.config.semantics.visibility import EXPORT_ALL, export_scopes

from . import messages as m
from .context import Context, spec_list, spec_map


def _addresses_allocated(se: Resource) -> bool:
    """Addresses Istio has already assigned, reported in the entry's status."""
    return bool(spec_list(se.status.get("addresses")))


def analyze_addresses(ctx: Context) -> None:
    """IST0134: without addresses (given, allocated, or by DNS auto-allocation) a TCP port is ambiguous."""
    if ctx.mesh.dns_auto_allocate:
        return
    for se in ctx.of("ServiceEntry"):
        if spec_list(se.spec.get("addresses")) or _addresses_allocated(se):
            continue
        for i, port in enumerate(spec_list(se.spec.get("ports"))):
            protocol = str(spec_map(port).get("protocol") or "")
            if protocol == "" or protocol.lower() == "tcp":
                ctx.report(m.SERVICE_ENTRY_ADDRESSES_REQUIRED, se, path=f"spec.ports[{i}]")


def analyze_conflicting_protocols(ctx: Context) -> None:
    """IST0177: ServiceEntries visible in one namespace give one host and port different protocols."""
    index: dict[tuple[str, str, int], list[tuple[str, Resource]]] = {}
    for se in ctx.of("ServiceEntry"):
        scopes = export_scopes([str(e) for e in spec_list(se.spec.get("exportTo"))], se.namespace)
        for scope in sorted(scopes):
            for host in spec_list(se.spec.get("hosts")):
                for port in spec_list(se.spec.get("ports")):
                    port = spec_map(port)
                    number = port.get("number")
                    key = (scope, str(host), number if isinstance(number, int) else 0)
                    index.setdefault(key, []).append((str(port.get("protocol") or "").upper(), se))
    reported: set[tuple[str, str]] = set()
    for (scope, host, number), entries in index.items():
        if scope != EXPORT_ALL:
            entries = entries + index.get((EXPORT_ALL, host, number), [])
        protocols = sorted({p for p, _ in entries})
        if len(protocols) < 2:
            continue
        names = ", ".join(sorted({f"{se.namespace}/{se.name}" for _, se in entries}))
        for _, se in entries:
            if (se.namespace, se.name) in reported:
                continue
            reported.add((se.namespace, se.name))
            ctx.report(
                m.CONFLICTING_SE_PROTOCOL, se, names, m.quote(host), number, ", ".join(protocols), path="metadata.name"
            )
