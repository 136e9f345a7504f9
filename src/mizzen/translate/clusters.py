"""CDS: outbound clusters per service port and per DestinationRule subset, inbound clusters to the
app, and the special clusters (BlackHoleCluster, PassthroughCluster, zipkin)."""

from __future__ import annotations

from mizzen.config.models.destination_rule import ClientTLSSettings, ConnectionPoolSettings, Subset
from mizzen.node import InboundPort
from mizzen.registry.model import Endpoint, Service, ServicePort
from mizzen.translate import locality, names, stats_logger, telemetry_api
from mizzen.translate.common import JSONDict
from mizzen.translate.endpoints import (
    EndpointMetadata,
    cluster_kind,
    load_assignment,
    socket_address,
    subset_endpoints,
)
from mizzen.translate.policies import traffic
from mizzen.translate.scope import DestinationPolicy, Scope, inbound_ports
from mizzen.translate.security.wiring import EndpointLabeller, cluster_transport
from mizzen.translate.tunnels import internal_cluster, tunnel_names

H2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})

# One DNS cache shared by every dynamic-forward-proxy cluster and the HTTP filter (Envoy requires the
# same configuration wherever a cache name appears).
DNS_CACHE_CONFIG: JSONDict = {"name": names.DNS_CACHE, "dns_lookup_family": "V4_ONLY"}

ADS_SOURCE: JSONDict = {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}


def build_clusters(scope: Scope) -> dict[str, JSONDict]:
    """All clusters for the proxy, keyed by name and sorted."""
    out: dict[str, JSONDict] = {}
    for svc in scope.services:
        out.update(service_clusters(scope, svc))
    out.update(scope_clusters(scope))
    return dict(sorted(out.items()))


def scope_clusters(scope: Scope) -> dict[str, JSONDict]:
    """The clusters no one service owns: inbound, passthrough, CONNECT tunnels, black hole, zipkin."""
    out: dict[str, JSONDict] = {}
    if scope.proxy.type == "sidecar":
        for inbound in inbound_ports(scope):
            pool = inbound_pool(scope, inbound)
            out[names.inbound_cluster(inbound.service_port)] = inbound_cluster(
                inbound, scope.mesh.mesh.connect_timeout, pool, scope.proxy.app_address
            )
        passthrough = dynamic_cluster(names.PASSTHROUGH_CLUSTER, scope.mesh.mesh.connect_timeout)
        out[names.PASSTHROUGH_CLUSTER] = {
            **passthrough,
            "metadata": stats_logger.named_cluster_metadata(names.PASSTHROUGH_CLUSTER),
        }
        out.update((n, internal_cluster(n, scope.mesh.mesh.connect_timeout)) for n in tunnel_names(scope))
        if scope.proxy.interception == "REDIRECT":
            from mizzen.translate.capture import capture_clusters  # capture imports this module

            out.update(capture_clusters(scope))
    out[names.BLACKHOLE_CLUSTER] = {
        "name": names.BLACKHOLE_CLUSTER,
        "type": "STATIC",
        "connect_timeout": scope.mesh.mesh.connect_timeout,
        "metadata": stats_logger.named_cluster_metadata(names.BLACKHOLE_CLUSTER),
    }
    # The MeshConfig's collector, else the first zipkin extension provider (one collector cluster per mesh).
    collector = telemetry_api.zipkin_address(scope.mesh.mesh)
    if collector and not scope.mesh.mesh.zipkin_cluster_static:
        out[names.ZIPKIN_CLUSTER] = zipkin_cluster(collector, scope.mesh.mesh.connect_timeout)
    return out


def service_clusters(scope: Scope, svc: Service) -> dict[str, JSONDict]:
    """The outbound clusters of one service (every port, every subset): the unit of incremental reuse."""
    policy = scope.destination_policy(svc.hostname)
    out: dict[str, JSONDict] = {}
    for port in svc.ports:
        out.update(_service_port_clusters(scope, svc, port, policy))
    return out


def _service_port_clusters(
    scope: Scope, svc: Service, port: ServicePort, policy: DestinationPolicy
) -> dict[str, JSONDict]:
    return {
        names.outbound_cluster(port.number, subset.name if subset else "", svc.hostname): outbound_cluster(
            scope, svc, port, policy, subset
        )
        for subset in (None, *policy.subsets)
    }


