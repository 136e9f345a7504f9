"""YAML in → violations out: every file in ``cases/`` states the violations it must produce.

Header lines ``# expect: <code> <path> <line>`` list them (``-`` for an empty path);
``# expect: nothing`` marks a valid file. The comparison is exact, so a case also fails when
an unexpected extra violation appears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mizzen.config import load_text, validate
from mizzen.config.codes import CODES

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))

Expected = tuple[str, str, int | None]


def _expected(text: str) -> list[Expected]:
    out: list[Expected] = []
    for line in text.splitlines():
        if not line.startswith("# expect:"):
            continue
        words = line.removeprefix("# expect:").split()
        if words == ["nothing"]:
            continue
        code, path, lineno = words[0], " ".join(words[1:-1]), int(words[-1])
        out.append((code, "" if path == "-" else path, lineno))
    return sorted(out)


def _actual(case: Path) -> list[Expected]:
    loaded = load_text(case.read_text(), str(case))
    violations = [*loaded.report, *validate(loaded.resources)]
    return sorted((v.code, v.path, v.line) for v in violations)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_produces_exactly_the_expected_violations(case: Path) -> None:
    """The violations of a case file are exactly those in its ``# expect:`` header."""
    text = case.read_text()
    assert "# expect:" in text, "every case states its expectation"
    assert _actual(case) == _expected(text)


def test_there_are_enough_cases_of_both_kinds() -> None:
    """The case table holds at least 40 cases, including valid ones and rejected ones."""
    valid = [c for c in CASES if "# expect: nothing" in c.read_text()]
    assert len(CASES) >= 40
    assert len(valid) >= 10
    assert len(CASES) - len(valid) >= 30


def test_every_violation_is_located_and_catalogued() -> None:
    """Each reported violation has a catalogued code, the file, a line and a resource or path."""
    for case in CASES:
        loaded = load_text(case.read_text(), str(case))
        for v in [*loaded.report, *validate(loaded.resources)]:
            assert v.code in CODES
            assert v.level == CODES[v.code].level
            assert v.file == str(case)
            assert v.line is not None
