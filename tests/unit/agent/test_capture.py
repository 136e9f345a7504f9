"""Transparent capture's nftables rules: the pure text, and (as root) a real install/remove in a throwaway netns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.agent import capture
from mizzen.agent.capture import CaptureError, CapturePlan, ruleset, table_name

PLAN = CapturePlan(
    workload="reviews-v2.default",
    veth="mzv-r2",
    inbound_ports=[9080, 9090],
    control_plane=["10.99.0.1"],
    exclude_outbound_ports=[5432],
    exclude_inbound_ports=[9090],
)


def _rules(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "iifname" in line]


def test_the_table_is_named_after_the_workload() -> None:
    """The table name is the workload's, with characters nft does not allow replaced."""
    assert table_name("reviews-v2.default") == "mizzen_reviews_v2_default"


def test_outbound_exclusions_come_before_the_redirect_to_15001() -> None:
    """Loopback, the control plane and excluded ports return before the app's TCP is redirected to 15001."""
    assert _rules(ruleset(PLAN))[:4] == [
        'iifname "mzv-r2" ip daddr 127.0.0.0/8 return',
        'iifname "mzv-r2" ip daddr 10.99.0.1 return',
        'iifname "mzv-r2" tcp dport 5432 return',
        'iifname "mzv-r2" ip daddr 0.0.0.0/0 meta l4proto tcp redirect to :15001',
    ]


def test_inbound_redirects_the_app_ports_less_the_excluded_ones_to_15006() -> None:
    """Traffic from elsewhere to a local address on an app port (not excluded) goes to 15006."""
    assert _rules(ruleset(PLAN))[-1] == 'iifname != "mzv-r2" fib daddr type local tcp dport 9080 redirect to :15006'


def test_include_ranges_limit_what_is_captured() -> None:
    """includeOutboundIPRanges narrows the redirect to those ranges; excluded ranges return first."""
    plan = CapturePlan(
        "a.default",
        "mzv-a",
        [80],
        include_outbound_ranges=["10.0.0.0/8", "192.168.0.0/16"],
        exclude_outbound_ranges=["10.1.0.0/16"],
    )
    rules = _rules(ruleset(plan))
    assert 'iifname "mzv-a" ip daddr 10.1.0.0/16 return' in rules
    assert 'iifname "mzv-a" ip daddr { 10.0.0.0/8, 192.168.0.0/16 } meta l4proto tcp redirect to :15001' in rules


def test_no_inbound_rule_when_every_port_is_excluded() -> None:
    """A workload whose ports are all excluded gets no inbound redirect at all."""
    plan = CapturePlan("a.default", "mzv-a", [80], exclude_inbound_ports=[80])
    assert not [r for r in _rules(ruleset(plan)) if "15006" in r]


def test_a_rerun_replaces_the_table_rather_than_merging_into_it() -> None:
    """The text creates, deletes, then defines the table: a leftover's rules never survive."""
    head = ruleset(PLAN).splitlines()[:3]
    assert head == [
        "table ip mizzen_reviews_v2_default",
        "delete table ip mizzen_reviews_v2_default",
        "table ip mizzen_reviews_v2_default {",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("veth", 'x" accept', "not an interface name"),
        ("inbound_ports", [0], "out of range"),
        ("exclude_outbound_ports", [70000], "out of range"),
        ("control_plane", ["cp.example"], "not an IPv4 address"),
        ("include_outbound_ranges", ["10.0.0.0/33"], "not an IPv4 address"),
    ],
)
def test_bad_plans_are_refused_with_the_field(field: str, value: object, message: str) -> None:
    """An interface name, port or range nft would misread is refused before any nft runs."""
    plan = CapturePlan(**{**PLAN.__dict__, field: value})
    with pytest.raises(CaptureError, match=message):
        ruleset(plan)


def test_a_record_naming_a_foreign_table_is_not_deleted(tmp_path: Path) -> None:
    """A state record whose table is not one of ours is refused, never passed to nft."""
    (tmp_path / capture.STATE_FILE).write_text('{"table": "filter"}\n')
    with pytest.raises(CaptureError, match="not a Mizzen capture table"):
        capture.remove(tmp_path)


def test_nothing_recorded_means_nothing_removed(tmp_path: Path) -> None:
    """Without a record (first start, clean stop), removing a stale table does nothing."""
    assert capture.remove_stale(tmp_path) is None


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs root, nft and ip (a throwaway network namespace)")
    name = f"mzcap-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _tables(ns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"], capture_output=True, text=True).stdout


def _in_netns(ns: str, code: str, state: Path) -> str:
    """Run ``code`` (with ``capture``, ``PLAN`` and ``state`` defined) in the netns ``ns``; its stdout."""
    prelude = (
        "from pathlib import Path\n"
        "from mizzen.agent import capture\n"
        "from mizzen.agent.capture import CapturePlan\n"
        f"PLAN = CapturePlan(**{PLAN.__dict__!r})\n"
        f"state = Path({str(state)!r})\n"
    )
    argv = ["ip", "netns", "exec", ns, sys.executable, "-c", prelude + code]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_installed_rules_survive_a_crash_and_the_next_start_removes_them(netns: str, tmp_path: Path) -> None:
    """Real nft in a throwaway netns: install twice (one table), a "crash" (no stop), then remove_stale
    deletes exactly our table and the record."""
    _in_netns(netns, "capture.install(PLAN, state); capture.install(PLAN, state)", tmp_path)
    assert _tables(netns).split() == ["table", "ip", "mizzen_reviews_v2_default"]
    assert (tmp_path / capture.STATE_FILE).exists()
    out = _in_netns(netns, "print(capture.remove_stale(state))", tmp_path)
    assert out.strip() == "mizzen_reviews_v2_default"
    assert _tables(netns).strip() == ""
    assert not (tmp_path / capture.STATE_FILE).exists()


def test_peers_on_this_host_are_redirected_in_the_output_chain() -> None:
    """Another workload's Envoy on this host dials the endpoint port from the output path: redirected too."""
    text = ruleset(PLAN)
    output = text[text.index("chain output") :]
    assert "type nat hook output priority -100;" in output
    assert "fib daddr type local tcp dport 9080 redirect to :15006" in output
