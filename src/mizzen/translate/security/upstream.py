"""DestinationRule ``tls`` and auto mTLS -> an outbound cluster's transport socket (Istio's
``pilot/pkg/networking/core/cluster_tls.go`` and ``cluster_traffic_policy.go``).

Theory of operation
-------------------
1. :func:`client_tls_for` picks the DestinationRule's TLS settings for one cluster: a ``portLevelSettings``
   entry for the port replaces the top-level policy wholesale (its ``tls`` may be absent); a subset's
   policy overrides that, its own port-level entry again wholesale.
2. :func:`resolve_client_tls` decides what to originate. User TLS wins (ISTIO_MUTUAL gets the default
   SNI ``outbound_.<port>_.<subset>_.<host>`` and the service's SPIFFE IDs as SANs when it names none).
   With no DR ``tls``, auto mTLS originates ISTIO_MUTUAL, unless the service is MESH_EXTERNAL or its
   namespace's PeerAuthentication DISABLEs mTLS.
3. :func:`upstream_tls_context` builds the UpstreamTlsContext; auto-detected ISTIO_MUTUAL becomes
   ``transport_socket_matches``: mTLS to endpoints whose EDS metadata says ``tlsMode: istio`` (they run a
   sidecar, :mod:`.endpoints`), plaintext to the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mizzen.config.models.destination_rule import ClientTLSSettings, DestinationRule, TrafficPolicy
from mizzen.translate.security import names
from mizzen.translate.security.inbound import sds_secret_config
from mizzen.translate.security.policy import JSON, MtlsMode

ADS_SDS_SOURCE: JSON = {"ads": {}, "resource_api_version": "V3"}
"""``credentialName`` secrets come from the control plane over ADS (as a gateway's do)."""


@dataclass(frozen=True)
class UpstreamTarget:
    """The cluster TLS is built for."""

    cluster_name: str  # outbound|9080|v1|reviews.default.svc.cluster.local
    sni: str  # Istio's default SNI: outbound_.9080_.v1_.reviews.default.svc.cluster.local
    service_accounts: tuple[str, ...] = ()  # SPIFFE IDs of the service's workloads (SE: + subjectAltNames)
    mesh_external: bool = False
    service_entry: bool = False  # the service comes from a ServiceEntry (Istio's External registry)
    http2: bool = False  # the cluster speaks HTTP/2 upstream
    dynamic: bool = False  # dynamic forward proxy cluster (resolution NONE): SNI comes from the request
    sidecar: bool = True  # built for a sidecar (False: a gateway)
    dr_has_workload_selector: bool = False


@dataclass(frozen=True)
class UpstreamTransport:
    """What TLS puts on a cluster; :meth:`cluster_fields` are merged into the cluster."""

    transport_socket: JSON | None = None
    transport_socket_matches: tuple[JSON, ...] = ()
    upstream_http_protocol_options: JSON = field(default_factory=dict)  # auto_sni / auto_san_validation
    alpn_override: bool = True  # False for SIMPLE/MUTUAL: Istio's ``istio.alpn_override: "false"`` metadata
    error: str = ""  # why the DR's TLS could not be built (the cluster then has none, as in Istio)

    def cluster_fields(self) -> JSON:
        """``transport_socket`` or ``transport_socket_matches`` (nothing for plaintext)."""
        if self.transport_socket_matches:
            return {"transport_socket_matches": [dict(m) for m in self.transport_socket_matches]}
        if self.transport_socket is not None:
            return {"transport_socket": dict(self.transport_socket)}
        return {}


def _port_level(policy: TrafficPolicy | None, port: int) -> tuple[ClientTLSSettings | None, bool]:
    """(tls, True) from the port's ``portLevelSettings`` entry, else (top-level tls, False)."""
    if policy is None:
        return None, False
    for settings in policy.port_level_settings:
        if settings.port is not None and settings.port.number == port:
            return settings.tls, True
    return policy.tls, False


def client_tls_for(dr: DestinationRule | None, subset: str | None, port: int) -> ClientTLSSettings | None:
    """The DR TLS settings of the cluster for ``port`` and ``subset`` (Istio's MergeSubsetTrafficPolicy)."""
    if dr is None:
        return None
    tls, _ = _port_level(dr.traffic_policy, port)
    chosen = next((s for s in dr.subsets if s.name == subset), None) if subset else None
    if chosen is None or chosen.traffic_policy is None:
        return tls
    subset_tls, port_level = _port_level(chosen.traffic_policy, port)
    return subset_tls if subset_tls is not None or port_level else tls


def resolve_client_tls(
    tls: ClientTLSSettings | None, target: UpstreamTarget, *, auto_mtls: bool, service_mode: MtlsMode | None
) -> tuple[ClientTLSSettings | None, bool]:
    """(settings to originate, auto-detected?) - Istio's buildUpstreamTLSSettings."""
    if tls is not None:
        if tls.mode != "ISTIO_MUTUAL":
            return tls, False
        return _istio_mutual(tls.subject_alt_names or target.service_accounts, tls.sni or target.sni, tls), False
    if target.mesh_external or not auto_mtls or service_mode in (None, "DISABLE"):
        return None, False
    return _istio_mutual(target.service_accounts, target.sni, None), True


def _istio_mutual(sans: tuple[str, ...], sni: str, user: ClientTLSSettings | None) -> ClientTLSSettings:
    skip = user.insecure_skip_verify if user is not None else None
    return ClientTLSSettings(mode="ISTIO_MUTUAL", subject_alt_names=sans, sni=sni, insecure_skip_verify=skip)


def _tls_params() -> JSON:
    return {"tls_maximum_protocol_version": "TLSv1_3", "tls_minimum_protocol_version": "TLSv1_2"}


def _exact(sans: tuple[str, ...]) -> JSON:
    return {"match_subject_alt_names": [{"exact": s} for s in sans]} if sans else {}


def istio_mutual_context(tls: ClientTLSSettings, target: UpstreamTarget) -> JSON:
    """ISTIO_MUTUAL: the workload certificate and the mesh root from the agent, Istio's ALPN and SNI."""
    common: JSON = {
        "tls_params": _tls_params(),
        "tls_certificate_sds_secret_configs": [sds_secret_config(names.SDS_DEFAULT)],
        "combined_validation_context": {
            "default_validation_context": _exact(tls.subject_alt_names),
            "validation_context_sds_secret_config": sds_secret_config(names.SDS_ROOT),
        },
        "alpn_protocols": list(names.ALPN_IN_MESH_H2 if target.http2 else names.ALPN_IN_MESH),
    }
    context: JSON = {"@type": names.T_UPSTREAM_TLS, "common_tls_context": common}
    sni = tls.sni or ("" if target.dynamic else target.cluster_name)
    if sni:
        context["sni"] = sni
    return context


def _credential_sds(name: str) -> JSON:
    return {"name": names.credential_resource(name), "sds_config": dict(ADS_SDS_SOURCE)}


def _user_validation(tls: ClientTLSSettings, sans: tuple[str, ...]) -> JSON:
    """The validation part of SIMPLE/MUTUAL: the credential's or file's CA (default: the OS bundle)."""
    if tls.insecure_skip_verify:
        return {"validation_context": {}} if not tls.credential_name else {}
    default = _exact(sans)
    if tls.credential_name:
        root = _credential_sds(tls.credential_name + names.CA_SUFFIX)
    else:
        if tls.ca_crl:
            default["crl"] = {"filename": tls.ca_crl}
        root = sds_secret_config(names.file_root_resource(tls.ca_certificates or "system"))
    return {
        "combined_validation_context": {
            "default_validation_context": default,
            "validation_context_sds_secret_config": root,
        }
    }


def user_tls_context(tls: ClientTLSSettings, target: UpstreamTarget) -> tuple[JSON | None, str]:
    """SIMPLE/MUTUAL (Istio's constructUpstreamTLS): (context, error)."""
    mutual = tls.mode == "MUTUAL"
    sans = tls.subject_alt_names or (target.service_accounts if target.service_entry else ())
    common: JSON = {"tls_params": _tls_params()}
    if tls.credential_name:
        if mutual:
            common["tls_certificate_sds_secret_configs"] = [_credential_sds(tls.credential_name)]
    elif mutual:
        if not tls.client_certificate or not tls.private_key:
            return None, (
                f"failed to apply tls setting for {target.cluster_name}: "
                "client certificate and private key must not be empty"
            )
        resource = names.file_cert_resource(tls.client_certificate, tls.private_key)
        common["tls_certificate_sds_secret_configs"] = [sds_secret_config(resource)]
    common.update(_user_validation(tls, sans))
    if target.http2:
        common["alpn_protocols"] = list(names.ALPN_H2_ONLY)
    context: JSON = {"@type": names.T_UPSTREAM_TLS, "common_tls_context": common}
    if tls.sni:
        context["sni"] = tls.sni
    return context, ""


def auto_sni_options(tls: ClientTLSSettings, target: UpstreamTarget) -> JSON:
    """``upstream_http_protocol_options`` for SIMPLE/MUTUAL without SNI: SNI (and SAN validation when no
    SANs are given) from the request's host, as Istio's setAutoSniAndAutoSanValidation."""
    options: JSON = {}
    if not tls.sni:
        options["auto_sni"] = True
    auto_san = target.dynamic or (not tls.sni and not tls.subject_alt_names)
    if auto_san and not tls.insecure_skip_verify:
        options["auto_san_validation"] = True
    return options


def upstream_tls_context(tls: ClientTLSSettings, target: UpstreamTarget) -> tuple[JSON | None, str]:
    """The UpstreamTlsContext for resolved settings: (context or None for plaintext, error)."""
    if tls.mode in (None, "DISABLE"):
        return None, ""
    if tls.mode == "ISTIO_MUTUAL":
        return istio_mutual_context(tls, target), ""
    credential = tls.credential_name or ""
    secret = bool(credential) and not credential.startswith("configmap://")
    if secret and target.sidecar and not target.dr_has_workload_selector:
        # Istio: a sidecar may read a credentialName secret only through a DR with a workloadSelector.
        return None, (
            f"credentialName {tls.credential_name!r} is ignored on a sidecar unless the "
            "DestinationRule has a workloadSelector"
        )
    return user_tls_context(tls, target)


def raw_buffer_socket() -> JSON:
    """Plaintext."""
    return {"name": names.RAW_BUFFER_SOCKET, "typed_config": {"@type": names.T_RAW_BUFFER}}


def upstream_transport(
    dr_tls: ClientTLSSettings | None,
    target: UpstreamTarget,
    *,
    service_mode: MtlsMode | None,
    auto_mtls: bool = True,
) -> UpstreamTransport:
    """The transport socket(s) of one outbound cluster given its DR TLS (:func:`client_tls_for`) and the
    mode Istio infers for the destination (:func:`mizzen.translate.security.endpoints.infer_service_mode`)."""
    tls, auto = resolve_client_tls(dr_tls, target, auto_mtls=auto_mtls, service_mode=service_mode)
    user_mode = dr_tls.mode if dr_tls is not None else None
    alpn_override = user_mode not in ("SIMPLE", "MUTUAL")
    if tls is None:
        return UpstreamTransport(alpn_override=alpn_override)
    context, error = upstream_tls_context(tls, target)
    if context is None:
        return UpstreamTransport(alpn_override=alpn_override, error=error)
    socket: JSON = {"name": names.TLS_SOCKET, "typed_config": context}
    options = auto_sni_options(tls, target) if tls.mode in ("SIMPLE", "MUTUAL") else {}
    if auto:
        matches: tuple[JSON, ...] = (
            {
                "name": names.MATCH_ISTIO,
                "match": {names.TLS_MODE_KEY: names.TLS_MODE_ISTIO},
                "transport_socket": socket,
            },
            {"name": names.MATCH_DISABLED, "match": {}, "transport_socket": raw_buffer_socket()},
        )
        return UpstreamTransport(transport_socket_matches=matches, alpn_override=alpn_override)
    return UpstreamTransport(
        transport_socket=socket, upstream_http_protocol_options=options, alpn_override=alpn_override
    )


def credential_names(dr: DestinationRule) -> tuple[str, ...]:
    """The Secret names a DestinationRule's client TLS reads (``credentialName`` at any level; not
    ``configmap://`` CA bundles), for the xDS secret filter: a sidecar of the DR's namespace may get them."""
    policies = [dr.traffic_policy, *(s.traffic_policy for s in dr.subsets)]
    tls = [p.tls for p in policies if p is not None]
    tls += [pl.tls for p in policies if p is not None for pl in p.port_level_settings]
    names_ = {t.credential_name.removeprefix("kubernetes://") for t in tls if t is not None and t.credential_name}
    return tuple(sorted(n for n in names_ if "://" not in n))
