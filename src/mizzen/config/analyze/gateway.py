"""Gateway analyzers: conflicting servers (IST0145), selectors that match no gateway workload
(IST0101) and server ports the gateway's Service does not expose (IST0162)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.resource import Resource
from mizzen.config.semantics.hosts import hosts_intersect
from mizzen.config.semantics.selectors import GATEWAY, SERVICE, selects

from . import messages as m
from .context import Context, selector_string, spec_list, spec_map


def _selector(gw: Resource) -> dict[str, str]:
    return {str(k): str(v) for k, v in spec_map(gw.spec.get("selector")).items()}


def _servers(gw: Resource) -> list[Mapping[str, Any]]:
    return [spec_map(s) for s in spec_list(gw.spec.get("servers"))]


def _port(server: Mapping[str, Any]) -> int | None:
    number = spec_map(server.get("port")).get("number")
    return number if isinstance(number, int) else None


def analyze_conflicting_gateways(ctx: Context) -> None:
    """IST0145: two Gateways with the same selector and port whose server hosts overlap."""
    table: dict[tuple[str, int], dict[str, list[str]]] = {}
    for gw in ctx.of("Gateway"):
        sel = selector_string(_selector(gw))
        for server in _servers(gw):
            port = _port(server)
            if port is not None:
                hosts = table.setdefault((sel, port), {}).setdefault(f"{gw.namespace}/{gw.name}", [])
                hosts.extend(str(h) for h in spec_list(server.get("hosts")))
    for gw in ctx.of("Gateway"):
        sel, me = selector_string(_selector(gw)), f"{gw.namespace}/{gw.name}"
        for i, server in enumerate(_servers(gw)):
            port = _port(server)
            if port is None:
                continue
            hosts = [str(h) for h in spec_list(server.get("hosts"))]
            others = [
                name
                for name, other_hosts in table[(sel, port)].items()
                if name != me and any(hosts_intersect(h, o) for h in hosts for o in other_hosts)
            ]
            if others:
                ctx.report(
                    m.CONFLICTING_GATEWAYS,
                    gw,
                    ",".join(others),
                    sel,
                    str(port),
                    ",".join(hosts),
                    path=f"spec.servers[{i}]",
                )


def analyze_gateway_workloads(ctx: Context) -> None:
    """IST0101 ``selector`` when workloads are known, then IST0162 when a Service selects the gateway."""
    for gw in ctx.of("Gateway"):
        selector = _selector(gw)
        sel = selector_string(selector)
        matching = [w.labels for w in ctx.workloads if selects(GATEWAY, selector, w.labels)]
        if ctx.pod_workloads_known and not matching:
            first = sorted(selector)[0] if selector else ""
            ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, gw, "selector", m.quote(sel), path=f"spec.selector.{first}")
            continue
        # Without running workloads, the selector itself stands for the gateway pod's labels.
        label_sets = matching or [selector]
        ports = _service_ports(ctx, label_sets)
        if ports is None:
            continue
        for i, server in enumerate(_servers(gw)):
            port = _port(server)
            if port is not None and port not in ports:
                ctx.report(m.GATEWAY_PORT_NOT_DEFINED_ON_SERVICE, gw, port, sel, path=f"spec.servers[{i}].port.number")


def _service_ports(ctx: Context, label_sets: list[Mapping[str, str]]) -> set[int] | None:
    """Ports and target ports of TCP Services selecting any of the label sets; ``None`` if none does."""
    found = False
    ports: set[int] = set()
    for svc in ctx.of("Service"):
        selector = spec_map(svc.spec.get("selector"))
        if not any(selects(SERVICE, selector, labels) for labels in label_sets):
            continue
        found = True
        for p in spec_list(svc.spec.get("ports")):
            p = spec_map(p)
            if str(p.get("protocol", "TCP")) != "TCP":
                continue
            for key in ("port", "targetPort"):
                if isinstance(p.get(key), int):
                    ports.add(int(p[key]))
    return ports if found else None
