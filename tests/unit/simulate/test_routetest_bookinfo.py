"""The shipped Bookinfo RouteTests pass on the shipped Bookinfo config, step by step of Istio's tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mizzen.samples.bookinfo.paths import networking_file, package_dir, platform_file
from mizzen.simulate import inputs, runner
from mizzen.translate.model import MeshConfig

ROUTETESTS = package_dir() / "routetests"
BASE = ("bookinfo-gateway", "destination-rule-all", "virtual-service-all-v1")
# Each walkthrough step: its test file and the networking files applied (in order) at that step.
STEPS = {
    "request-routing.yaml": (*BASE, "virtual-service-reviews-test-v2"),
    "traffic-shifting-50-v3.yaml": (*BASE, "virtual-service-reviews-50-v3"),
    "traffic-shifting-v3.yaml": (*BASE, "virtual-service-reviews-v3"),
    "fault-injection-delay.yaml": (*BASE, "virtual-service-reviews-test-v2", "virtual-service-ratings-test-delay"),
    "fault-injection-abort.yaml": (*BASE, "virtual-service-reviews-test-v2", "virtual-service-ratings-test-abort"),
}


def run_step(test_file: Path, networking: tuple[str, ...]) -> runner.TestRun:
    """Run ``test_file`` (plus the shared workloads) against the platform and ``networking`` files."""
    config = [str(platform_file()), *(str(networking_file(n)) for n in networking)]
    found = inputs.read_files(config, [str(ROUTETESTS / "workloads.yaml"), str(test_file)])
    assert found.report.ok, [str(v) for v in found.report.errors]
    plan, report = runner.prepare(found.config, found.tests, MeshConfig())
    assert plan is not None, [str(v) for v in report.errors]
    return runner.run(plan)


def test_every_routetest_file_is_a_step() -> None:
    """Each shipped RouteTest file (but the shared workloads) is exercised below."""
    assert sorted(p.name for p in ROUTETESTS.glob("*.yaml")) == sorted([*STEPS, "workloads.yaml"])


@pytest.mark.parametrize("name", sorted(STEPS))
def test_walkthrough_step_passes(name: str) -> None:
    """Every case of the step passes on the shipped config."""
    run = run_step(ROUTETESTS / name, STEPS[name])
    assert run.cases and run.passed, [(c.name, c.failures) for c in run.cases if not c.passed]


def test_a_wrong_expectation_on_bookinfo_fails_precisely(tmp_path: Path) -> None:
    """Expecting jason on v3 under the test-v2 rule fails, naming v2, the rule and its file:line."""
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "apiVersion: mizzen.io/v1alpha1\nkind: RouteTest\nmetadata: {name: wrong}\nspec:\n  cases:\n"
        "  - name: jason on v3\n    from: {workload: productpage-v1}\n"
        "    request: {host: reviews, port: 9080, headers: {end-user: jason}}\n"
        "    expect: {destination: {host: reviews, subset: v3}}\n"
    )
    run = run_step(wrong, STEPS["request-routing.yaml"])
    [case] = run.cases
    assert not case.passed and case.where == f"{wrong}:6"
    assert case.failures == (
        "destination: expected reviews subset v3, got outbound|9080|v2|reviews.default.svc.cluster.local",
    )
    rule = f"{networking_file('virtual-service-reviews-test-v2')}:"
    assert any(
        line.startswith("built from VirtualService default/reviews spec.http[0].match[0]") and rule in line
        for line in case.explanation
    )


def test_readme_example_passes(tmp_path: Path) -> None:
    """The RouteTest shown in README's "Testing your routing in CI" passes on the request-routing step."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Testing your routing in CI", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "readme.yaml"
    path.write_text(example)
    config = [str(platform_file()), *(str(networking_file(n)) for n in STEPS["request-routing.yaml"])]
    found = inputs.read_files(config, [str(path)])
    plan, report = runner.prepare(found.config, found.tests, MeshConfig())
    assert plan is not None, [str(v) for v in report.errors]
    run = runner.run(plan)
    assert [c.name for c in run.cases] == ["jason sees v2", "everyone else"] and run.passed
