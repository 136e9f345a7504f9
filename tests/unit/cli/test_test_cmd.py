"""``mizzen test`` on the command line: outputs (text, JSON, JUnit), exit codes and --explain."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mizzen.samples.bookinfo.paths import networking_file, package_dir, platform_file
from mizzen.testing.controlplane import MizzenCli, cli_runner

ROUTETESTS = package_dir() / "routetests"
CONFIG = [
    "-f", str(platform_file()),
    "-f", str(networking_file("destination-rule-all")),
    "-f", str(networking_file("virtual-service-all-v1")),
    "-f", str(networking_file("virtual-service-reviews-test-v2")),
]  # fmt: skip
WORKLOADS = ["-t", str(ROUTETESTS / "workloads.yaml")]
WRONG = """apiVersion: mizzen.io/v1alpha1
kind: RouteTest
metadata: {name: mixed}
spec:
  cases:
  - name: right
    from: {workload: productpage-v1}
    request: {host: reviews, port: 9080, headers: {end-user: jason}}
    expect: {destination: {host: reviews, subset: v2}}
  - name: wrong
    from: {workload: productpage-v1}
    request: {host: reviews, port: 9080}
    expect: {destination: {host: reviews, subset: v2}}
"""


@pytest.fixture
def mizzen() -> MizzenCli:
    """The CLI in-process, with no control plane (``mizzen test`` needs none)."""
    return cli_runner({})


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.yaml"
    path.write_text(WRONG)
    return path


def test_passing_tests_exit_0(mizzen: MizzenCli) -> None:
    """All cases pass: exit 0 and a PASS line per case."""
    r = mizzen(
        "test",
        *CONFIG,
        *WORKLOADS,
        "-t",
        str(ROUTETESTS / "request-routing.yaml"),
        "-f",
        str(networking_file("bookinfo-gateway")),
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.count("PASS") == 6 and "6 passed, 0 failed" in r.stdout


def test_a_failing_case_exits_1_and_explains(mizzen: MizzenCli, mixed: Path) -> None:
    """One failing case: exit 1; the text names the cluster reached and the rule at file:line."""
    r = mizzen("test", *CONFIG, *WORKLOADS, "-t", str(mixed))
    assert r.exit_code == 1
    assert f"FAIL  default/mixed: wrong  ({mixed}:10)" in r.stdout
    assert "destination: expected reviews subset v2, got outbound|9080|v1|reviews.default.svc.cluster.local" in r.stdout
    assert "built from VirtualService default/reviews spec.http[1]" in r.stdout
    assert "1 passed, 1 failed" in r.stdout


def test_junit_output_and_file(mizzen: MizzenCli, mixed: Path, tmp_path: Path) -> None:
    """-o junit prints JUnit XML (a testsuite per RouteTest, a failure per failing case); --junit-file too."""
    out = tmp_path / "report.xml"
    r = mizzen("test", *CONFIG, *WORKLOADS, "-t", str(mixed), "-o", "junit", "--junit-file", str(out))
    assert r.exit_code == 1
    for text in (r.stdout, out.read_text()):
        root = ET.fromstring(text.split("\n", 1)[1])
        [suite] = root.findall("testsuite")
        assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("default/mixed", "2", "1")
        cases = {c.get("name"): c for c in suite.findall("testcase")}
        assert cases["right"].find("failure") is None
        failure = cases["wrong"].find("failure")
        assert failure is not None and "got outbound|9080|v1|" in (failure.get("message") or "")
        assert cases["wrong"].get("line") == "10" and "spec.http[1]" in (failure.text or "")


def test_json_output(mizzen: MizzenCli, mixed: Path) -> None:
    """-o json: one entry per case with its verdict, failures and location."""
    r = mizzen("test", *CONFIG, *WORKLOADS, "-t", str(mixed), "-o", "json")
    body = json.loads(r.stdout)
    assert (body["total"], body["failed"], body["passed"]) == (2, 1, False)
    assert [(c["name"], c["passed"], c["line"]) for c in body["cases"]] == [("right", True, 6), ("wrong", False, 10)]


def test_bad_test_file_exits_3_with_file_line_path(mizzen: MizzenCli, tmp_path: Path) -> None:
    """A bad RouteTest is reported like a bad config file (file:line, code, path) and nothing runs."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(WRONG.replace("port: 9080}\n    expect: {destination", "prot: 9080}\n    expect: {destination"))
    r = mizzen("test", *CONFIG, *WORKLOADS, "-t", str(bad))
    assert r.exit_code == 3 and r.stdout == ""
    assert (
        f'{bad}:12: error MZ1001 RouteTest default/mixed: spec.cases[1].request.prot: unknown field "prot"' in r.stderr
    )


def test_usage_errors_exit_2(mizzen: MizzenCli) -> None:
    """No inputs, or --explain without --request, are usage errors."""
    assert mizzen("test").exit_code == 2
    assert mizzen("test", *CONFIG, "--explain", "--from", "x").exit_code == 2
    assert mizzen("test", *CONFIG, "--explain", "--from", "x", "--request", "reviews").exit_code == 2


def test_explain_prints_the_decision_path(mizzen: MizzenCli) -> None:
    """--explain walks one command-line request and prints listener, vhost, route, rule and result."""
    r = mizzen(
        "test", *CONFIG, *WORKLOADS, "--explain", "--from", "productpage-v1",
        "--request", "GET http://reviews:9080/reviews/1 end-user=jason",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "proxy productpage-v1.default (sidecar)"
    assert "route config http_proxy: Host 'reviews:9080'" in lines
    assert any(line.startswith("built from VirtualService default/reviews spec.http[0].match[0]") for line in lines)
    assert lines[-1] == "result: forwarded to outbound|9080|v2|reviews.default.svc.cluster.local"
