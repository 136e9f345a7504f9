"""Istio's security policies compiled to Envoy config: pure builders, no I/O (Istio's
``pilot/pkg/security`` and the TLS parts of ``pilot/pkg/networking/core``).

Entry points, by the resource they produce:

- which policies apply, effective mTLS: :mod:`.selection` (``effective_peer_authentication``,
  ``namespace_mtls_mode``, ``authorization_policies_for``, ``request_authentications_for``)
- inbound listeners (PeerAuthentication): :mod:`.inbound` (``inbound_filter_chains``,
  ``inbound_listener_fields``, ``INBOUND_HCM_CLIENT_CERT``)
- HTTP and network filters: :mod:`.authz` (``http_rbac_filters``, ``tcp_rbac_filters``) and
  :mod:`.jwt` (``jwt_authn_filter``), placed by :func:`.jwt.inbound_http_security_filters`
- outbound clusters (DestinationRule TLS, auto mTLS): :mod:`.upstream` (``client_tls_for``,
  ``upstream_transport``)
- endpoints (auto mTLS metadata): :mod:`.endpoints` (``dr_tls_mode_for_endpoints``,
  ``endpoint_mtls_enabled``, ``endpoint_filter_metadata``, ``infer_service_mode``, ``service_accounts``)
- ``describe`` lines: :mod:`.describe`; what cannot be enforced: :mod:`mizzen.config.enforceable`
"""
