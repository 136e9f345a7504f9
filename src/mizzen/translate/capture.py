"""Sidecar LDS/CDS for transparent capture (``INTERCEPTION_MODE: REDIRECT``, ``mizzen run --capture``).

Only for proxies whose node metadata says ``REDIRECT``; every other proxy's output is untouched. The shape
is Istio's:

- ``virtualOutbound`` on ``0.0.0.0:15001`` with ``use_original_dst``: a connection the nftables rules
  redirected is handed to the listener for the address the app dialled; one that matches none takes the
  catch-all chain, ``PassthroughOriginalDst`` (an ``ORIGINAL_DST`` cluster: the destination as dialled)
  under ALLOW_ANY, ``BlackHoleCluster`` under REGISTRY_ONLY; one dialled at 15001 itself goes to
  ``BlackHoleCluster`` (Istio's ``virtualOutbound-blackhole``: passing it through would loop);
- per service port, ``0.0.0.0_<port>`` with ``bind_to_port: false`` (reached only through
  ``virtualOutbound``): HTTP ports route by Host on RDS ``"<port>"`` (Istio's per-port route config);
  a TCP port proxies to its service, when exactly one service in scope has that port (Istio tells such
  services apart by ClusterIP, which Mizzen's services do not have: those ports pass through);
- ``virtualInbound`` on ``0.0.0.0:15006``: the original-destination listener filter restores the port the
  peer dialled and each inbound port's filter chains (mTLS/plaintext per PeerAuthentication, the policy
  filters), built exactly as for the HTTP-proxy mode's inbound listener, match on it; anything else
  passes through to ``InboundPassthroughCluster``, except 15006 itself (``virtualInbound-blackhole``). The
  per-port inbound listeners are then not bound.

15001 and 15006 are the defaults of the proxy's ``capture_outbound_port``/``capture_inbound_port``: several
captured workloads' Envoys share the host's namespace, so ``mizzen run --capture`` picks free ports and
sends them in the node metadata. The inbound clusters reach the app at the proxy's ``app_address``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from mizzen.node import Proxy
from mizzen.translate import names
from mizzen.translate.common import JSONDict
from mizzen.translate.endpoints import socket_address
from mizzen.translate.filters import Direction, tcp_proxy
from mizzen.translate.outbound_ports import outbound_port_filter
from mizzen.translate.scope import Scope
from mizzen.translate.vhosts import is_http

REDIRECT = "REDIRECT"
VIRTUAL_OUTBOUND = "virtualOutbound"
VIRTUAL_INBOUND = "virtualInbound"
# Mizzen's PassthroughCluster is a dynamic forward proxy (for the HTTP-proxy mode); a captured connection
# carries its destination in the socket instead, so capture has its own ORIGINAL_DST clusters.
OUTBOUND_PASSTHROUGH = "PassthroughOriginalDst"
INBOUND_PASSTHROUGH = "InboundPassthroughCluster"
ORIGINAL_DST_FILTER = "envoy.filters.listener.original_dst"
T_ORIGINAL_DST = "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"

Listeners = dict[str, JSONDict]


def captures(proxy: Proxy) -> bool:
    """True for a sidecar in transparent-capture mode."""
    return proxy.type == "sidecar" and proxy.interception == REDIRECT


def capture_listeners(scope: Scope, inbound: Sequence[JSONDict]) -> tuple[Listeners, Listeners]:
    """(listeners, route configs) of a capture sidecar; ``inbound`` are its HTTP-proxy-mode inbound listeners."""
    listeners: Listeners = {VIRTUAL_OUTBOUND: virtual_outbound(scope)}
    routes: Listeners = {}
    for listener, rc in port_listeners(scope):
        listeners[str(listener["name"])] = listener
        if rc is not None:
            routes[str(rc["name"])] = rc
    listeners[VIRTUAL_INBOUND] = virtual_inbound(scope, inbound)
    return listeners, routes


def virtual_outbound(scope: Scope) -> JSONDict:
    """``0.0.0.0:15001``: hands each connection to its original destination's listener, else the catch-all."""
    target = names.BLACKHOLE_CLUSTER if scope.outbound_policy == "REGISTRY_ONLY" else OUTBOUND_PASSTHROUGH
    filt = tcp_proxy(scope.proxy, scope.mesh.mesh, target, [(target, 100)], resolved=scope.telemetry)
    return {
        "name": VIRTUAL_OUTBOUND,
        "address": socket_address("0.0.0.0", scope.proxy.capture_outbound_port),
        "use_original_dst": True,
        "filter_chains": [
            _blackhole(scope, "virtualOutbound-blackhole", scope.proxy.capture_outbound_port),
            {"name": "virtualOutbound-catchall-tcp", "filters": [filt]},
        ],
        "traffic_direction": "OUTBOUND",
    }


