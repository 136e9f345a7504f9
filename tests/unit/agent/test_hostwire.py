"""The host agent's wire format (pure): a spec and a control plane survive JSON, bad lines are refused."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from mizzen.agent import hostwire
from mizzen.agent.readiness import ProbePolicy
from mizzen.agent.runner import ControlPlane
from mizzen.agent.spec import PortSpec, UpstreamSpec, WorkloadSpec

SPEC = WorkloadSpec(
    name="reviews-v2",
    namespace="bookinfo",
    labels={"app": "reviews", "version": "v2"},
    service_account="bookinfo-reviews",
    ports=(PortSpec("http", 9080), PortSpec("grpc", 9090)),
    ready_path="/health",
    address="",
    upstreams=(UpstreamSpec("ratings", 9080, bind="127.0.0.2", listen_port=19080),),
    env={"A": "1"},
    command=("python", "-m", "app", "--port", "{port}"),
    probe=ProbePolicy(period_s=5.0, http_path="/ready", headers=(("x-probe", "1"),), exec_command=()),
    drain_s=2.5,
    annotations={"prometheus.io/port": "9090"},
)


def _round_trip(attach: hostwire.Attach) -> hostwire.Attach:
    return hostwire.decode_attach(hostwire.decode(hostwire.encode_attach(attach)))


def test_a_spec_survives_the_wire_unchanged() -> None:
    cp = ControlPlane(api_url="https://a:15014", xds_address=("a", 15010), token="t0k", roots=b"-----PEM-----\n")
    attach = hostwire.Attach(
        SPEC, hostwire.encode_control_plane(dataclasses.asdict(cp)), {"PATH": "/bin"}, 42, "/e", "/srv"
    )
    back = _round_trip(attach)
    assert back.spec == SPEC
    assert ControlPlane(**hostwire.decode_control_plane(back.control_plane)) == cp
    assert (back.environ, back.pid, back.envoy, back.cwd, back.verbose) == ({"PATH": "/bin"}, 42, "/e", "/srv", False)


def test_several_replicas_and_no_roots_survive_the_wire() -> None:
    cp = ControlPlane(
        api_url="http://a:15014",
        xds_address=("a", 15010),
        token="t",
        other_api_urls=("http://b:15014",),
        other_xds_addresses=(("b", 15010),),
        xds_given=False,
    )
    raw = hostwire.encode_control_plane(dataclasses.asdict(cp))
    assert ControlPlane(**hostwire.decode_control_plane(raw)) == cp


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json\n", "not JSON"),
        (b"[1, 2]\n", "JSON object"),
        (b" " * (hostwire.MAX_LINE + 1), "over the"),
    ],
)
def test_a_bad_line_is_refused(line: bytes, message: str) -> None:
    with pytest.raises(hostwire.HostWireError, match=message):
        hostwire.decode(line)


def test_another_protocol_or_a_missing_field_is_refused() -> None:
    with pytest.raises(hostwire.HostWireError, match="protocol"):
        hostwire.decode_attach({"protocol": 99})
    with pytest.raises(hostwire.HostWireError, match="malformed"):
        hostwire.decode_attach({"protocol": hostwire.PROTOCOL, "spec": {}})


def test_the_socket_sits_in_the_home_unless_the_path_is_too_long(tmp_path: Path) -> None:
    assert hostwire.socket_path(tmp_path) == tmp_path / "host" / "agent.sock"
    long_home = tmp_path / ("h" * 120)
    path = hostwire.socket_path(long_home)
    assert len(str(path).encode()) <= hostwire.MAX_SOCKET_PATH
    assert path == hostwire.socket_path(long_home)  # every client finds the same one
    assert path != hostwire.socket_path(tmp_path / ("g" * 120))


def test_a_folder_others_may_enter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    with pytest.raises(hostwire.AgentError, match="mode 0700"):
        hostwire.private_folder(folder)
    assert hostwire.private_folder(tmp_path / "fresh").stat().st_mode & 0o777 == 0o700
