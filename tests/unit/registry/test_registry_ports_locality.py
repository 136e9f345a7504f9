"""Registry: unnamed Service ports reach a Mizzen workload's sidecar by targetPort number; endpoint
locality from a WorkloadEntry's locality or Istio's labels."""

from __future__ import annotations

from test_registry import addrs, kube_svc, res

from mizzen.registry import build_registry

NGINX = kube_svc("my-nginx", [{"port": 443, "protocol": "TCP"}, {"name": "http", "port": 80}], {"run": "my-nginx"})


def _agent_entry(annotations: dict[str, str]) -> object:
    spec = {"address": "127.0.0.1", "labels": {"run": "my-nginx"}, "ports": {"https": 20001, "http": 20002}}
    return res("WorkloadEntry", "nginx", spec, annotations={"mizzen.io/registered-by": "agent", **annotations})


def test_unnamed_service_port_maps_to_the_sidecar_by_number() -> None:
    """Istio's my-nginx Service (port 443, no name) reaches the sidecar port serving container port 443,
    not 127.0.0.1:443; a named port still maps by name."""
    snap = build_registry([NGINX, _agent_entry({"mizzen.io/container-ports": "443=20001,80=20002"})])  # type: ignore[list-item]
    assert addrs(snap.endpoints_of("my-nginx.default.svc.cluster.local", 443)) == [("127.0.0.1", 20001)]
    assert addrs(snap.endpoints_of("my-nginx.default.svc.cluster.local", 80)) == [("127.0.0.1", 20002)]


def test_without_the_agents_port_map_the_target_port_is_used() -> None:
    """A WorkloadEntry written by hand keeps Istio's rule: an unnamed port goes to its targetPort."""
    snap = build_registry([NGINX, _agent_entry({})])  # type: ignore[list-item]
    assert addrs(snap.endpoints_of("my-nginx.default.svc.cluster.local", 443)) == [("127.0.0.1", 443)]


def test_endpoint_locality_from_the_entry_or_istios_labels() -> None:
    """`locality` wins; else istio-locality (dots for slashes); else the topology labels."""
    svc = kube_svc("hw", [{"name": "http", "port": 5000}], {"app": "hw"})
    entries = [
        res("WorkloadEntry", "a", {"address": "10.0.0.1", "locality": "r1/z1", "labels": {"app": "hw"}}),
        res("WorkloadEntry", "b", {"address": "10.0.0.2", "labels": {"app": "hw", "istio-locality": "r2.z2.s2"}}),
        res(
            "WorkloadEntry",
            "c",
            {"address": "10.0.0.3", "labels": {"app": "hw", "topology.kubernetes.io/region": "r3"}},
        ),
    ]
    eps = build_registry([svc, *entries]).endpoints_of("hw.default.svc.cluster.local", 5000)
    assert [(e.address, e.locality) for e in eps] == [
        ("10.0.0.1", "r1/z1"),
        ("10.0.0.2", "r2/z2/s2"),
        ("10.0.0.3", "r3"),
    ]
