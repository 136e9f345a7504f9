"""``mizzen analyze --live`` against a real control plane over HTTP: live objects, merged with files."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from mizzen.cli.analyze_cmd import analyze_command
from mizzen.testing.controlplane import RunningControlPlane

pytestmark = pytest.mark.e2e  # starts a control-plane process (a few seconds)

BOGUS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - port: 9080
    name: http
"""

ENTRY = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: reviews-v1
spec:
  address: 127.0.0.1
  labels:
    app: reviews
    version: v1
"""

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 8080
      name: http
      protocol: HTTP
    hosts: ["*"]
"""

DR = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
"""


def _apply(cp: RunningControlPlane, text: str) -> None:
    docs = list(yaml.safe_load_all(text))
    r = httpx.post(f"{cp.address}/api/mizzen/v1/apply", json={"documents": docs}, headers=cp.headers())
    r.raise_for_status()


def test_live_configuration_is_analyzed_and_files_complete_it(
    controlplane: RunningControlPlane, tmp_path: Path
) -> None:
    """Live VS to an unknown host fails (79, no file in the origin); files adding Service, DR and workload fix it
    (the WorkloadEntry standing for the subset's pod, which the CLI notes as a difference from istioctl)."""
    _apply(controlplane, BOGUS)
    runner = CliRunner()
    result = runner.invoke(analyze_command, [], env=controlplane.env(), catch_exceptions=False)
    assert result.exit_code == 79
    assert result.stdout.splitlines() == [
        'Error [IST0101] (VirtualService default/reviews) Referenced host not found: "reviews"',
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in destinationrule not found: "
        '"reviews+v1"',
    ]
    fix = tmp_path / "fix.yaml"
    fix.write_text(SERVICE + "---\n" + DR + "---\n" + ENTRY)
    result = runner.invoke(analyze_command, ["--live", str(fix)], env=controlplane.env(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "note: WorkloadEntries in the input count as workloads for selectors, where istioctl reads only Pods "
        "(docs/istio-differences.md#workloadentries-count-as-workloads)",
        "\u2714 No validation issues found when analyzing namespace: default.",
    ]


def test_live_workload_entries_enable_subset_checks(controlplane: RunningControlPlane) -> None:
    """With a registered WorkloadEntry for v1 only, a DR subset v2 is IST0173 on the live mesh."""
    dr = DR + "  - name: v2\n    labels:\n      version: v2\n"
    _apply(controlplane, SERVICE + "---\n" + dr + "---\n" + ENTRY)
    result = CliRunner().invoke(analyze_command, ["--live"], env=controlplane.env(), catch_exceptions=False)
    assert result.exit_code == 79
    assert result.stdout == (
        "Error [IST0173] (DestinationRule default/reviews) The Subset v2 defined in the "
        "DestinationRule does not select any pods. Which may lead to 503 UH "
        "(NoHealthyUpstream).\n"
    )


def test_gateway_without_connected_gateway_proxy(controlplane: RunningControlPlane) -> None:
    """The live mesh knows its proxies: a Gateway whose selector matches none is IST0101 "selector"."""
    _apply(controlplane, GATEWAY)
    result = CliRunner().invoke(analyze_command, [], env=controlplane.env(), catch_exceptions=False)
    assert result.exit_code == 79
    assert result.stdout == (
        'Error [IST0101] (Gateway default/gw) Referenced selector not found: "istio=ingressgateway"\n'
    )