def outbound_cluster(
    scope: Scope, svc: Service, port: ServicePort, policy: DestinationPolicy, subset: Subset | None
) -> JSONDict:
    """One ``outbound|port|subset|host`` cluster with Istio's defaults and the DR's policy applied."""
    subset_name = subset.name if subset is not None else ""
    name = names.outbound_cluster(port.number, subset_name, svc.hostname)
    cluster: JSONDict = {"name": name, "connect_timeout": scope.mesh.mesh.connect_timeout}
    kind = cluster_kind(svc)
    if kind == "EDS":
        cluster["type"] = "EDS"
        cluster["eds_cluster_config"] = {"service_name": name, "eds_config": ADS_SOURCE}
    elif kind == "DYNAMIC":
        cluster.update(dynamic_cluster(name, scope.mesh.mesh.connect_timeout))
    block = traffic.effective_policy(policy.traffic_policy, subset, port.number)
    if kind not in ("EDS", "DYNAMIC"):
        eps = subset_endpoints(scope.endpoints_of(svc.hostname, port.number), subset)
        cluster["cluster_type"] = dns_cluster_type(logical=kind == "LOGICAL_DNS")
        labeller = EndpointLabeller(scope.mesh)
        cluster["load_assignment"] = _dns_assignment(name, svc, port, eps, labeller.for_cluster(block.tls))
    if kind != "DYNAMIC":
        traffic.apply_load_balancer(cluster, block.load_balancer)
    cluster["circuit_breakers"] = traffic.circuit_breakers(block.connection_pool)
    traffic.apply_connection_pool(cluster, block.connection_pool, port.protocol in H2_PROTOCOLS)
    _apply_outlier_and_locality(cluster, block, eds=kind == "EDS")
    _apply_tls(scope, cluster, svc, port, subset_name, block.tls, kind)
    meta: dict[str, str] = {}
    if policy.source is not None:
        meta["config"] = names.config_path("DestinationRule", policy.source.namespace, policy.source.name)
    if subset_name:
        meta["subset"] = subset_name
    # The destination service, for the client side's metrics (translate/stats_logger.py CLUSTER_TAGS).
    filter_metadata: JSONDict = {stats_logger.METADATA_KEY: dict(stats_logger.cluster_metadata(svc))}
    if meta:
        filter_metadata["istio"] = dict(sorted(meta.items()))
    cluster["metadata"] = {"filter_metadata": dict(sorted(filter_metadata.items()))}
    return cluster


def _apply_outlier_and_locality(cluster: JSONDict, block: traffic.PolicyBlocks, *, eds: bool) -> None:
    """Outlier detection with Istio's panic threshold, and ``common_lb_config`` for locality weights."""
    common: JSONDict = {}
    if block.outlier_detection is not None:
        cluster["outlier_detection"] = traffic.outlier_detection(block.outlier_detection)
        common = traffic.healthy_panic_threshold(block.outlier_detection)
    lb = block.load_balancer
    if eds and locality.locality_weighted(lb.locality_lb_setting if lb is not None else None):
        common = {**common, "locality_weighted_lb_config": {}}  # `distribute` weighs localities
    if common:
        cluster["common_lb_config"] = common


def _apply_tls(
    scope: Scope,
    cluster: JSONDict,
    svc: Service,
    port: ServicePort,
    subset: str,
    tls: ClientTLSSettings | None,
    kind: str,
) -> None:
    """The cluster's transport socket(s): DestinationRule ``tls``, else auto mTLS (Istio's cluster_tls).
    Certificates and CAs are SDS references: the agent's (``default``, ``ROOTCA``, Istio's ``file-root:`` /
    ``file-cert:`` names for files) or, for ``credentialName``, the control plane's over ADS."""
    passthrough = kind == "DYNAMIC" or cluster.get("type") == "ORIGINAL_DST"
    transport = cluster_transport(scope, svc, port, subset, tls, dynamic=kind == "DYNAMIC", passthrough=passthrough)
    cluster.update(transport.cluster_fields())
    if transport.upstream_http_protocol_options:
        options = cluster.setdefault("typed_extension_protocol_options", {})
        if isinstance(options, dict):
            # HttpProtocolOptions needs an upstream protocol: the port's own, as with no options at all.
            codec = "http2_protocol_options" if port.protocol in H2_PROTOCOLS else "http_protocol_options"
            fresh = {"@type": names.T_HTTP_PROTOCOL_OPTIONS, "explicit_http_config": {codec: {}}}
            http = options.setdefault(names.HTTP_PROTOCOL_OPTIONS, fresh)
            if isinstance(http, dict):
                http["upstream_http_protocol_options"] = dict(transport.upstream_http_protocol_options)


