"""Mizzen's verdicts on the conformance cases: Istio's, except where a documented difference says otherwise."""

from __future__ import annotations

import pytest

from .cases import Case, analyzer_cases, analyzer_verdict, validation_cases, validation_verdict

VALIDATION = validation_cases()
ANALYZERS = analyzer_cases()


@pytest.mark.parametrize("case", VALIDATION, ids=[f"{c.area}:{c.name}" for c in VALIDATION])
def test_validation_verdict(case: Case) -> None:
    """Validating the case gives Istio's verdict (or the documented Mizzen one)."""
    assert validation_verdict(case) == case.mizzen, case.text


@pytest.mark.parametrize("case", ANALYZERS, ids=[f"{c.area}:{c.name}" for c in ANALYZERS])
def test_analyzer_messages(case: Case) -> None:
    """Analyzing the case reports exactly Istio's messages (or the documented Mizzen ones)."""
    assert analyzer_verdict(case) == case.mizzen


def test_every_case_is_well_formed() -> None:
    """Each case names itself and a verdict; every documented difference points at the differences page."""
    for case in [*VALIDATION, *ANALYZERS]:
        assert case.name, case.file
        assert case.istio in ("valid", "warning", "invalid") or isinstance(case.istio, frozenset), case.name
        assert case.agrees or case.why.startswith("docs/istio-differences.md#"), case.name
