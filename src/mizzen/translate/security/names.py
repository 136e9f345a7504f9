"""Envoy names, type URLs and Istio conventions the security builders emit (one place, as for
:mod:`mizzen.translate.names`, whose shared names are re-used rather than repeated here).

Istio's names are a compatibility contract: ``istioctl proxy-config`` habits (``ROOTCA``, ``default``,
``ns[default]-policy[deny-all]-rule[0]``, ``origins-0``, ``tlsMode-istio``) carry over only if they read
exactly the same.
"""

from __future__ import annotations

from mizzen.translate.names import T_DOWNSTREAM_TLS, T_TLS_INSPECTOR, T_UPSTREAM_TLS, TLS_INSPECTOR, TLS_SOCKET

__all__ = ["TLS_INSPECTOR", "TLS_SOCKET", "T_DOWNSTREAM_TLS", "T_TLS_INSPECTOR", "T_UPSTREAM_TLS"]

_T = "type.googleapis.com/"

# --- filters
RBAC_HTTP = "envoy.filters.http.rbac"
RBAC_NETWORK = "envoy.filters.network.rbac"
JWT_AUTHN = "envoy.filters.http.jwt_authn"
HTTP_INSPECTOR = "envoy.filters.listener.http_inspector"
RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer"
URI_TEMPLATE = "uri-template"
T_RBAC_HTTP = _T + "envoy.extensions.filters.http.rbac.v3.RBAC"
T_RBAC_NETWORK = _T + "envoy.extensions.filters.network.rbac.v3.RBAC"
T_JWT_AUTHN = _T + "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
T_HTTP_INSPECTOR = _T + "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"
T_RAW_BUFFER = _T + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
T_URI_TEMPLATE = _T + "envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig"

# --- SDS: the agent serves these on the bootstrap's static cluster (Istio's names)
SDS_CLUSTER = "sds-grpc"
SDS_DEFAULT = "default"  # the workload's certificate chain and key
SDS_ROOT = "ROOTCA"  # the mesh root, validating peers
CA_SUFFIX = "-cacert"  # credentialName's CA bundle: "<credential>-cacert"

# --- transport protocol and ALPN values (Istio's, pilot/pkg/networking)
TLS_TRANSPORT = "tls"
RAW_BUFFER_TRANSPORT = "raw_buffer"
ALPN_IN_MESH = ("istio-peer-exchange", "istio")  # client sidecar -> server sidecar, ISTIO_MUTUAL
ALPN_IN_MESH_H2 = ("istio-peer-exchange", "istio", "h2")
ALPN_H2_ONLY = ("h2",)  # user TLS (SIMPLE/MUTUAL) to an HTTP/2 cluster
ALPN_HTTP = ("h2", "http/1.1")  # server side of an HTTP chain
ALPN_TCP_DOWNSTREAM = ("istio-peer-exchange", "h2", "http/1.1")  # server side of a TCP chain
ALPN_ALL_ISTIO_MTLS = ("istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2")
CIPHER_SUITES = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
)

# --- auto mTLS: endpoint metadata and the cluster's transport socket matches
TRANSPORT_SOCKET_MATCH = "envoy.transport_socket_match"
TLS_MODE_KEY = "tlsMode"
TLS_MODE_ISTIO = "istio"
TLS_MODE_LABEL = "security.istio.io/tlsMode"
MATCH_ISTIO = "tlsMode-istio"
MATCH_DISABLED = "tlsMode-disabled"

# --- authorization
DRY_RUN_ANNOTATION = "istio.io/dry-run"
RBAC_TCP_STAT_PREFIX = "tcp."
SHADOW_ALLOW_STAT_PREFIX = "istio_dry_run_allow_"
SHADOW_DENY_STAT_PREFIX = "istio_dry_run_deny_"
SPIFFE_PREFIX = "spiffe://"

# --- JWT
JWT_PAYLOAD_KEY = "payload"  # where jwt_authn writes the verified payload, read by RBAC metadata matchers
JWT_DEFAULT_SPACE_DELIMITED = ("permission", "scope")


def rbac_policy_name(namespace: str, name: str, rule: int) -> str:
    """Istio's RBAC policy id for one rule: ``ns[<ns>]-policy[<name>]-rule[<i>]``."""
    return f"ns[{namespace}]-policy[{name}]-rule[{rule}]"


def jwt_provider_name(index: int) -> str:
    """Istio's jwt_authn provider name for the i-th JWT rule (sorted by issuer): ``origins-<i>``."""
    return f"origins-{index}"


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """A workload identity ``spiffe://<trust domain>/ns/<ns>/sa/<sa>``."""
    return f"{SPIFFE_PREFIX}{trust_domain}/ns/{namespace}/sa/{service_account}"


def file_cert_resource(cert: str, key: str) -> str:
    """Istio's SDS name for a client certificate read from files: ``file-cert:<cert>~<key>``."""
    return f"file-cert:{cert}~{key}"


def file_root_resource(ca: str) -> str:
    """Istio's SDS name for a CA bundle read from a file (``system`` = the OS bundle): ``file-root:<ca>``."""
    return f"file-root:{ca}"


def credential_resource(credential: str) -> str:
    """SDS name of a ``credentialName`` secret, served over ADS: ``kubernetes://<name>``."""
    return credential if credential.startswith("kubernetes://") else f"kubernetes://{credential}"
