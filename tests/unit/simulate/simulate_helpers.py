"""Helpers for RouteTest tests: write YAML files and run them through the runner (fixture in conftest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mizzen.config.report import Report
from mizzen.simulate import inputs, runner
from mizzen.translate.model import MeshConfig

SERVICES = """apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec: {selector: {app: ratings}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
"""

WORKLOADS = """  workloads:
  - {name: client, labels: {app: client}}
  - {name: reviews-v1, labels: {app: reviews, version: v1}}
  - {name: reviews-v2, labels: {app: reviews, version: v2}}
"""

Run = Callable[..., tuple[runner.TestRun | None, Report]]


def route_test(cases: str, workloads: str = WORKLOADS, name: str = "t") -> str:
    """A RouteTest document with the given (indented) ``cases:`` items."""
    head = f"apiVersion: mizzen.io/v1alpha1\nkind: RouteTest\nmetadata: {{name: {name}}}\n"
    return f"{head}spec:\n{workloads}  cases:\n{cases}"


@pytest.fixture
def run_tests(tmp_path: Path) -> Run:
    """Write config and test texts to files, prepare and run them; (run or None, problems)."""

    def run(config: str, tests: str, mesh: MeshConfig | None = None) -> tuple[runner.TestRun | None, Report]:
        (tmp_path / "config.yaml").write_text(SERVICES + "---\n" + config)
        (tmp_path / "tests.yaml").write_text(tests)
        found = inputs.read_files([str(tmp_path / "config.yaml")], [str(tmp_path / "tests.yaml")])
        if not found.report.ok:
            return None, found.report
        plan, report = runner.prepare(found.config, found.tests, mesh or MeshConfig(), found.workloads)
        return (runner.run(plan) if plan is not None else None), report

    return run
