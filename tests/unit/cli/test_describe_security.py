"""describe's security lines from a workload's config dump: the mTLS mode each inbound listener enforces and
the RBAC policies it holds, in istioctl's words."""

from __future__ import annotations

from typing import Any

from mizzen.cli import describe_security as sec
from mizzen.cli.describe import World, describe_workload

MTLS: dict[str, Any] = {
    "filter_chain_match": {"transport_protocol": "tls", "application_protocols": ["istio"]},
    "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {"require_client_certificate": True}},
}
PLAIN: dict[str, Any] = {"filter_chain_match": {"transport_protocol": "raw_buffer"}}


def _hcm(*policies: str) -> dict[str, Any]:
    rbac = {
        "name": "envoy.filters.http.rbac",
        "typed_config": {"rules": {"policies": {p: {} for p in policies}}},
    }
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {"http_filters": [rbac, {"name": "envoy.filters.http.router"}]},
    }


def _listener(port: int, *chains: dict[str, Any], policies: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "name": f"127.0.0.1_{port}",
        "traffic_direction": "INBOUND",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{**c, "filters": [_hcm(*policies)]} for c in chains],
    }


def _dump(*listeners: dict[str, Any]) -> dict[str, Any]:
    entries = [{"active_state": {"listener": lis}} for lis in listeners]
    return {
        "configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "dynamic_listeners": entries}]
    }


def test_modes_follow_the_chains() -> None:
    """mTLS + plaintext chains: PERMISSIVE; mTLS only: STRICT; plaintext only: DISABLE."""
    assert sec.listener_mode(_listener(1, MTLS, PLAIN)) == "PERMISSIVE"
    assert sec.listener_mode(_listener(1, MTLS)) == "STRICT"
    assert sec.listener_mode(_listener(1, PLAIN)) == "DISABLE"


def test_rbac_policies_of_the_first_enforcing_filter() -> None:
    """The RBAC line lists the policies of the port's HTTP RBAC filter; none when it has no filter."""
    dump = _dump(_listener(15001, MTLS, PLAIN, policies=("ns[default]-policy[details-viewer]-rule[0]",)))
    assert sec.rbac_lines(dump, [(9080, 15001)]) == ["RBAC policies: ns[default]-policy[details-viewer]-rule[0]"]
    assert sec.rbac_lines(_dump(_listener(15001, PLAIN)), [(9080, 15001)]) == []


def test_describe_workload_prints_the_enforced_mode_and_policies() -> None:
    """With a dump, describe workload prints what the listeners enforce: a STRICT port beside a
    PERMISSIVE one is a port-level line, and each port's RBAC policies are prefixed by its number."""
    world = World(
        objects={
            "Service": [
                {
                    "metadata": {"name": "db", "namespace": "default"},
                    "spec": {
                        "selector": {"app": "db"},
                        "ports": [{"name": "http", "port": 9080}, {"name": "tcp", "port": 9000}],
                    },
                }
            ],
            "WorkloadEntry": [
                {
                    "metadata": {"name": "db-v1", "namespace": "default"},
                    "spec": {"address": "127.0.0.1", "labels": {"app": "db"}, "ports": {"http": 15001, "tcp": 15002}},
                }
            ],
        },
        dumps={"db-v1.default": _dump(_listener(15001, MTLS, PLAIN, policies=("a",)), _listener(15002, MTLS))},
    )
    out = describe_workload(world, "db-v1", "default").splitlines()
    assert "9080 RBAC policies: a" in out
    i = out.index("Effective PeerAuthentication:")
    assert out[i + 1 : i + 4] == ["   Workload mTLS mode: PERMISSIVE", "   Port Level mTLS mode:", "      9000: STRICT"]
