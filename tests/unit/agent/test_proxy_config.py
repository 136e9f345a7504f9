"""``mizzen gateway --proxy-config``: Istio's ``proxy.istio.io/config`` YAML, only gatewayTopology applied."""

from __future__ import annotations

import pytest

from mizzen.agent.errors import AgentError
from mizzen.agent.proxy_config import parse_gateway_proxy_config
from mizzen.node import Proxy, node_metadata, proxy_from_node


def test_num_trusted_proxies_is_read_from_the_annotation_yaml() -> None:
    """The annotation's block and flow forms give the number; empty or no topology gives None."""
    assert parse_gateway_proxy_config("gatewayTopology:\n  numTrustedProxies: 2\n") == 2
    assert parse_gateway_proxy_config("gatewayTopology: {numTrustedProxies: 0}") == 0
    assert parse_gateway_proxy_config("") is None
    assert parse_gateway_proxy_config("gatewayTopology: {}") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("concurrency: 2", "concurrency is not applied by Mizzen"),
        ("gatewayTopology: {forwardClientCertDetails: SANITIZE}", "gatewayTopology.forwardClientCertDetails is not"),
        ("gatewayTopology: {numTrustedProxies: -1}", "must be an unsigned integer"),
        ("gatewayTopology: {numTrustedProxies: one}", "must be an unsigned integer"),
        ("gatewayTopology: 1", "gatewayTopology must be a mapping"),
        ("[1]", "must be a mapping"),
        ("a: [", "not YAML"),
    ],
)
def test_other_fields_and_bad_values_are_refused(text: str, message: str) -> None:
    """Fields Mizzen would not apply and malformed values are errors naming the field, never ignored."""
    with pytest.raises(AgentError, match=message):
        parse_gateway_proxy_config(text)


def test_the_number_travels_in_the_node_metadata() -> None:
    """Agent -> bootstrap -> control plane: PROXY_CONFIG carries it; absent stays None (the mesh's applies)."""
    gw = Proxy(id="g.istio-system", type="router", name="g", namespace="istio-system", num_trusted_proxies=1)
    meta = node_metadata(gw, admin="unix:/x", version="0")
    assert meta["PROXY_CONFIG"] == {"gatewayTopology": {"numTrustedProxies": 1}}
    back = proxy_from_node(gw.node_id, {**meta, "PROXY_CONFIG": {"gatewayTopology": {"numTrustedProxies": 1.0}}})
    assert back.num_trusted_proxies == 1
    plain = Proxy(id="g.istio-system", type="router", name="g", namespace="istio-system")
    assert "PROXY_CONFIG" not in node_metadata(plain, admin="unix:/x", version="0")
    assert (
        proxy_from_node(plain.node_id, node_metadata(plain, admin="unix:/x", version="0")).num_trusted_proxies is None
    )
