"""Istio's rules for a port's protocol: explicit protocol, ``appProtocol``, or the port-name prefix.

Istio reads a Kubernetes Service port's protocol from ``appProtocol`` first, then from the port name
(``http``, ``http-web``, ``grpc-api``: the part before the first ``-``), case-insensitively. A port it
cannot classify is "auto-detected" (protocol sniffing), which Istio's model calls ``UNSUPPORTED``;
ServiceEntry ports carry an explicit ``protocol`` instead.
"""

from __future__ import annotations

# Istio's protocol names (pkg/config/protocol), upper-cased as the registry model spells them.
_KNOWN = {
    "http": "HTTP",
    "https": "HTTPS",
    "http2": "HTTP2",
    "grpc": "GRPC",
    "grpc-web": "GRPC-WEB",
    "tcp": "TCP",
    "tls": "TLS",
    "mongo": "MONGO",
    "mysql": "MYSQL",
    "redis": "REDIS",
    "udp": "UDP",
}
# Kubernetes-defined appProtocol values (KEP-3726) mapped as Istio maps them.
_K8S_APP_PROTOCOLS = {"kubernetes.io/h2c": "HTTP2", "kubernetes.io/ws": "HTTP", "kubernetes.io/wss": "HTTPS"}

AUTO = "UNSUPPORTED"
"""Istio's value for a port whose protocol is auto-detected (no recognised name or appProtocol)."""


def parse_protocol(value: str) -> str:
    """Istio's ``protocol.Parse``: a protocol name (any case) to its canonical form, else ``UNSUPPORTED``."""
    return _KNOWN.get(value.strip().lower(), AUTO)


def protocol_from_name(port_name: str) -> str:
    """The protocol a port name implies: ``grpc-web*`` is GRPC-WEB, otherwise the prefix before ``-``."""
    name = port_name.lower()
    if name == "grpc-web" or name.startswith("grpc-web-"):
        return "GRPC-WEB"
    return parse_protocol(name.split("-", 1)[0])


def service_port_protocol(name: str, app_protocol: str = "", l4_protocol: str = "TCP") -> str:
    """Protocol of a Kubernetes Service port: UDP from ``protocol``, then ``appProtocol``, then the name."""
    if l4_protocol.upper() == "UDP":
        return "UDP"
    if app_protocol:
        mapped = _K8S_APP_PROTOCOLS.get(app_protocol.lower()) or parse_protocol(app_protocol)
        if mapped != AUTO:
            return mapped
    return protocol_from_name(name)
