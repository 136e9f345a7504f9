"""``mizzen test --live``: RouteTests against the config a real control plane holds (no Envoy needed)."""

from __future__ import annotations

from pathlib import Path

from mizzen.samples.bookinfo.paths import networking_file, package_dir, platform_file
from mizzen.testing.controlplane import MizzenCli

ROUTETESTS = package_dir() / "routetests"
ENTRY = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: productpage-v1}
spec: {address: 127.0.0.1, ports: {http: 20001}, labels: {app: productpage, version: v1}}
"""


def test_live_config_is_tested_and_files_override_it(mizzen: MizzenCli, tmp_path: Path) -> None:
    """The live VirtualService decides; a file given with -f replaces the live object of the same name."""
    for f in (platform_file(), networking_file("destination-rule-all"), networking_file("virtual-service-reviews-v3")):
        assert mizzen("apply", "-f", str(f)).exit_code == 0
    entry = tmp_path / "entry.yaml"
    entry.write_text(ENTRY)
    assert mizzen("apply", "-f", str(entry)).exit_code == 0
    tests = ["-t", str(ROUTETESTS / "workloads.yaml"), "-t", str(ROUTETESTS / "traffic-shifting-v3.yaml")]
    r = mizzen("test", "--live", *tests)
    assert r.exit_code == 0, r.stdout + r.stderr
    r = mizzen("test", "--live", "-f", str(networking_file("virtual-service-reviews-50-v3")), *tests)
    assert r.exit_code == 1
    assert "expected 100% to reviews subset v3, got 50% (a split outbound|9080|v1|" in r.stdout


def test_live_unreachable_control_plane_exits_4(tmp_path: Path) -> None:
    """--live with no control plane to ask: exit 4 with a one-line error."""
    from mizzen.testing.controlplane import cli_runner, free_port

    run = cli_runner({"MIZZEN_ADDRESS": f"http://127.0.0.1:{free_port()}", "MIZZEN_TOKEN": "x"})
    r = run("test", "--live", "-t", str(ROUTETESTS / "traffic-shifting-v3.yaml"))
    assert r.exit_code == 4 and r.stderr.startswith("error: cannot read the live mesh:")