def _dns_assignment(
    name: str, svc: Service, port: ServicePort, eps: list[Endpoint], tls_metadata: EndpointMetadata
) -> JSONDict:
    if eps:
        return load_assignment(name, eps, extra=tls_metadata)
    # A DNS ServiceEntry without endpoints resolves its own host name.
    target = port.target_port or port.number
    return {
        "cluster_name": name,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(svc.hostname, target)}}]}],
    }


def dns_cluster_type(logical: bool) -> JSONDict:
    """Envoy's DNS cluster extension (the Cluster-level DNS fields are deprecated in 1.40) with Istio's
    settings: refresh 60s, respect TTL, IPv4. ``logical`` = LOGICAL_DNS (DNS_ROUND_ROBIN)."""
    config: JSONDict = {
        "@type": names.T_DNS_CLUSTER,
        "dns_refresh_rate": "60s",
        "respect_dns_ttl": True,
        "dns_lookup_family": "V4_ONLY",
    }
    if logical:
        config["all_addresses_in_single_endpoint"] = True
    return {"name": names.DNS_CLUSTER, "typed_config": config}


def dynamic_cluster(name: str, connect_timeout: str) -> JSONDict:
    """A dynamic-forward-proxy cluster: connects to the host the request names (no iptables, so this
    is how ALLOW_ANY passthrough and resolution-NONE services reach their destination)."""
    return {
        "name": name,
        "connect_timeout": connect_timeout,
        "lb_policy": "CLUSTER_PROVIDED",
        "cluster_type": {
            "name": "envoy.clusters.dynamic_forward_proxy",
            "typed_config": {"@type": names.T_DFP_CLUSTER, "dns_cache_config": DNS_CACHE_CONFIG},
        },
    }


def inbound_pool(scope: Scope, port: InboundPort) -> ConnectionPoolSettings | None:
    """The connection pool guarding the app: the Sidecar's ``inboundConnectionPool``, else the
    ``connectionPool`` of the DestinationRule of the proxy's own service on that port (as Istio does,
    so the server side enforces the capacity clients are told about)."""
    if scope.sidecar is not None and scope.sidecar.spec.inbound_connection_pool is not None:
        return scope.sidecar.spec.inbound_connection_pool
    proxy = scope.proxy
    for svc in scope.mesh.registry.services_selecting(proxy.namespace, proxy.labels):
        if svc.port(port.service_port) is not None:
            policy = scope.destination_policy(svc.hostname).traffic_policy
            pool = traffic.effective_policy(policy, None, port.service_port).connection_pool
            if pool is not None and pool != ConnectionPoolSettings():
                return pool
    return None


def inbound_cluster(
    port: InboundPort, connect_timeout: str, pool: ConnectionPoolSettings | None = None, address: str = "127.0.0.1"
) -> JSONDict:
    """``inbound|<service port>||``: STATIC to the app on ``address`` (127.0.0.1; a captured app's own
    veth address) at its app port."""
    name = names.inbound_cluster(port.service_port)
    cluster: JSONDict = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "lb_policy": "LEAST_REQUEST",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(address, port.app_port)}}]}],
        },
        "circuit_breakers": traffic.circuit_breakers(pool),
    }
    traffic.apply_connection_pool(cluster, pool, port.protocol.upper() in H2_PROTOCOLS)
    return cluster


def zipkin_cluster(address: str, connect_timeout: str) -> JSONDict:
    """The ``zipkin`` collector cluster for ``host:port``."""
    host, _, port = address.rpartition(":")
    return {
        "name": names.ZIPKIN_CLUSTER,
        "connect_timeout": connect_timeout,
        "cluster_type": dns_cluster_type(logical=False),
        "load_assignment": {
            "cluster_name": names.ZIPKIN_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": socket_address(host or "127.0.0.1", int(port or 9411))}}]}
            ],
        },
    }
