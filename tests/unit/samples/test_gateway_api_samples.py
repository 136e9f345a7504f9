"""The Gateway API walkthrough shipped with Mizzen (samples/bookinfo/gateway-api) is valid and every route
and the Gateway bind and resolve with Bookinfo's Services."""

from __future__ import annotations

import pytest

from mizzen.config import load_paths, validate
from mizzen.gatewayapi import convert
from mizzen.samples.bookinfo.paths import gateway_api_dir, platform_file

FILES = sorted(p.name for p in gateway_api_dir().glob("route-*.yaml"))


def test_the_walkthrough_files_are_shipped() -> None:
    """Versions, ingress and the routing steps README's Gateway API walkthrough applies."""
    assert FILES == [
        "route-all-v1.yaml",
        "route-reviews-50-v3.yaml",
        "route-reviews-test-v2.yaml",
        "route-reviews-v3.yaml",
    ]


@pytest.mark.parametrize("name", FILES)
def test_each_routing_step_is_valid_and_fully_resolved(name: str) -> None:
    """No problem at validate; every route Accepted with all backends resolved (ResolvedRefs True)."""
    files = [platform_file(), gateway_api_dir() / "bookinfo-versions.yaml", gateway_api_dir() / name]
    loaded = load_paths([str(f) for f in files])
    assert loaded.report.ok and not validate(loaded.resources).violations
    statuses = convert(loaded.resources).statuses
    routes = [s for (kind, _, _), s in statuses.items() if kind == "HTTPRoute"]
    assert routes
    for status in routes:
        for parent in status["parents"]:
            assert {c["type"]: c["status"] for c in parent["conditions"]} == {
                "Accepted": "True",
                "ResolvedRefs": "True",
            }


def test_ingress_binds_to_the_gateway() -> None:
    """bookinfo-gateway.yaml: the HTTPRoute attaches to the Gateway's listener."""
    files = [platform_file(), gateway_api_dir() / "bookinfo-gateway.yaml"]
    statuses = convert(load_paths([str(f) for f in files]).resources).statuses
    assert statuses[("KubernetesGateway", "default", "bookinfo-gateway")]["listeners"][0]["attachedRoutes"] == 1
