"""The suite's rule that a test starting Envoy is e2e: checked at run time, on an inner pytest run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[2] / "conftest.py"
TESTS = """
import subprocess

import pytest

from mizzen.agent.envoy import find_envoy


def test_unmarked_starts_envoy():
    subprocess.run([str(find_envoy()), "-c", "bootstrap.json"], check=True)


@pytest.mark.e2e
def test_marked_starts_envoy():
    subprocess.run([str(find_envoy()), "-c", "bootstrap.json"], check=True)


def test_asks_only_for_the_version():
    subprocess.run([str(find_envoy()), "--version"], check=True)
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    """A pytest project with the suite's conftest, whose "Envoy" is a stand-in that exits at once."""
    fake = tmp_path / "fake-envoy"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("MIZZEN_ENVOY", str(fake))  # the inner run's shim wraps this, not a real Envoy
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    e2e: e2e\n    istio_samples: samples\n")
    pytester.makepyfile(test_starts=TESTS)
    return pytester


def test_an_unmarked_test_that_starts_envoy_fails_and_says_why(inner: pytest.Pytester) -> None:
    """Only the unmarked test that really starts Envoy fails, with a message naming the rule and the fix."""
    result = inner.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_unmarked_starts_envoy started Envoy (-c bootstrap.json) but is not marked e2e*pytestmark*"]
    )


def test_tests_under_e2e_are_marked_without_saying_so(pytester: pytest.Pytester) -> None:
    """A test in tests/e2e carries the e2e marker, so `-m "not e2e"` deselects it."""
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    e2e: e2e\n    istio_samples: samples\n")
    (pytester.mkdir("e2e") / "test_anything.py").write_text("def test_here():\n    pass\n")
    pytester.makepyfile(test_elsewhere="def test_there():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not e2e")
    result.assert_outcomes(passed=1, deselected=1)
