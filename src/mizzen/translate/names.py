"""Every Envoy name the translator emits, in one place (Istio's names are a compatibility contract).

``istioctl proxy-config`` habits carry over only if clusters, route configs, virtual hosts and filter
names read exactly as Istio's do, so no other module formats a name itself.
"""

from __future__ import annotations

# --- well-known clusters and route configs
BLACKHOLE_CLUSTER = "BlackHoleCluster"
PASSTHROUGH_CLUSTER = "PassthroughCluster"
ZIPKIN_CLUSTER = "zipkin"
RDS_HTTP_PROXY = "http_proxy"
ALLOW_ANY = "allow_any"
BLOCK_ALL = "block_all"
DEFAULT_ROUTE = "default"
DNS_CACHE = "dynamic_forward_proxy_cache_config"
CONNECT_ROUTE = "connect"
CONNECT_BLACKHOLE = "connect_BlackHoleCluster"
CONNECT_PASSTHROUGH = "connect_PassthroughCluster"
CONNECT_PREFIX = "connect_"

# --- filter names
HCM = "envoy.filters.network.http_connection_manager"
HEADER_MUTATION = "envoy.filters.http.header_mutation"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
FAULT = "envoy.filters.http.fault"
CORS = "envoy.filters.http.cors"
ROUTER = "envoy.filters.http.router"
DFP_FILTER = "envoy.filters.http.dynamic_forward_proxy"
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
SNI_DFP_FILTER = "envoy.filters.network.sni_dynamic_forward_proxy"
SET_FILTER_STATE = "envoy.filters.http.set_filter_state"
INTERNAL_UPSTREAM = "envoy.transport_sockets.internal_upstream"
RAW_BUFFER = "envoy.transport_sockets.raw_buffer"
CEL_LOG_FILTER = "envoy.access_loggers.extension_filters.cel"
FILE_ACCESS_LOG = "envoy.access_loggers.file"
ZIPKIN = "envoy.tracers.zipkin"
TLS_SOCKET = "envoy.transport_sockets.tls"
PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts"
PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities"
DNS_CLUSTER = "envoy.cluster.dns"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

# --- type URLs of the Any values we embed
_T = "type.googleapis.com/"
T_HEADER_MUTATION = _T + "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
T_HCM = _T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
T_TCP_PROXY = _T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
T_FAULT = _T + "envoy.extensions.filters.http.fault.v3.HTTPFault"
T_CORS = _T + "envoy.extensions.filters.http.cors.v3.Cors"
T_CORS_POLICY = _T + "envoy.extensions.filters.http.cors.v3.CorsPolicy"
T_ROUTER = _T + "envoy.extensions.filters.http.router.v3.Router"
T_DFP_FILTER = _T + "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig"
T_DNS_CLUSTER = _T + "envoy.extensions.clusters.dns.v3.DnsCluster"
T_DFP_CLUSTER = _T + "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig"
T_TLS_INSPECTOR = _T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
T_SNI_DFP_FILTER = _T + "envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig"
T_SET_FILTER_STATE = _T + "envoy.extensions.filters.http.set_filter_state.v3.Config"
T_ROUTE_FILTER_CONFIG = _T + "envoy.config.route.v3.FilterConfig"
T_INTERNAL_UPSTREAM = _T + "envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport"
T_RAW_BUFFER = _T + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
T_CEL_LOG_FILTER = _T + "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter"
T_FILE_ACCESS_LOG = _T + "envoy.extensions.access_loggers.file.v3.FileAccessLog"
T_ZIPKIN = _T + "envoy.config.trace.v3.ZipkinConfig"
T_DOWNSTREAM_TLS = _T + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
T_UPSTREAM_TLS = _T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
T_PREVIOUS_HOSTS = _T + "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
T_PREVIOUS_PRIORITIES = _T + "envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig"
T_HTTP_PROTOCOL_OPTIONS = _T + HTTP_PROTOCOL_OPTIONS

# --- config provenance paths (Istio's `istio.config` metadata)
_CONFIG_KIND_PATH = {
    "VirtualService": "virtual-service",
    "DestinationRule": "destination-rule",
    "Gateway": "gateway",
    "ServiceEntry": "service-entry",
    "Sidecar": "sidecar",
}


def outbound_cluster(port: int, subset: str, host: str) -> str:
    """``outbound|9080|v1|reviews.default.svc.cluster.local``."""
    return f"outbound|{port}|{subset}|{host}"


def inbound_cluster(port: int) -> str:
    """``inbound|9080||``."""
    return f"inbound|{port}||"


def parse_outbound_cluster(name: str) -> tuple[int, str, str] | None:
    """Split an outbound cluster name into (port, subset, host); ``None`` for other names.

    For readers of Envoy config (``mizzen test``'s expectations); the translator builds names from
    its own records and never parses them back.
    """
    parts = name.split("|")
    if len(parts) != 4 or parts[0] != "outbound" or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2], parts[3]


def vhost(host: str, port: int) -> str:
    """Virtual host name ``<hostname>:<port>``."""
    return f"{host}:{port}"


def listener(address: str, port: int) -> str:
    """Listener name ``<address>_<port>`` (gateways use ``0.0.0.0_<port>`` whatever they bind)."""
    return f"{address}_{port}"


def connect_tunnel(port: int) -> str:
    """The internal listener (and the cluster reaching it) that CONNECT tunnels to TLS port ``port``
    enter: ``connect_443``, Mizzen's stand-in for Istio's outbound listener ``0.0.0.0_443``."""
    return f"{CONNECT_PREFIX}{port}"


def upstream_route_config(host: str, port: int) -> str:
    """RDS name for an explicit upstream port bound to one service: ``<fqdn>:<port>`` as Istio names
    route configs of listeners bound to a service VIP."""
    return f"{host}:{port}"


def gateway_http_rds(port: int) -> str:
    """Gateway plain-HTTP route config ``http.<port>``."""
    return f"http.{port}"


def gateway_https_rds(port: int, port_name: str, gateway: str, namespace: str) -> str:
    """Gateway terminated-HTTPS route config ``https.<port>.<portName>.<gw>.<ns>``."""
    return f"https.{port}.{port_name}.{gateway}.{namespace}"


def gateway_blackhole_vhost(port: int) -> str:
    """The vhost a gateway port gets when no VirtualService attaches: ``blackhole:<port>`` (404)."""
    return f"blackhole:{port}"


def sni_key(port: int, subset: str, host: str) -> str:
    """Istio's DNS-SRV style SNI ``outbound_.<port>_.<subset>_.<fqdn>``."""
    return f"outbound_.{port}_.{subset}_.{host}"


def config_path(kind: str, namespace: str, name: str) -> str:
    """Config provenance ``/apis/networking.istio.io/v1/namespaces/<ns>/virtual-service/<name>``."""
    return f"/apis/networking.istio.io/v1/namespaces/{namespace}/{_CONFIG_KIND_PATH.get(kind, kind.lower())}/{name}"


def istio_metadata(**values: str) -> dict[str, object]:
    """``metadata.filter_metadata.istio`` with the given keys (``config``, ``subset``)."""
    return {"filter_metadata": {"istio": dict(sorted(values.items()))}}


def secret_name(credential: str) -> str:
    """SDS secret name for a gateway ``credentialName``, as Istio names it: ``kubernetes://<name>``
    (a ``kubernetes-gateway://<ns>/<name>`` credential of a Gateway API listener is its own name)."""
    return credential if "://" in credential else f"kubernetes://{credential}"
