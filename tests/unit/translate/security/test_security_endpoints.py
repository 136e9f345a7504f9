"""Auto mTLS on the endpoint side: EDS tlsMode metadata, the mode clients infer, SPIFFE SANs."""

from __future__ import annotations

import pytest
from security_fixtures import destination_rule, parse_lb_endpoint

from mizzen.translate.security.endpoints import (
    dr_tls_mode_for_endpoints,
    endpoint_filter_metadata,
    endpoint_mtls_enabled,
    infer_service_mode,
    service_accounts,
)

DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    portLevelSettings:
    - port: {number: 9090}
      tls: {mode: SIMPLE}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  - name: v2
    labels: {version: v2}
"""


@pytest.mark.parametrize(
    ("subset", "port", "mode"),
    [(None, 9080, None), (None, 9090, "SIMPLE"), ("v1", 9080, "ISTIO_MUTUAL"), ("v2", 9090, "SIMPLE"), ("x", 1, None)],
)
def test_dr_mode_seen_by_the_endpoints_builder(subset: str | None, port: int, mode: str | None) -> None:
    """The subset's TLS mode, else the DR's; a port-level tls wins at each level."""
    assert dr_tls_mode_for_endpoints(destination_rule(DR), subset, port) == mode


@pytest.mark.parametrize(
    ("dr_mode", "label", "peer_mode", "enabled"),
    [
        (None, "istio", "PERMISSIVE", True),
        (None, "istio", "DISABLE", False),
        (None, "", "STRICT", False),
        ("ISTIO_MUTUAL", "", "DISABLE", True),
        ("SIMPLE", "istio", "STRICT", False),
        ("DISABLE", "istio", "STRICT", False),
    ],
)
def test_endpoint_keeps_its_label(dr_mode: str | None, label: str, peer_mode: str, enabled: bool) -> None:
    """A DR TLS mode decides (only ISTIO_MUTUAL keeps mTLS); else a sidecar whose port is not DISABLEd."""
    assert endpoint_mtls_enabled(dr_mode, label, peer_mode) is enabled  # type: ignore[arg-type]


def test_endpoint_metadata() -> None:
    """A sidecar endpoint gets `envoy.transport_socket_match: {tlsMode: istio}`; others get nothing."""
    meta = endpoint_filter_metadata("istio", True)
    assert meta == {"envoy.transport_socket_match": {"tlsMode": "istio"}}
    parse_lb_endpoint({"metadata": {"filter_metadata": meta}})
    assert endpoint_filter_metadata("istio", False) == {}
    assert endpoint_filter_metadata("disabled", True) == {}
    assert endpoint_filter_metadata("", True) == {}


@pytest.mark.parametrize(
    ("external", "passthrough", "modes", "namespace_mode", "expected"),
    [
        (True, False, ["istio"], "STRICT", None),
        (False, False, [], None, "PERMISSIVE"),
        (False, False, [], "STRICT", "STRICT"),
        (False, True, [], "STRICT", "DISABLE"),
        (False, True, ["istio", "disabled"], "STRICT", "DISABLE"),
        (False, True, ["istio", "istio"], "STRICT", "STRICT"),
    ],
)
def test_inferred_service_mode(
    external: bool, passthrough: bool, modes: list[str], namespace_mode: str | None, expected: str | None
) -> None:
    """MESH_EXTERNAL: unknown; passthrough needs every endpoint to run a sidecar; else the namespace mode."""
    got = infer_service_mode(
        mesh_external=external,
        passthrough=passthrough,
        endpoint_tls_modes=modes,
        namespace_mode=namespace_mode,  # type: ignore[arg-type]
    )
    assert got == expected


def test_service_accounts_are_spiffe_ids() -> None:
    """Workload identities become sorted unique SPIFFE IDs, with a ServiceEntry's own SANs added."""
    got = service_accounts([("default", "b"), ("default", "a"), ("default", "a"), ("x", "")], "cluster.local", ["z"])
    assert got == ("spiffe://cluster.local/ns/default/sa/a", "spiffe://cluster.local/ns/default/sa/b", "z")
