"""From one ALS entry and the node that logged it to Istio's standard labels (pure functions).

Theory of operation. Every entry is logged by one Envoy, on one side of a hop:
- ``outbound`` (client sidecar) and ``gateway`` entries are ``reporter="source"``: the source is the
  logging node itself; the destination service comes from the cluster name
  ``outbound|<port>|<subset>|<fqdn>`` and the destination workload from the upstream host address
  matched against registry endpoints (exact: it is the address Envoy actually connected to).
- ``inbound`` (server sidecar) entries are ``reporter="destination"``: the destination is the logging
  node; the service is the one registered at the inbound listener's address (the endpoint other
  proxies dialled); the source is the proxy named by the ``x-envoy-peer-metadata-id`` request header
  that outbound routes add (Istio's metadata exchange, reduced to the node id), ``unknown`` without it.

Principals are what TLS verified, as in Istio: on the destination side the entry's own (downstream)
certificates; on the source side the URI SANs of the upstream connection Envoy made (the server's
certificate and the client's own), which the client-side loggers put in custom tags. Plaintext leaves
them ``unknown``. ``connection_security_policy`` is ``mutual_tls``/``none`` on the destination side and
``unknown`` on the source side, as Istio's stats filter reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from envoy.config.core.v3 import address_pb2
from envoy.data.accesslog.v3 import accesslog_pb2

from mizzen.config.semantics.hosts import resolve
from mizzen.meshstats import authority_host
from mizzen.telemetry.model import UNKNOWN, EndpointIndex, Peer, ServiceRef
from mizzen.translate.telemetry import DIRECTION_TAG, PEER_ID_HEADER, UPSTREAM_LOCAL_SAN_TAG, UPSTREAM_PEER_SAN_TAG

# Envoy's short response-flag codes, in the order Envoy prints them in %RESPONSE_FLAGS%.
RESPONSE_FLAG_CODES = (
    ("failed_local_healthcheck", "LH"),
    ("no_healthy_upstream", "UH"),
    ("upstream_request_timeout", "UT"),
    ("local_reset", "LR"),
    ("upstream_remote_reset", "UR"),
    ("upstream_connection_failure", "UF"),
    ("upstream_connection_termination", "UC"),
    ("upstream_overflow", "UO"),
    ("no_route_found", "NR"),
    ("delay_injected", "DI"),
    ("fault_injected", "FI"),
    ("rate_limited", "RL"),
    ("rate_limit_service_error", "RLSE"),
    ("downstream_connection_termination", "DC"),
    ("upstream_retry_limit_exceeded", "URX"),
    ("stream_idle_timeout", "SI"),
    ("invalid_envoy_request_headers", "IH"),
    ("downstream_protocol_error", "DPE"),
    ("upstream_max_stream_duration_reached", "UMSDR"),
    ("response_from_cache_filter", "RFCF"),
    ("no_filter_config_found", "NFCF"),
    ("duration_timeout", "DT"),
    ("upstream_protocol_error", "UPE"),
    ("no_cluster_found", "NC"),
    ("overload_manager", "OM"),
    ("dns_resolution_failure", "DF"),
    ("downstream_remote_reset", "DR"),
)
PeerLookup = Callable[[str], Peer | None]


@dataclass(frozen=True)
class Facts:
    """What one logged request (or TCP connection) contributes to the metrics."""

    reporter: str  # "source" | "destination"
    source: Peer
    destination: Peer
    service: ServiceRef
    protocol: str  # "http" | "grpc" | "tcp"
    response_code: int
    response_flags: str
    security_policy: str  # "unknown" (source reporter) | "none" | "mutual_tls"

    def labels(self, *, tcp: bool = False) -> tuple[str, ...]:
        """Label values in :data:`~mizzen.telemetry.model.LABEL_NAMES` order (TCP: without the code)."""
        s, d, svc = self.source, self.destination, self.service
        head = (
            self.reporter,
            s.workload,
            s.namespace,
            s.principal,
            s.app,
            s.version,
            d.workload,
            d.namespace,
            d.principal,
            d.app,
            d.version,
            svc.hostname,
            svc.name,
            svc.namespace,
            self.protocol,
        )
        if tcp:
            return (*head, self.response_flags, self.security_policy)
        return (*head, str(self.response_code), self.response_flags, self.security_policy)


_FLAG_CODE = dict(RESPONSE_FLAG_CODES)
_FLAG_ORDER = {field: i for i, (field, _code) in enumerate(RESPONSE_FLAG_CODES)}


def response_flags(flags: accesslog_pb2.ResponseFlags) -> str:
    """``FI``, ``UF,URX``... or ``-`` when no flag is set, as %RESPONSE_FLAGS% prints them."""
    present = flags.ListFields()  # only the set fields: usually none, so this is the cheap path
    if not present:
        return "-"
    names = sorted((fd.name for fd, _value in present), key=lambda n: _FLAG_ORDER.get(n, len(_FLAG_ORDER)))
    return ",".join(_FLAG_CODE.get(n, "UAEX" if n == "unauthorized_details" else n) for n in names)


def direction(common: accesslog_pb2.AccessLogCommon, node_is_gateway: bool) -> str:
    """The side that logged: from our literal custom tag, else guessed from the cluster name."""
    tag = common.custom_tags.get(DIRECTION_TAG)
    if tag:
        return str(tag)
    if node_is_gateway:
        return "gateway"
    return "inbound" if common.upstream_cluster.startswith("inbound|") else "outbound"


def derive(
    common: accesslog_pb2.AccessLogCommon,
    node: Peer,
    index: EndpointIndex,
    *,
    request_headers: Mapping[str, str],
    authority: str,
    peer_lookup: PeerLookup,
) -> tuple[str, Peer, Peer, ServiceRef, str]:
    """(reporter, source, destination, service, security policy) for one entry logged by ``node``."""
    side = direction(common, node.kind == "gateway")
    if side == "inbound":
        destination = node
        local = _socket(common.downstream_local_address)
        info = index.endpoint(*local) if local else None
        service = _inbound_service(info.services if info else (), authority, index)
        peer_id = request_headers.get(PEER_ID_HEADER, "")
        source = (peer_lookup(peer_id) if peer_id else None) or Peer()
        mtls = common.tls_properties.HasField("peer_certificate_properties")
        if mtls:
            source = _with_principal(source, _san(common.tls_properties.peer_certificate_properties))
            destination = _with_principal(destination, _san(common.tls_properties.local_certificate_properties))
        return "destination", source, destination, service, "mutual_tls" if mtls else "none"
    upstream = _socket(common.upstream_remote_address)
    info = index.endpoint(*upstream) if upstream else None
    # Never the registry's service account: only the certificate the upstream presented names it.
    destination = _with_principal(info.peer if info else Peer(), _first_san(common, UPSTREAM_PEER_SAN_TAG))
    source = _with_principal(node, _first_san(common, UPSTREAM_LOCAL_SAN_TAG))
    service = outbound_service(common.upstream_cluster, authority, index, node.namespace)
    return "source", source, destination, service, UNKNOWN


def outbound_service(cluster: str, authority: str, index: EndpointIndex, namespace: str = "default") -> ServiceRef:
    """The destination service named by an outbound cluster; else the one the authority names.

    No cluster happens when a filter answered before the router picked one (a fault-injected abort,
    a no-route 404): the authority is then resolved like a Kubernetes name from the client's
    namespace (``reviews``, ``reviews.<ns>``, ``reviews.<ns>.svc``), when the registry has it.
    """
    parts = cluster.split("|")
    if len(parts) == 4 and parts[0] == "outbound" and parts[3]:
        return index.service(parts[3])
    host = authority_host(authority)
    if cluster in ("PassthroughCluster", "BlackHoleCluster"):
        return ServiceRef(host or UNKNOWN, cluster, UNKNOWN)
    if not host:
        return ServiceRef()
    hostname = resolve(host, namespace, index.services)
    if hostname in index.services:
        return index.services[hostname]
    return index.service(host)


def _inbound_service(candidates: tuple[str, ...], authority: str, index: EndpointIndex) -> ServiceRef:
    if not candidates:
        return ServiceRef()
    host = authority_host(authority)
    for hostname in candidates:  # several services at one endpoint: the one the client asked for
        ref = index.service(hostname)
        if host in (hostname, ref.name, f"{ref.name}.{ref.namespace}"):
            return ref
    return index.service(candidates[0])


def _socket(address: address_pb2.Address) -> tuple[str, int] | None:
    if not address.HasField("socket_address"):
        return None
    sock = address.socket_address
    return sock.address, sock.port_value


def _san(props: accesslog_pb2.TLSProperties.CertificateProperties) -> str:
    for san in props.subject_alt_name:
        if san.uri:
            return str(san.uri)
    return UNKNOWN


def _first_san(common: accesslog_pb2.AccessLogCommon, tag: str) -> str:
    """The first URI SAN in a client-side SAN tag (Envoy joins several with commas), else ``unknown``."""
    value = str(common.custom_tags.get(tag, ""))
    if "," in value:
        value = value.split(",", 1)[0].strip()
    return value if value and value != "-" else UNKNOWN


def _with_principal(peer: Peer, principal: str) -> Peer:
    if peer.principal == principal:
        return peer
    return Peer(peer.workload, peer.namespace, peer.app, peer.version, principal, peer.kind)


def peer_from_node_id(node_id: str) -> Peer | None:
    """A peer from an Istio-shaped node id alone (``sidecar~ip~name.ns~ns.svc.cluster.local``)."""
    parts = node_id.split("~")
    if len(parts) != 4 or "." not in parts[2]:
        return None
    name, namespace = parts[2].rsplit(".", 1)
    return Peer(workload=name, namespace=namespace, kind="gateway" if parts[0] == "router" else "workload")
