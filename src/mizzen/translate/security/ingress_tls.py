"""Sidecar ``ingress[].tls``: a workload port that terminates TLS itself, for clients outside the mesh
(Istio's "Ingress Sidecar TLS Termination" task; ``ENABLE_TLS_ON_SIDECAR_INGRESS``, always on in Mizzen).

Istio's rules, in order:

- the user's TLS applies only where the port's PeerAuthentication mode is ``DISABLE`` (mesh mTLS and a
  user certificate cannot share one port); on any other mode the port keeps its mesh mTLS chains;
- the port's protocol is taken as it is after termination: ``HTTPS`` -> HTTP (the connection manager
  routes the decrypted requests), ``TLS`` -> TCP;
- one filter chain, matched on ``transport_protocol: tls`` (a plaintext client matches none and is
  disconnected), whose DownstreamTlsContext is the Gateway's for file-mounted certificates: the server
  certificate as SDS ``file-cert:<cert>~<key>``; for ``MUTUAL`` a required client certificate checked
  against SDS ``file-root:<ca>`` (``OPTIONAL_MUTUAL``: checked when presented); both read from disk by
  the agent, as for DestinationRule files, so Envoy's config names paths only; ALPN ``h2, http/1.1``; the
  server's protocol versions, cipher suites and certificate pins when given.

``PASSTHROUGH`` (also an unset mode) is not terminated: :func:`terminating_tls` returns ``None`` and
``mizzen.config.rules.support`` warns (MZ2013). ``ISTIO_MUTUAL``, ``AUTO_PASSTHROUGH``, ``credentialName``
and SANs are validation errors, as in Istio.
"""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.config.models.gateway import ServerTLSSettings
from mizzen.translate.security import names
from mizzen.translate.security.inbound import sds_secret_config
from mizzen.translate.security.policy import JSON

TERMINATED_MODES = frozenset({"SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"})
CLIENT_VERIFYING_MODES = frozenset({"MUTUAL", "OPTIONAL_MUTUAL"})
AFTER_TERMINATION = {"HTTPS": "HTTP", "TLS": "TCP"}
"""Istio's ``Protocol.AfterTLSTermination``."""

_ENVOY_TLS_VERSION = {"TLS_AUTO": "TLS_AUTO", "TLSV1_0": "TLSv1_0", "TLSV1_1": "TLSv1_1"}
_ENVOY_TLS_VERSION |= {"TLSV1_2": "TLSv1_2", "TLSV1_3": "TLSv1_3"}


def terminating_tls(tls: ServerTLSSettings | None) -> ServerTLSSettings | None:
    """``tls`` when the sidecar can terminate it (SIMPLE, MUTUAL or OPTIONAL_MUTUAL with a certificate and key;
    the two mutual modes with a CA), else ``None``."""
    if tls is None or tls.mode not in TERMINATED_MODES or not (tls.server_certificate and tls.private_key):
        return None
    if tls.mode in CLIENT_VERIFYING_MODES and not tls.ca_certificates:
        return None  # validation refuses it; never terminate MUTUAL without a CA to check clients against
    return tls


def after_termination(protocol: str) -> str:
    """The port's protocol once the sidecar has decrypted it (``HTTPS`` -> ``HTTP``, ``TLS`` -> ``TCP``)."""
    upper = protocol.upper()
    return AFTER_TERMINATION.get(upper, upper)


def _tls_params(tls: ServerTLSSettings) -> JSON:
    """Istio's applyServerTLSSettings: set only when the server names a version or cipher suites."""
    low, high = tls.min_protocol_version or "TLS_AUTO", tls.max_protocol_version or "TLS_AUTO"
    if low == "TLS_AUTO" and high == "TLS_AUTO" and not tls.cipher_suites:
        return {}
    params: JSON = {
        "tls_minimum_protocol_version": _ENVOY_TLS_VERSION[low],
        "tls_maximum_protocol_version": _ENVOY_TLS_VERSION[high],
    }
    if tls.cipher_suites:
        params["cipher_suites"] = list(dict.fromkeys(tls.cipher_suites))  # duplicates dropped, order kept
    return {"tls_params": params}


def _client_validation(tls: ServerTLSSettings) -> JSON:
    """MUTUAL, OPTIONAL_MUTUAL: a client certificate must chain to ``caCertificates`` (and match the pins)."""
    default: JSON = {}
    if tls.verify_certificate_spki:
        default["verify_certificate_spki"] = list(tls.verify_certificate_spki)
    if tls.verify_certificate_hash:
        default["verify_certificate_hash"] = list(tls.verify_certificate_hash)
    return {
        "combined_validation_context": {
            "default_validation_context": default,
            "validation_context_sds_secret_config": sds_secret_config(
                names.file_root_resource(tls.ca_certificates or "")
            ),
        }
    }


def ingress_tls_context(tls: ServerTLSSettings) -> JSON:
    """The DownstreamTlsContext of a terminating Sidecar ingress port (``tls`` from :func:`terminating_tls`)."""
    verify, required = tls.mode in CLIENT_VERIFYING_MODES, tls.mode == "MUTUAL"
    cert = names.file_cert_resource(tls.server_certificate or "", tls.private_key or "")
    common: JSON = {
        "alpn_protocols": list(names.ALPN_HTTP),
        "tls_certificate_sds_secret_configs": [sds_secret_config(cert)],
        **_tls_params(tls),
    }
    if verify:
        common.update(_client_validation(tls))
    # OPTIONAL_MUTUAL: a client without a certificate is let in, one presenting a bad one is not.
    return {"@type": names.T_DOWNSTREAM_TLS, "common_tls_context": common, "require_client_certificate": required}


def ingress_tls_chains(tls: ServerTLSSettings, filters: Sequence[JSON], *, name: str) -> list[JSON]:
    """The one filter chain of a terminating port: TLS clients only, decrypted with the user's certificate."""
    return [
        {
            "filter_chain_match": {"transport_protocol": names.TLS_TRANSPORT},
            "filters": list(filters),
            "name": name,
            "transport_socket": {"name": names.TLS_SOCKET, "typed_config": ingress_tls_context(tls)},
        }
    ]
