"""Host addresses as peers see them: loopback detection and the source address towards a peer."""

from __future__ import annotations

from mizzen.hostaddr import is_loopback, primary_address, source_address_towards


def test_loopback_names_and_addresses() -> None:
    """127/8, ::1 and localhost are loopback; a private address or a name is not."""
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("10.0.0.1", "0.0.0.0", "cp-host", ""))


def test_the_source_towards_loopback_is_loopback() -> None:
    """A control plane on this host's loopback is reached from 127.0.0.1 (so the endpoint stays local)."""
    assert source_address_towards("127.0.0.1") == "127.0.0.1"


def test_the_primary_address_is_not_loopback() -> None:
    """Whatever the host's network, its primary address (when it has one) is not a loopback one."""
    primary = primary_address()
    assert primary is None or not is_loopback(primary)
