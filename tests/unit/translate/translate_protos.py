"""Envoy proto parsing for translator output: every Any type the translator may embed is imported so
``json_format.ParseDict`` can resolve it."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import envoy.config.trace.v3.zipkin_pb2
import envoy.extensions.access_loggers.file.v3.file_pb2
import envoy.extensions.access_loggers.filters.cel.v3.cel_pb2
import envoy.extensions.access_loggers.grpc.v3.als_pb2
import envoy.extensions.access_loggers.stats.v3.stats_pb2
import envoy.extensions.clusters.dns.v3.dns_cluster_pb2
import envoy.extensions.clusters.dynamic_forward_proxy.v3.cluster_pb2
import envoy.extensions.filters.http.cors.v3.cors_pb2
import envoy.extensions.filters.http.dynamic_forward_proxy.v3.dynamic_forward_proxy_pb2
import envoy.extensions.filters.http.fault.v3.fault_pb2
import envoy.extensions.filters.http.header_mutation.v3.header_mutation_pb2
import envoy.extensions.filters.http.router.v3.router_pb2
import envoy.extensions.filters.http.set_filter_state.v3.set_filter_state_pb2
import envoy.extensions.filters.listener.tls_inspector.v3.tls_inspector_pb2
import envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2
import envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.sni_dynamic_forward_proxy_pb2
import envoy.extensions.filters.network.tcp_proxy.v3.tcp_proxy_pb2
import envoy.extensions.retry.host.previous_hosts.v3.previous_hosts_pb2
import envoy.extensions.retry.priority.previous_priorities.v3.previous_priorities_config_pb2
import envoy.extensions.transport_sockets.internal_upstream.v3.internal_upstream_pb2
import envoy.extensions.transport_sockets.raw_buffer.v3.raw_buffer_pb2
import envoy.extensions.transport_sockets.tls.v3.tls_pb2
import envoy.extensions.upstreams.http.v3.http_protocol_options_pb2  # noqa: F401
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from mizzen.translate.model import ProxyResources
from mizzen.xds.encode import import_extensions

MESSAGES: dict[str, type[Message]] = {
    "clusters": cluster_pb2.Cluster,
    "endpoints": endpoint_pb2.ClusterLoadAssignment,
    "listeners": listener_pb2.Listener,
    "routes": route_pb2.RouteConfiguration,
    "secrets": secret_pb2.Secret,
}


def parse_all(resources: ProxyResources) -> int:
    """Parse every resource into its Envoy proto (raises on any unknown field or type); returns count."""
    import_extensions()  # every extension the translator may name (a test run alone imports no others)
    count = 0
    for attr, message in MESSAGES.items():
        items: Mapping[str, Mapping[str, object]] = getattr(resources, attr)
        for name, resource in items.items():
            # A copy: json_format moves nested Anys' "@type" keys, and translator output shares objects.
            parsed = json_format.ParseDict(copy.deepcopy(resource), message())
            assert getattr(parsed, "name", None) in (None, name) or getattr(parsed, "cluster_name", "") == name
            count += 1
    return count
