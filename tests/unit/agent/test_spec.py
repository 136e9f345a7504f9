"""Command-line values, port allocation, and what the app, Envoy and the control plane get."""

from __future__ import annotations

import dataclasses

import pytest

from mizzen.agent.errors import PortSpecError
from mizzen.agent.spec import (
    Allocation,
    PortSpec,
    UpstreamSpec,
    WorkloadSpec,
    allocate,
    app_argv,
    app_env,
    parse_env,
    parse_labels,
    parse_port,
    parse_upstream,
    proxy_of,
    workload_entry,
)
from mizzen.node import Upstream
from mizzen.testing.ports import free_port

SPEC = WorkloadSpec(
    name="reviews-v2",
    labels={"app": "reviews", "version": "v2"},
    service_account="bookinfo-reviews",
    ports=(PortSpec("http", 9080), PortSpec("grpc-api", 9090)),
    command=("app", "--listen={port}", "{port_grpc-api}"),
    upstreams=(UpstreamSpec("ratings", 9080, listen_port=free_port()), UpstreamSpec("db", 5432)),
)
ALLOC = Allocation(
    app={"http": 20001, "grpc-api": 20002},
    inbound={"http": 20003, "grpc-api": 20004},
    http_proxy=20005,
    upstreams=(Upstream("ratings", 9080, 19080),),
)


def test_parse_labels_and_env() -> None:
    """--labels is comma-separated K=V; --env values keep '=' after the first."""
    assert parse_labels("app=reviews, version=v2") == {"app": "reviews", "version": "v2"}
    assert parse_labels("") == {}
    assert parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(PortSpecError):
        parse_labels("app")
    with pytest.raises(PortSpecError):
        parse_env(["=1"])


def test_parse_port() -> None:
    """--port is NAME=NUMBER with a valid port number."""
    assert parse_port("http=9080") == PortSpec("http", 9080)
    for bad in ("9080", "http=", "http=0", "http=70000", "=9080"):
        with pytest.raises(PortSpecError):
            parse_port(bad)


def test_parse_upstream_forms() -> None:
    """--upstream takes an optional local bind address and port."""
    assert parse_upstream("reviews:9080=127.0.0.1:19080") == UpstreamSpec("reviews", 9080, "127.0.0.1", 19080)
    assert parse_upstream("reviews:9080=19080") == UpstreamSpec("reviews", 9080, "127.0.0.1", 19080)
    assert parse_upstream("reviews.default.svc.cluster.local:9080") == UpstreamSpec(
        "reviews.default.svc.cluster.local", 9080
    )
    for bad in ("reviews", "reviews:x", "reviews:9080=abc"):
        with pytest.raises(PortSpecError):
            parse_upstream(bad)


def test_allocate_sidecar_ports_are_distinct() -> None:
    """A sidecar gets app and inbound ports per service port, an HTTP-proxy port and upstream ports."""
    # The explicit local port is picked now, not at import: a full run reached this test 24 min after
    # collection, and another process had bound the port meanwhile.
    spec = dataclasses.replace(
        SPEC, upstreams=(UpstreamSpec("ratings", 9080, listen_port=free_port()), UpstreamSpec("db", 5432))
    )
    alloc = allocate(spec)
    ports = [
        *alloc.app.values(),
        *alloc.inbound.values(),
        alloc.http_proxy,
        *(u.listen_port for u in alloc.upstreams),
    ]
    assert len(ports) == len(set(ports)) == 7
    assert set(alloc.app) == set(alloc.inbound) == {"http", "grpc-api"}
    assert alloc.upstreams[0] == Upstream("ratings", 9080, spec.upstreams[0].listen_port or 0)


def test_allocate_refuses_busy_explicit_upstream_port() -> None:
    """An explicit --upstream local port that is already bound is a clear error, not a silent Envoy failure."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortSpecError, match=f"127.0.0.1:{port} is already in use"):
            allocate(WorkloadSpec(name="x", upstreams=(UpstreamSpec("reviews", 9080, listen_port=port),)))


def test_allocate_gateway_needs_no_port() -> None:
    """A gateway needs no port of its own (listeners come from Gateway resources; admin is a UNIX socket)."""
    alloc = allocate(WorkloadSpec(name="gw", proxy_type="router"))
    assert alloc.app == {} and alloc.inbound == {} and alloc.http_proxy is None


def test_app_argv_substitutes_ports() -> None:
    """{port} is the first service port's app port; {port_<name>} each named one."""
    assert app_argv(SPEC, ALLOC) == ["app", "--listen=20001", "20002"]


