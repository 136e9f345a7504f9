"""The host shown for each proxy: the address in its xDS stream's gRPC peer string."""

from __future__ import annotations

from mizzen.controlplane.inspect_api import peer_host


def test_peer_strings_give_their_address() -> None:
    """ipv4 and ipv6 peers give the bare address; anything else is shown as it is."""
    assert peer_host("ipv4:10.213.77.2:40122") == "10.213.77.2"
    assert peer_host("ipv6:[::1]:40122") == "::1"
    assert peer_host("unix:/run/x.sock") == "unix:/run/x.sock"
