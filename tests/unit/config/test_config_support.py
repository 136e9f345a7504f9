"""Fields Mizzen accepts but does not apply yet: a warning (MZ2013) at validate/apply, never silence."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import pytest

from mizzen.config.loader import load_text
from mizzen.config.models import SPEC_MODELS
from mizzen.config.rules.support import NOT_APPLIED
from mizzen.config.schema import fields_of
from mizzen.config.validate import validate


def _model_of(hint: Any) -> Any:
    """The dataclass inside ``X | None`` or ``tuple[X, ...]``, else the hint itself."""
    while True:
        args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType, tuple) and args:
            hint = args[0]
        else:
            return hint


@pytest.mark.parametrize("kind", sorted(NOT_APPLIED))
def test_every_listed_path_is_a_field_of_the_kind(kind: str) -> None:
    """Each table entry names real fields of the kind's model, so a renamed field cannot go unnoticed."""
    for gap in NOT_APPLIED[kind]:
        model: Any = SPEC_MODELS[kind]
        for part in gap.pattern.split("."):
            assert dataclasses.is_dataclass(model), f"{kind}: {gap.pattern} walks into a non-message at {part}"
            specs = {s.json: s for s in fields_of(model)}
            assert part.removesuffix("[]") in specs, f"{kind}: {gap.pattern}: no field {part}"
            model = _model_of(specs[part.removesuffix("[]")].hint)


def _warnings(text: str) -> list[str]:
    loaded = load_text(text, "t.yaml")
    assert not loaded.report.errors, loaded.report
    return sorted(f"{v.path}: {v.message}" for v in validate(loaded.resources) if v.code == "MZ2013")


def test_unapplied_traffic_policy_fields_warn_at_every_level() -> None:
    """Tunnel, retry budget, HTTP/2 keepalive... warn in the top-level, port-level and subset policies
    (locality LB is applied: no warning)."""
    text = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {enabled: true}}
    retryBudget: {percent: {value: 20}}
    portLevelSettings:
    - port: {number: 80}
      connectionPool: {http: {http2KeepAlive: {interval: 10s, timeout: 5s}}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tunnel: {protocol: CONNECT, targetHost: egress, targetPort: 8080}}
"""
    assert _warnings(text) == sorted(
        [
            "spec.trafficPolicy.portLevelSettings[0].connectionPool.http.http2KeepAlive: http2KeepAlive is accepted "
            "but "
            "not applied by Mizzen yet",
            "spec.trafficPolicy.retryBudget: retryBudget is accepted but not applied by Mizzen yet",
            "spec.subsets[0].trafficPolicy.tunnel: tunnel is accepted but not applied by Mizzen yet",
        ]
    )


def test_gateway_tls_modes_and_settings_the_gateway_does_not_build() -> None:
    """ISTIO_MUTUAL on a TLS server, TLS termination on a TLS port, file CA for MUTUAL, cipher suites:
    each warns; ISTIO_MUTUAL on an HTTPS server (built: the egress-gateway tasks) does not."""
    text = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: cert}
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: ISTIO_MUTUAL}
  - port: {number: 8444, name: tls-mtls, protocol: TLS}
    hosts: [d.example.com]
    tls: {mode: ISTIO_MUTUAL}
  - port: {number: 9443, name: mtls, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem,
          cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256]}
  - port: {number: 10443, name: passthrough, protocol: TLS}
    hosts: [c.example.com]
    tls: {mode: PASSTHROUGH}
"""
    assert _warnings(text) == sorted(
        [
            "spec.servers[0].tls.mode: TLS termination on a TLS server is accepted but not applied by Mizzen yet",
            "spec.servers[2].tls.mode: ISTIO_MUTUAL on a server not HTTPS is accepted but not applied by Mizzen yet",
            "spec.servers[3].tls.cipherSuites: cipherSuites is accepted but not applied by Mizzen yet",
            "spec.servers[3].tls.caCertificates: caCertificates (a file-mounted CA) is accepted but not applied by "
            "Mizzen yet",
        ]
    )


def test_unix_socket_endpoints_and_workload_groups_warn() -> None:
    """Unix-socket addresses (ServiceEntry endpoints, WorkloadEntry, Sidecar ingress) and WorkloadGroup."""
    text = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [uds.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: "unix:///var/run/app.sock"}, {address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sc}
spec:
  workloadSelector: {labels: {app: a}}
  ingress:
  - port: {number: 80, name: http, protocol: HTTP}
    defaultEndpoint: "unix:///var/run/a.sock"
  - port: {number: 81, name: http2, protocol: HTTP}
    defaultEndpoint: 127.0.0.1:8081
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: vms}
spec:
  template: {serviceAccount: vm}
"""
    assert _warnings(text) == sorted(
        [
            'spec.endpoints[0].address: address "unix:///var/run/app.sock" is accepted but not applied by Mizzen yet',
            'spec.ingress[0].defaultEndpoint: defaultEndpoint "unix:///var/run/a.sock" is accepted but not applied by '
            "Mizzen yet",
            "spec.template: WorkloadGroup (VM registration and health probes) is accepted but not applied by Mizzen "
            "yet",
        ]
    )


def test_sidecar_ingress_tls_warns_only_for_what_the_sidecar_does_not_terminate() -> None:
    """SIMPLE, MUTUAL and OPTIONAL_MUTUAL are applied (no warning); PASSTHROUGH, an unset mode and caCrl warn."""
    text = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s, namespace: test}
spec:
  workloadSelector: {labels: {app: httpbin}}
  ingress:
  - port: {number: 9080, protocol: HTTPS, name: a}
    defaultEndpoint: 0.0.0.0:80
    tls: {mode: MUTUAL, serverCertificate: /c.crt, privateKey: /c.key, caCertificates: /ca.crt}
  - port: {number: 9081, protocol: HTTPS, name: b}
    defaultEndpoint: 0.0.0.0:81
    tls: {mode: SIMPLE, serverCertificate: /c.crt, privateKey: /c.key, caCrl: /crl.pem}
  - port: {number: 9082, protocol: TLS, name: c}
    defaultEndpoint: 0.0.0.0:82
    tls: {mode: PASSTHROUGH}
  - port: {number: 9083, protocol: TLS, name: d}
    defaultEndpoint: 0.0.0.0:83
    tls: {serverCertificate: /c.crt, privateKey: /c.key}
  - port: {number: 9084, protocol: TLS, name: e}
    defaultEndpoint: 0.0.0.0:84
    tls: {mode: OPTIONAL_MUTUAL, serverCertificate: /c.crt, privateKey: /c.key, caCertificates: /ca.crt}
"""
    note = "ingress TLS mode PASSTHROUGH is accepted but not applied by Mizzen yet"
    assert _warnings(text) == sorted(
        [
            "spec.ingress[1].tls.caCrl: caCrl is accepted but not applied by Mizzen yet",
            f"spec.ingress[2].tls.mode: {note}",
            f"spec.ingress[3].tls.mode: {note}",
        ]
    )