def test_app_env() -> None:
    """The app gets PORT, the sidecar as HTTP proxy (not for localhost), its identity and --env; none of the
    agent's settings (credential, MIZZEN_HOME, control-plane address)."""
    spec = WorkloadSpec(
        name="r",
        namespace="ns",
        labels={"version": "v1"},
        ports=(PortSpec("http", 9080),),
        env={"EXTRA": "1", "PORT": "override-wins"},
        command=("x",),
    )
    env = app_env(
        spec,
        Allocation(app={"http": 2}, inbound={"http": 3}, http_proxy=4),
        {"PATH": "/bin", "MIZZEN_TOKEN": "secret", "MIZZEN_HOME": "/home/u/.mizzen", "MIZZEN_ADDRESS": "http://x"},
    )
    assert env["HTTP_PROXY"] == env["http_proxy"] == "http://127.0.0.1:4"
    assert env["NO_PROXY"] == env["no_proxy"] == "localhost,127.0.0.1"
    assert (env["MIZZEN_WORKLOAD"], env["MIZZEN_NAMESPACE"], env["MIZZEN_LABELS"]) == ("r", "ns", "version=v1")
    assert env["MIZZEN_PORT_HTTP"] == "2" and env["PATH"] == "/bin" and env["EXTRA"] == "1"
    assert env["PORT"] == "override-wins"
    assert not {"MIZZEN_TOKEN", "MIZZEN_HOME", "MIZZEN_ADDRESS"} & set(env)


def test_proxy_of_records_ports_for_the_control_plane() -> None:
    """Inbound ports map service port -> sidecar listen port -> app port, with protocol from the name."""
    proxy = proxy_of(SPEC, ALLOC, access_log="/logs/a.log")
    assert proxy.id == "reviews-v2.default" and proxy.type == "sidecar"
    assert [(p.service_port, p.name, p.protocol, p.listen_port, p.app_port) for p in proxy.inbound] == [
        (9080, "http", "HTTP", 20003, 20001),
        (9090, "grpc-api", "GRPC", 20004, 20002),
    ]
    assert proxy.http_proxy_port == 20005 and proxy.access_log == "/logs/a.log"
    assert proxy.upstreams == ALLOC.upstreams and proxy.service_account == "bookinfo-reviews"


def test_workload_entry_points_at_sidecar_inbound_ports() -> None:
    """The registered WorkloadEntry maps each port name to the sidecar's inbound port, marks the agent and
    carries Istio's sidecar marker label security.istio.io/tlsMode=istio."""
    entry = workload_entry(SPEC, ALLOC)
    assert entry["apiVersion"] == "networking.istio.io/v1" and entry["kind"] == "WorkloadEntry"
    assert entry["metadata"]["name"] == "reviews-v2" and entry["metadata"]["namespace"] == "default"
    assert entry["metadata"]["annotations"]["mizzen.io/registered-by"] == "agent"
    assert entry["spec"] == {
        "address": "127.0.0.1",
        "ports": {"http": 20003, "grpc-api": 20004},
        "labels": {"app": "reviews", "version": "v2", "security.istio.io/tlsMode": "istio"},
        "serviceAccount": "bookinfo-reviews",
    }


def test_sidecars_with_ports_and_gateways_register() -> None:
    """Client-only workloads are not endpoints; sidecars with ports and gateways (of their Service) are."""
    assert SPEC.registers
    assert not WorkloadSpec(name="c", command=("x",)).registers
    assert WorkloadSpec(name="g", proxy_type="router").registers


def test_a_gateway_registers_without_ports_or_tls_mode() -> None:
    """A gateway's WorkloadEntry has its labels and no ports (its Service's targetPorts are its
    listeners) and no tlsMode label (peers do not originate mutual TLS to it unasked), as in Istio."""
    gw = WorkloadSpec(
        name="istio-egressgateway", namespace="istio-system", proxy_type="router",
        labels={"istio": "egressgateway"}, service_account="istio-egressgateway-service-account",
    )  # fmt: skip
    entry = workload_entry(gw, Allocation())
    assert entry["metadata"] == {
        "name": "istio-egressgateway",
        "namespace": "istio-system",
        "annotations": {"mizzen.io/registered-by": "gateway"},
    }
    assert entry["spec"] == {
        "address": "127.0.0.1",
        "labels": {"istio": "egressgateway"},
        "serviceAccount": "istio-egressgateway-service-account",
    }


