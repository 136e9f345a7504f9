"""Where the agent finds the control plane and its token."""

from __future__ import annotations

from pathlib import Path

import pytest

from mizzen.agent.errors import AgentError, PortSpecError
from mizzen.agent.settings import api_address, mizzen_home, read_token, xds_address


def test_defaults_and_env_overrides() -> None:
    """Loopback defaults; MIZZEN_* variables override them; explicit options override both."""
    assert api_address(env={}) == "http://127.0.0.1:15014"
    assert api_address(env={"MIZZEN_ADDRESS": "10.0.0.1:9000/"}) == "http://10.0.0.1:9000"
    assert api_address("https://cp:1", env={"MIZZEN_ADDRESS": "x:2"}) == "https://cp:1"
    assert xds_address(env={}) == ("127.0.0.1", 15010)
    assert xds_address(env={"MIZZEN_XDS_ADDRESS": "cp.internal:25010"}) == ("cp.internal", 25010)
    assert xds_address("[::1]:15010", env={}) == ("::1", 15010)
    assert mizzen_home({"MIZZEN_HOME": "/tmp/h"}) == Path("/tmp/h")


def test_bad_xds_address() -> None:
    """An xDS address without a numeric port is rejected."""
    with pytest.raises(PortSpecError):
        xds_address("localhost", env={})


def test_token_from_env_then_file(tmp_path: Path) -> None:
    """MIZZEN_TOKEN wins; otherwise the token file in MIZZEN_HOME is read."""
    (tmp_path / "token").write_text("from-file\n")
    assert read_token(tmp_path, env={"MIZZEN_TOKEN": "from-env"}) == "from-env"
    assert read_token(tmp_path, env={}) == "from-file"


def test_missing_token_says_what_to_do(tmp_path: Path) -> None:
    """Without a token the error tells the user to start the control plane or set MIZZEN_TOKEN."""
    with pytest.raises(AgentError, match="MIZZEN_TOKEN"):
        read_token(tmp_path, env={})


def test_several_replicas_as_lists() -> None:
    """Comma-separated xDS and API addresses name several replicas, in order; one address is a list of one."""
    from mizzen.agent.settings import api_addresses, xds_addresses

    assert xds_addresses("a:15010, [::1]:15011", env={}) == (("a", 15010), ("::1", 15011))
    assert xds_addresses(env={"MIZZEN_XDS_ADDRESS": "cp:1"}) == (("cp", 1),)
    assert xds_address("a:1,b:2", env={}) == ("a", 1)
    assert api_addresses("a:15014,https://b:15014/", env={}) == ("http://a:15014", "https://b:15014")
    assert api_addresses(env={}) == ("http://127.0.0.1:15014",)
    with pytest.raises(PortSpecError, match="'b'"):
        xds_addresses("a:1,b", env={})