def _blackhole(scope: Scope, name: str, port: int, direction: Direction = "outbound") -> JSONDict:
    """Istio's chain for a connection whose original destination is the capture port itself (dialled
    directly, not redirected): passing it through would connect back to the same listener, forever."""
    filt = tcp_proxy(
        scope.proxy,
        scope.mesh.mesh,
        names.BLACKHOLE_CLUSTER,
        [(names.BLACKHOLE_CLUSTER, 100)],
        direction,
        resolved=scope.telemetry,
    )
    return {"name": name, "filter_chain_match": {"destination_port": port}, "filters": [filt]}


def port_listeners(scope: Scope) -> list[tuple[JSONDict, JSONDict | None]]:
    """``0.0.0.0_<port>`` for each service port in scope (not bound: ``virtualOutbound`` hands them over)."""
    by_port: dict[int, list[tuple[str, bool]]] = {}
    for svc in scope.services:
        for sp in svc.ports:
            by_port.setdefault(sp.number, []).append((svc.hostname, is_http(sp)))
    out: list[tuple[JSONDict, JSONDict | None]] = []
    for number, entries in sorted(by_port.items()):
        http = all(http for _, http in entries)
        if not http and len(entries) > 1:
            continue  # several services share a TCP port: without ClusterIPs, passthrough (module docstring)
        hosts = {host for host, _ in entries}
        services = [s for s in scope.services if s.hostname in hosts]
        stat = f"outbound_0.0.0.0_{number}"
        filt, rc = outbound_port_filter(scope, number, stat, services, http=http, dynamic_forward=False)
        name = names.listener("0.0.0.0", number)
        listener: JSONDict = {
            "name": name,
            "address": socket_address("0.0.0.0", number),
            "bind_to_port": False,
            "filter_chains": [{"filters": [filt]}],
            "traffic_direction": "OUTBOUND",
        }
        out.append((listener, rc))
    return out


def virtual_inbound(scope: Scope, inbound: Sequence[JSONDict]) -> JSONDict:
    """``0.0.0.0:15006``: each inbound listener's chains, matched on the port the peer dialled."""
    chains = [_blackhole(scope, "virtualInbound-blackhole", scope.proxy.capture_inbound_port, "inbound")]
    listener_filters: list[JSONDict] = [{"name": ORIGINAL_DST_FILTER, "typed_config": {"@type": T_ORIGINAL_DST}}]
    for listener in inbound:
        address = cast(JSONDict, cast(JSONDict, listener["address"])["socket_address"])
        port = int(cast(int, address["port_value"]))
        for chain in cast(list[JSONDict], listener["filter_chains"]):
            match = cast(JSONDict, chain.get("filter_chain_match") or {})
            chains.append({**chain, "filter_chain_match": {"destination_port": port, **match}})
        for extra in cast(list[JSONDict], listener.get("listener_filters", [])):
            if extra not in listener_filters:
                listener_filters.append(extra)
    passthrough = tcp_proxy(
        scope.proxy,
        scope.mesh.mesh,
        INBOUND_PASSTHROUGH,
        [(INBOUND_PASSTHROUGH, 100)],
        "inbound",
        resolved=scope.telemetry,
    )
    return {
        "name": VIRTUAL_INBOUND,
        "address": socket_address("0.0.0.0", scope.proxy.capture_inbound_port),
        "listener_filters": listener_filters,
        "listener_filters_timeout": "0s",  # Istio's protocolDetectionTimeout default: wait
        "continue_on_listener_filters_timeout": True,
        "filter_chains": chains,
        "default_filter_chain": {"name": "virtualInbound-catchall-tcp", "filters": [passthrough]},
        "traffic_direction": "INBOUND",
    }


def capture_clusters(scope: Scope) -> dict[str, JSONDict]:
    """The ``ORIGINAL_DST`` clusters the capture listeners pass unknown destinations to."""
    timeout = scope.mesh.mesh.connect_timeout
    return {
        name: {"name": name, "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": timeout}
        for name in (OUTBOUND_PASSTHROUGH, INBOUND_PASSTHROUGH)
    }