def test_locality_goes_to_the_entry_and_the_proxy() -> None:
    """--locality is the WorkloadEntry's locality and the proxy's own; without it the proxy takes
    Istio's labels (istio-locality with dots, or the topology labels); a malformed one is refused."""
    from mizzen.agent.spec import parse_locality, proxy_of

    spec = WorkloadSpec(name="hw", ports=(PortSpec("http", 5000),), locality=parse_locality("region1/zone1/sub1"))
    alloc = Allocation(app={"http": 1}, inbound={"http": 2})
    assert workload_entry(spec, alloc)["spec"]["locality"] == "region1/zone1/sub1"
    assert proxy_of(spec, alloc).locality == "region1/zone1/sub1"
    assert "locality" not in workload_entry(WorkloadSpec(name="hw", ports=spec.ports), alloc)["spec"]
    labelled = WorkloadSpec(name="hw", labels={"istio-locality": "r1.z1"})
    assert proxy_of(labelled, alloc).locality == "r1/z1"
    topo = WorkloadSpec(name="hw", labels={"topology.kubernetes.io/region": "r2", "topology.kubernetes.io/zone": "z"})
    assert proxy_of(topo, alloc).locality == "r2/z"
    for bad in ("r//s", "r/z/s/x", " r"):
        with pytest.raises(PortSpecError):
            parse_locality(bad)


CAPTURED = WorkloadSpec(
    name="client",
    ports=(PortSpec("http", 9080), PortSpec("grpc", 9090)),
    command=("app", "--port={port}"),
    capture=True,
)


def test_a_captured_app_listens_on_its_service_ports_and_has_no_http_proxy() -> None:
    """Alone in its namespace, the app gets the service port numbers; the sidecar gets inbound and two
    capture ports, all distinct, and no HTTP-proxy port."""
    alloc = allocate(CAPTURED)
    assert alloc.app == {"http": 9080, "grpc": 9090} and alloc.http_proxy is None
    assert alloc.capture is not None
    assert len({*alloc.inbound.values(), *alloc.capture}) == 4
    assert app_argv(CAPTURED, alloc) == ["app", "--port=9080"]


def test_a_captured_proxy_says_redirect_with_its_ports_and_app_address() -> None:
    """proxy_of sets INTERCEPTION_MODE REDIRECT, the allocated capture ports and where the app is reached."""
    alloc = Allocation(app={"http": 9080}, inbound={"http": 20003}, capture=(20010, 20011), app_address="10.250.0.2")
    proxy = proxy_of(CAPTURED, alloc)
    assert (proxy.interception, proxy.capture_outbound_port, proxy.capture_inbound_port) == ("REDIRECT", 20010, 20011)
    assert proxy.app_address == "10.250.0.2" and proxy.http_proxy_port is None
    assert proxy_of(SPEC, ALLOC).interception == "NONE"


def test_a_captured_app_gets_no_proxy_variable_even_an_inherited_one() -> None:
    """HTTP_PROXY and friends from the agent's environment are dropped (the point of capture); --env still wins."""
    alloc = Allocation(app={"http": 9080}, inbound={"http": 20003}, capture=(20010, 20011))
    base = {"HTTP_PROXY": "http://corp:3128", "https_proxy": "x", "NO_PROXY": "y", "PATH": "/bin", "MIZZEN_TOKEN": "t"}
    env = app_env(CAPTURED, alloc, base)
    assert not {k for k in env if k.lower() in ("http_proxy", "https_proxy", "no_proxy")}
    assert env["PATH"] == "/bin" and "MIZZEN_TOKEN" not in env and env["PORT"] == "9080"


def test_upstream_ports_do_not_go_with_capture() -> None:
    """--upstream binds the host's loopback, which a captured app cannot reach: refused with the reason."""
    spec = WorkloadSpec(name="c", ports=(PortSpec("http", 9080),), capture=True, upstreams=(UpstreamSpec("db", 5432),))
    with pytest.raises(PortSpecError, match="does not go with --capture"):
        allocate(spec)
