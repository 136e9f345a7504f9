"""The multi-host lab itself: namespaces on a private bridge, partitions, link cuts, and a clean teardown."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing.multihost import Host, Lab, lab_namespaces, lab_or_skip

FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).status)"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with lab_or_skip() as made:
        yield made


def _fetch(host: Host, url: str, timeout: float = 2.0) -> str:
    done = host.run([sys.executable, "-c", FETCH, url, str(timeout)], check=False)
    return done.stdout.strip() if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def _serve(host: Host, tmp: Path) -> str:
    host.spawn([sys.executable, "-u", "-m", "http.server", "--bind", host.address, "8000"], log=tmp / "srv.log")
    url = f"http://{host.address}:8000/"
    deadline = time.monotonic() + 30
    while "Serving HTTP" not in (tmp / "srv.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    return url


def test_hosts_reach_each_other_only_inside_the_lab(lab: Lab, tmp_path: Path) -> None:
    """Two hosts talk over the bridge; the machine's own namespace has no route to the lab's /24."""
    a, b = lab.add_host("a"), lab.add_host("b")
    url = _serve(b, tmp_path)
    assert _fetch(a, url) == "200"
    assert a.address == "10.213.77.1" and b.address == "10.213.77.2"
    routes = Path("/proc/net/route").read_text()
    assert "4D4D5D0A" not in routes.upper()  # 10.213.77.0 (little-endian hex): not in the root namespace


def test_a_partition_drops_silently_and_heals(lab: Lab, tmp_path: Path) -> None:
    """A partition times out (no reset, no ICMP) between two hosts only; healing restores it."""
    a, b, c = lab.add_host("a"), lab.add_host("b"), lab.add_host("c")
    url = _serve(b, tmp_path)
    lab.partition(a, b)
    assert "timed out" in _fetch(a, url, 1.0)
    assert _fetch(c, url) == "200"
    lab.heal(a, b)
    assert _fetch(a, url) == "200"


def test_a_link_cut_and_restore(lab: Lab, tmp_path: Path) -> None:
    """With a host's link down its peers time out; after it comes back they reach it again."""
    a, b = lab.add_host("a"), lab.add_host("b")
    url = _serve(b, tmp_path)
    b.link_down()
    assert "timed out" in _fetch(a, url, 1.0)
    b.link_up()
    deadline = time.monotonic() + 10
    while _fetch(a, url) != "200":
        assert time.monotonic() < deadline


def test_close_kills_processes_and_removes_every_namespace(tmp_path: Path) -> None:
    """After the lab closes, its processes are gone and no namespace of it is left (even with live children)."""
    with lab_or_skip() as lab:
        a = lab.add_host("a")
        proc = a.spawn(["sleep", "600"], log=tmp_path / "sleep.log")
        tag = lab.tag
    assert proc.poll() is not None
    assert not [ns for ns in lab_namespaces() if ns.startswith(f"{tag}-")]
