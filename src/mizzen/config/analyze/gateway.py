"""``gateway.IngressGatewayPortAnalyzer`` (IST0101 selector, IST0162) and
``gateway.ConflictingGatewayAnalyzer`` (IST0145)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.resource import Resource
from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from .context import Context, labels_of, selector_string, spec_list, spec_map
from .kube import Pod


def selector_of(gw: Resource) -> dict[str, str]:
    """A Gateway's workload selector."""
    return labels_of(gw.spec.get("selector"))


def servers(gw: Resource) -> list[Mapping[str, Any]]:
    """A Gateway's servers (malformed entries as empty ones)."""
    return [spec_map(s) for s in spec_list(gw.spec.get("servers"))]


def port_number(server: Mapping[str, Any]) -> int:
    """A server's port number (0 when unset, as in the proto)."""
    number = spec_map(server.get("port")).get("number")
    return number if isinstance(number, int) and not isinstance(number, bool) else 0


def selector_path(selector: Mapping[str, str]) -> str:
    """The field path istioctl points at for a selector (its first label)."""
    return f"spec.selector.{sorted(selector)[0]}" if selector else "spec.selector"


def gateway_pods(ctx: Context, gw: Resource) -> list[Pod]:
    """Workloads a Gateway's selector picks, in any namespace (as istioctl matches them)."""
    selector = selector_of(gw)
    return [p for p in ctx.pods if subset_of(selector, p.labels)]


def analyze_gateway_ports(ctx: Context) -> None:
    """IST0101 when no workload matches the selector, else IST0162 per server port no Service exposes."""
    for gw in ctx.of("Gateway"):
        selector = selector_of(gw)
        pods = gateway_pods(ctx, gw)
        if not pods:
            ctx.report(
                m.REFERENCED_RESOURCE_NOT_FOUND,
                gw,
                "selector",
                m.quote(selector_string(selector)),
                path=selector_path(selector),
            )
            continue
        ports = _service_ports(ctx, pods)
        for server in servers(gw):
            if isinstance(server.get("port"), Mapping) and port_number(server) not in ports:
                ctx.report(
                    m.GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
                    gw,
                    port_number(server),
                    selector_string(selector),
                    path=selector_path(selector),
                )


def _service_ports(ctx: Context, pods: list[Pod]) -> set[int]:
    """Target ports (else ports) and ports of TCP Services that select one of ``pods`` in its namespace."""
    ports: set[int] = set()
    for pod in pods:
        for svc in ctx.of("Service"):
            if svc.namespace != pod.namespace or not subset_of(labels_of(svc.spec.get("selector")), pod.labels):
                continue
            for p in spec_list(svc.spec.get("ports")):
                p = spec_map(p)
                if p.get("protocol") != "TCP":
                    continue
                target, port = _int(p.get("targetPort")), _int(p.get("port"))
                ports.add(target or port)
                ports.add(port)  # a server port may also be the Service port that maps to it
    return ports


def _int(value: Any) -> int:
    """Kubernetes' ``IntOrString.IntValue``: a number, or a numeric string, else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def analyze_conflicting_gateways(ctx: Context) -> None:
    """IST0145: two Gateways on the same workloads and port list the same host (and bind)."""
    table: dict[tuple[str, int], dict[str, dict[str, str]]] = {}
    for gw in ctx.of("Gateway"):
        sel = selector_string(selector_of(gw))
        for server in servers(gw):
            binds = {str(h): str(server.get("bind") or "") for h in spec_list(server.get("hosts"))}
            # A later server on the same port replaces an earlier one of the same Gateway, as in istioctl.
            table.setdefault((sel, port_number(server)), {})[f"{gw.namespace}/{gw.name}"] = binds
    for gw in ctx.of("Gateway"):
        _conflicts(ctx, gw, table)


def _same_workloads(ctx: Context, a: str, b: str) -> bool:
    if a == b:
        return True
    if a not in b and b not in a:
        return False
    sa, sb = _parse_selector(a), _parse_selector(b)
    return any(subset_of(sa, p.labels) and subset_of(sb, p.labels) for p in ctx.pods)


def _parse_selector(text: str) -> dict[str, str]:
    pairs = (part.split("=") for part in text.split(",") if part)
    return {kv[0]: kv[1] for kv in pairs if len(kv) == 2}


def _conflicts(ctx: Context, gw: Resource, table: dict[tuple[str, int], dict[str, dict[str, str]]]) -> None:
    sel, me = selector_string(selector_of(gw)), f"{gw.namespace}/{gw.name}"
    hits = {key: names for key, names in table.items() if _same_workloads(ctx, sel, key[0])}
    if sel and not hits:
        ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, gw, "selector", m.quote(sel), path=selector_path(selector_of(gw)))
        return
    for server in servers(gw):
        port, bind = port_number(server), str(server.get("bind") or "")
        hosts = [str(h) for h in spec_list(server.get("hosts"))]
        others = sorted(
            name
            for (_, p), names in hits.items()
            if p == port
            for name, known in names.items()
            if name != me and any(h in known and known[h] == bind for h in hosts)
        )
        if others:
            ctx.report(m.CONFLICTING_GATEWAYS, gw, ",".join(others), sel, str(port), ",".join(hosts))
