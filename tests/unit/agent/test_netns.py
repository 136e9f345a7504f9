"""A captured app's namespace and veth: names bounded by IFNAMSIZ, one /30 per workload, the ip commands."""

from __future__ import annotations

import ipaddress

import pytest

from mizzen.agent import netns
from mizzen.agent.netns import CAPTURE_RANGE, IFNAMSIZ, Layout, NetnsError, layout, pick_subnet

NET = ipaddress.IPv4Network


def test_names_fit_ifnamsiz_and_depend_on_the_workload_and_the_home() -> None:
    """Namespace and both veth ends fit 15 characters, are stable, and differ between homes and workloads."""
    lay = layout("a-very-long-workload-name-indeed.some-namespace", "home-a", [])
    assert all(len(n) <= IFNAMSIZ for n in (lay.netns, lay.host_veth, lay.app_veth))
    assert lay == layout("a-very-long-workload-name-indeed.some-namespace", "home-a", [])
    assert lay.netns != layout("a-very-long-workload-name-indeed.some-namespace", "home-b", []).netns
    assert lay.host_veth != layout("b.default", "home-a", []).host_veth
    assert lay.host_veth != lay.app_veth


def test_the_host_end_is_the_first_address_of_a_slash_30_and_the_app_the_second() -> None:
    """Both ends lie in one /30 of 10.250.0.0/16: .1 (gateway) and .2 (the app)."""
    lay = layout("reviews-v2.default", "/h", [])
    subnet = NET(f"{lay.host_address}/30", strict=False)
    assert subnet.subnet_of(CAPTURE_RANGE)
    assert [str(a) for a in subnet.hosts()] == [lay.host_address, lay.app_address]


def test_a_taken_subnet_is_skipped_and_the_search_wraps() -> None:
    """A /30 overlapping an address of the host is passed over; past the range's end the search wraps."""
    last = list(CAPTURE_RANGE.subnets(new_prefix=30))[-1]
    assert pick_subnet(0, []) == NET("10.250.0.0/30")
    assert pick_subnet(0, [NET("10.250.0.1/30", strict=False)]) == NET("10.250.0.4/30")
    assert pick_subnet(16383, [last]) == NET("10.250.0.0/30")
    assert pick_subnet(0, [NET("192.168.0.0/16")]) == NET("10.250.0.0/30")  # outside the range: ignored


def test_two_workloads_never_get_one_subnet() -> None:
    """A layout made while another workload's host end holds its preferred /30 gets the next one."""
    first = layout("a.default", "/h", [])
    taken = [NET(f"{first.host_address}/30", strict=False)]
    second = layout("a.default", "/h", taken)  # the same preferred index, as a colliding name would have
    got = NET(f"{second.host_address}/30", strict=False)
    assert got != taken[0] and got.subnet_of(CAPTURE_RANGE)
    assert int(got.network_address) - int(taken[0].network_address) in (4, -(CAPTURE_RANGE.num_addresses - 4))


def test_a_full_range_is_refused() -> None:
    """When every /30 is in use there is a clear error rather than a shared address."""
    with pytest.raises(NetnsError, match="in use"):
        pick_subnet(5, [CAPTURE_RANGE])


def test_the_commands_create_the_namespace_then_the_pair_then_addresses_and_route() -> None:
    """The netns first, the veth pair with its app end moved into it, addresses, links up, default route."""
    lay = layout("a.default", "/h", [])
    cmds = netns.create_commands(lay)
    assert cmds[0] == ["ip", "netns", "add", lay.netns]
    assert cmds[1][-2:] == ["netns", lay.netns] and lay.host_veth in cmds[1] and lay.app_veth in cmds[1]
    assert cmds[-1] == ["ip", "-n", lay.netns, "route", "add", "default", "via", lay.host_address]
    assert ["ip", "-n", lay.netns, "link", "set", "lo", "up"] in cmds


def test_the_hosts_file_puts_every_mesh_name_at_the_gateway() -> None:
    """localhost stays loopback; each name (deduplicated, sorted) resolves to the host end of the veth."""
    lay = layout("a.default", "/h", [])
    lines = netns.hosts_text(lay, ["echo", "echo.default.svc.cluster.local", "echo"]).splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[2:] == [f"{lay.host_address}\techo", f"{lay.host_address}\techo.default.svc.cluster.local"]


@pytest.mark.parametrize("record", [None, {"netns": "x"}, {**layout("a.default", "/h", []).record(), "netns": "eth0"}])
def test_a_record_that_is_not_a_capture_layout_is_refused(record: object) -> None:
    """Only a layout of Mizzen's own names is ever torn down from a state record."""
    with pytest.raises(NetnsError, match="not a capture layout"):
        Layout.from_record(record)
