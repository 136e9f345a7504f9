"""Listener ports come from outside the ephemeral range, distinct within one allocation."""

import os
from pathlib import Path

from mizzen.agent.ports import ephemeral_range, free_ports, listen_range, port_is_free


def test_listen_range_avoids_the_ephemeral_range() -> None:
    """With Linux's default 32768-60999, ports are drawn from 20000-32767; a tiny gap uses the top."""
    assert listen_range((32768, 60999)) == (20000, 32767)
    assert listen_range((20500, 60999)) == (61000, 65535)


def test_ephemeral_range_reads_proc_or_falls_back(tmp_path: Path) -> None:
    """The range is read from the kernel file; an unreadable file gives Linux's default."""
    f = tmp_path / "range"
    f.write_text("40000\t50000\n")
    assert ephemeral_range(f) == (40000, 50000)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    """Ten ports at once: all different, all bindable, none where outgoing connections take theirs."""
    low, high = ephemeral_range()
    ports = free_ports(10)
    assert len(set(ports)) == 10
    assert all(port_is_free(p) for p in ports)
    assert not any(low <= p <= high for p in ports)


def test_a_reserved_port_is_not_handed_out_twice(tmp_path: Path) -> None:
    """A reservation blocks other allocators until it expires; an expired one may be taken over."""
    from mizzen.agent.ports import RESERVATION_TTL_S, reserve

    assert reserve(25001, tmp_path, now=1000.0)
    assert not reserve(25001, tmp_path, now=1000.0)
    stale = tmp_path / "25001"
    os.utime(stale, (1000.0, 1000.0))
    assert reserve(25001, tmp_path, now=1000.0 + RESERVATION_TTL_S + 1)
