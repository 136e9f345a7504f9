"""Fields Istio acts on that Mizzen accepts but does not apply yet: each one draws a warning (MZ2013).

The table is the contract with ``mizzen.translate`` (and ``mizzen.registry``): an entry leaves it when
the translator starts to honour the field, so a user never gets a quiet "created" for configuration
that changes nothing. Checked against what the translator reads (its typed fields). Not listed:

- the security kinds (PeerAuthentication, AuthorizationPolicy, RequestAuthentication) and
  DestinationRule/ServiceEntry TLS identity settings (``ISTIO_MUTUAL``, ``credentialName``,
  ``insecureSkipVerify``, ``caCrl``, ``subjectAltNames``): ``mizzen.translate.security`` enforces them, and
  what it cannot is refused or warned about by ``mizzen.config.enforceable`` (MZ278x);
- fields Istio itself ignores or rejects (``consecutiveErrors``; ``exponentialDelay`` and
  ``http2Error`` are validation errors, as in Istio).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mizzen.config.codes import violation
from mizzen.config.resource import Resource
from mizzen.config.rules.common import Found

UNIX = "unix://"


@dataclass(frozen=True)
class Gap:
    """A field path under ``spec`` ("[]" walks a list), optionally only for some values."""

    pattern: str
    when: Callable[[Any], bool] | None = None
    at: str = ""  # a suffix of the reported path (the field the note is about)
    note: str = ""  # the message, when the field's name alone does not say it

    def message(self, value: Any) -> str:
        """The MZ2013 warning for ``value`` at this field: what is accepted but not applied yet."""
        if self.note:
            return f"{self.note} is accepted but not applied by Mizzen yet"
        name = self.pattern.rsplit(".", 1)[-1].removesuffix("[]")
        shown = f' "{value}"' if self.when is not None and isinstance(value, str) else ""
        return f"{name}{shown} is accepted but not applied by Mizzen yet"


def _unix(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(UNIX)


def _tls_termination_on_tls_port(server: Any) -> bool:
    port, tls = (server.get(k) if isinstance(server, Mapping) else None for k in ("port", "tls"))
    protocol = str(port.get("protocol") or "").upper() if isinstance(port, Mapping) else ""
    mode = str(tls.get("mode") or "SIMPLE") if isinstance(tls, Mapping) else ""
    return protocol == "TLS" and mode in ("SIMPLE", "MUTUAL")


def _istio_mutual_off_https(server: Any) -> bool:
    """ISTIO_MUTUAL is built on an HTTPS server (terminated, HTTP routed); on a TLS server it is not."""
    port, tls = (server.get(k) if isinstance(server, Mapping) else None for k in ("port", "tls"))
    protocol = str(port.get("protocol") or "").upper() if isinstance(port, Mapping) else ""
    mode = str(tls.get("mode") or "") if isinstance(tls, Mapping) else ""
    return mode == "ISTIO_MUTUAL" and protocol != "HTTPS"


def _sidecar_tls_not_terminated(tls: Any) -> bool:
    """Sidecar ingress TLS the sidecar does not terminate: mode PASSTHROUGH (also when unset). SIMPLE, MUTUAL
    and OPTIONAL_MUTUAL are; ISTIO_MUTUAL and AUTO_PASSTHROUGH are validation errors already."""
    mode = str(tls.get("mode") or "PASSTHROUGH") if isinstance(tls, Mapping) else ""
    return mode == "PASSTHROUGH"


def _file_client_ca(tls: Any) -> bool:
    return isinstance(tls, Mapping) and bool(tls.get("caCertificates")) and not tls.get("credentialName")


_POLICY = (
    "loadBalancer.warmupDurationSecs",
    "loadBalancer.warmup",
    "loadBalancer.zoneAwareLbSetting",
    "loadBalancer.consistentHash.httpCookie.attributes",
    "connectionPool.http.http2KeepAlive",
    "outlierDetection.outlierDetectionHttpErrorCodes",
)
_WHOLE_POLICY = ("tunnel", "proxyProtocol", "retryBudget")
_POLICY_ROOTS = ("trafficPolicy", "subsets[].trafficPolicy")
_SERVER_TLS = (
    "subjectAltNames",
    "verifyCertificateSpki",
    "verifyCertificateHash",
    "minProtocolVersion",
    "maxProtocolVersion",
    "cipherSuites",
    "credentialNames",
    "tlsCertificates",
    "caCertCredentialName",
    "caCrl",
    "insecureSkipVerify",
)
_UNTERMINATED_MODES = frozenset({"OPTIONAL_MUTUAL", "AUTO_PASSTHROUGH"})

NOT_APPLIED: Mapping[str, tuple[Gap, ...]] = {
    "VirtualService": (
        Gap("tcp[].match[].destinationSubnets"),
        Gap("tcp[].match[].sourceSubnet"),
        Gap("tls[].match[].destinationSubnets"),
    ),
    "DestinationRule": tuple(
        Gap(f"{root}{level}.{field}")
        for root in _POLICY_ROOTS
        for level in ("", ".portLevelSettings[]")
        for field in _POLICY
    )
    + tuple(Gap(f"{root}.{field}") for root in _POLICY_ROOTS for field in _WHOLE_POLICY),
    "Gateway": (
        *(Gap(f"servers[].tls.{field}") for field in _SERVER_TLS),
        Gap("servers[].tls.mode", when=lambda mode: mode in _UNTERMINATED_MODES),
        Gap("servers[].tls", when=_file_client_ca, at=".caCertificates", note="caCertificates (a file-mounted CA)"),
        Gap("servers[]", when=_tls_termination_on_tls_port, at=".tls.mode", note="TLS termination on a TLS server"),
        Gap("servers[]", when=_istio_mutual_off_https, at=".tls.mode", note="ISTIO_MUTUAL on a server not HTTPS"),
    ),
    "Sidecar": (
        # ingress[].tls SIMPLE/MUTUAL/OPTIONAL_MUTUAL is terminated (mizzen.translate.security.ingress_tls).
        Gap("ingress[].tls", when=_sidecar_tls_not_terminated, at=".mode", note="ingress TLS mode PASSTHROUGH"),
        Gap("ingress[].tls.caCrl"),
        Gap("ingress[].connectionPool"),
        Gap("ingress[].captureMode"),
        Gap("ingress[].bind"),
        Gap("ingress[].defaultEndpoint", when=_unix),
        Gap("egress[].bind", when=_unix),
        Gap("outboundTrafficPolicy.egressProxy"),
    ),
    "ServiceEntry": (
        Gap("endpoints[].address", when=_unix),
        Gap("endpoints[].network"),
    ),
    "WorkloadEntry": (
        Gap("address", when=_unix),
        Gap("network"),
    ),
    "WorkloadGroup": (Gap("template", note="WorkloadGroup (VM registration and health probes)"),),
    # Tracing, access logging and which metrics are on run (mizzen.translate.telemetry_api,
    # translate/stats_logger.py); tag overrides reach Envoy's stats but the readers (the control plane's
    # scrape, the merged endpoint) keep Istio's standard label set; the scrape interval is one per mesh.
    "Telemetry": (
        Gap("metrics[].overrides[].tagOverrides", note="Telemetry metric tagOverrides"),
        Gap("metrics[].reportingInterval", note="Telemetry metrics reportingInterval"),
        Gap("tracing[].disableContextPropagation"),
    ),
}


def check(res: Resource, root: str) -> Found:
    """A warning per field of ``res`` that Mizzen does not apply."""
    out: Found = []
    for gap in NOT_APPLIED.get(res.kind, ()):
        for path, value in _find(res.spec, gap.pattern.split("."), root):
            if gap.when is None or gap.when(value):
                out.append(violation("MZ2013", gap.message(value), path + gap.at))
    return out


def _find(value: Any, parts: list[str], path: str) -> Iterator[tuple[str, Any]]:
    if not parts:
        yield path, value
        return
    head, rest = parts[0], parts[1:]
    name, is_list = head.removesuffix("[]"), head.endswith("[]")
    if not isinstance(value, Mapping) or value.get(name) in (None, "", [], False):
        return
    child, sub = value[name], f"{path}.{name}"
    if is_list and isinstance(child, list):
        for i, item in enumerate(child):
            yield from _find(item, rest, f"{sub}[{i}]")
    elif not is_list:
        yield from _find(child, rest, sub)
