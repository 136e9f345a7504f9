"""Istio's SDS vocabulary: the agent's secrets ``default`` and ``ROOTCA`` on the bootstrap cluster ``sds-grpc``.

Pure builders of Envoy proto-JSON. Listener and cluster builders reference the agent's secrets with
:func:`sds_secret_config`, the exact config source Istio generates (``pilot/pkg/model`` ``ConstructSdsSecretConfig``);
the agent serves them with :func:`tls_certificate_secret` and :func:`validation_context_secret`.
"""

from __future__ import annotations

import base64
from typing import Any

SDS_CLUSTER = "sds-grpc"  # bootstrap static cluster: the agent's SDS socket
DEFAULT_SECRET = "default"  # the workload's certificate chain and private key
ROOT_SECRET = "ROOTCA"  # the mesh root certificate(s)
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def sds_config_source() -> dict[str, Any]:
    """The ConfigSource pointing at the agent: gRPC on ``sds-grpc``, no initial fetch timeout (Istio's)."""
    return {
        "api_config_source": {
            "api_type": "GRPC",
            "set_node_on_first_message_only": True,
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": SDS_CLUSTER}}],
        },
        "initial_fetch_timeout": "0s",
        "resource_api_version": "V3",
    }


def sds_secret_config(name: str) -> dict[str, Any]:
    """An ``SdsSecretConfig`` for one of the agent's secrets (``default`` or ``ROOTCA``)."""
    return {"name": name, "sds_config": sds_config_source()}


def tls_certificate_secret(chain_pem: bytes, key_pem: bytes, name: str = DEFAULT_SECRET) -> dict[str, Any]:
    """The ``default`` secret: certificate chain and private key, inline as Istio's agent sends them."""
    return {
        "name": name,
        "tls_certificate": {
            "certificate_chain": {"inline_bytes": _b64(chain_pem)},
            "private_key": {"inline_bytes": _b64(key_pem)},
        },
    }


def validation_context_secret(roots_pem: bytes, name: str = ROOT_SECRET) -> dict[str, Any]:
    """The ``ROOTCA`` secret: the mesh root certificates peers are validated against."""
    return {"name": name, "validation_context": {"trusted_ca": {"inline_bytes": _b64(roots_pem)}}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


FILE_ROOT_PREFIX = "file-root:"  # Istio's SDS name for a CA bundle file: file-root:<path> (or system)
FILE_CERT_PREFIX = "file-cert:"  # ... and for a client certificate and key: file-cert:<cert>~<key>
SYSTEM_ROOTS = "system"  # file-root:system = the operating system's CA bundle


def file_secret_paths(name: str) -> tuple[str, ...] | None:
    """The file(s) an Istio file-based SDS name stands for: ``(ca,)`` for ``file-root:<ca>`` (``system``
    kept as is), ``(cert, key)`` for ``file-cert:<cert>~<key>``; ``None`` for any other name."""
    if name.startswith(FILE_ROOT_PREFIX):
        path = name[len(FILE_ROOT_PREFIX) :]
        return (path,) if path else None
    if name.startswith(FILE_CERT_PREFIX):
        cert, sep, key = name[len(FILE_CERT_PREFIX) :].partition("~")
        return (cert, key) if sep and cert and key else None
    return None


def file_secret(name: str, contents: tuple[bytes, ...]) -> dict[str, Any]:
    """The Secret for a file-based SDS name given the files' contents (as :func:`file_secret_paths` lists)."""
    if name.startswith(FILE_ROOT_PREFIX):
        return validation_context_secret(contents[0], name)
    return tls_certificate_secret(contents[0], contents[1], name)
