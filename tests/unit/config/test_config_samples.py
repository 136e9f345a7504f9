"""Istio's own sample YAML must load and validate without a single error, and with no warning except
those Istio's own validation gives the same file.

Checked twice: Istio's reference copy (``istio_samples`` tests: skipped with a reason when absent, an
error with ``CI=true``) and the copy packaged in ``mizzen.samples``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mizzen.samples
from mizzen.config import format_report, load_paths, validate
from mizzen.testing.samples import istio_sample_files, istio_samples_dir

SAMPLES = istio_samples_dir()
FILES = istio_sample_files()
# Config only: the RouteTests in routetests/ are `mizzen test` files, checked by tests/unit/simulate.
PACKAGED = sorted(
    p for p in (Path(mizzen.samples.__file__).parent / "bookinfo").glob("*/*.yaml") if p.parent.name != "routetests"
)
shared_only = pytest.mark.istio_samples
# One placeholder case when the folder is missing, so the skip says why instead of "empty parameter set".
FILE_PARAMS = [pytest.param(p, id=p.name) for p in FILES] or [pytest.param(None, id="istio-samples")]
# Istio warns on this sample too: its second rule follows a rule without matches, so it is never used.
ISTIO_WARNS = {"fault-injection-details-v1.yaml": [("MZ2118", "spec.http[1]")]}


def _warnings(path: Path) -> list[tuple[str, str]]:
    return ISTIO_WARNS.get(path.name, [])


@pytest.mark.parametrize("path", PACKAGED, ids=[p.name for p in PACKAGED])
def test_packaged_sample_is_valid(path: Path) -> None:
    """Each Bookinfo YAML shipped with Mizzen loads and validates with no violations beyond Istio's own warnings."""
    result = load_paths([str(path)])
    report = validate(result.resources)
    assert result.resources
    assert not result.report.violations, format_report(result.report)
    assert [(v.code, v.path) for v in report] == _warnings(path), format_report(report)


def test_packaged_samples_include_platform_and_networking() -> None:
    """The packaged copy holds bookinfo.yaml, the 21 networking files and the 6 Gateway API files."""
    assert len(PACKAGED) == 28


@shared_only
@pytest.mark.parametrize("path", FILE_PARAMS)
def test_sample_is_valid(path: Path) -> None:
    """Each sample file loads without parse problems and validates with no violations beyond Istio's warnings."""
    result = load_paths([str(path)])
    assert result.resources
    report = validate(result.resources)
    assert not result.report.violations, format_report(result.report)
    assert [(v.code, v.path) for v in report] == _warnings(path), format_report(report)


@shared_only
def test_there_are_22_samples() -> None:
    """All 22 sample files are exercised."""
    assert len(FILES) == 22


@shared_only
def test_bookinfo_deployments_are_skipped_with_lines() -> None:
    """bookinfo.yaml's Deployments are reported as skipped, each with the line of its document."""
    path = SAMPLES / "bookinfo.yaml"
    result = load_paths([str(path)])
    text = path.read_text().splitlines()
    names = [s.name for s in result.skipped]
    assert names == ["details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"]
    for s in result.skipped:
        assert s.kind == "Deployment" and s.api_version == "apps/v1"
        assert s.line is not None and text[s.line - 1] == "apiVersion: apps/v1"
    assert {r.kind for r in result.resources} == {"Service", "ServiceAccount"}


@shared_only
def test_folder_of_samples_loads_in_name_order() -> None:
    """Loading the samples folder reads files sorted by name."""
    result = load_paths([str(SAMPLES)])
    files = [r.origin.file for r in result.resources]
    assert files == sorted(files)
