"""The diagnostic catalogue: codes are unique, well-formed, and each one is emitted somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import mizzen.config
import mizzen.simulate
from mizzen.config.codes import _CATALOGUE, CODES, violation

SRC = Path(mizzen.config.__file__).parent
SIMULATE = Path(mizzen.simulate.__file__).parent  # RouteTest problems (MZ29xx) are reported there
CODE_RE = re.compile(r"\"(MZ\d{4})\"")


def _used_codes() -> set[str]:
    used: set[str] = set()
    for path in [*SRC.rglob("*.py"), *SIMULATE.rglob("*.py")]:
        if path.name == "codes.py" or "analyze" in path.parts:
            continue
        used.update(CODE_RE.findall(path.read_text()))
    return used


def test_codes_are_unique_and_well_formed() -> None:
    """Every code is MZ + four digits, appears once, and has a name and description."""
    assert len(CODES) == len(_CATALOGUE)
    for c in _CATALOGUE:
        assert re.fullmatch(r"MZ\d{4}", c.code) and c.name and c.description.endswith(".")


def test_every_catalogued_code_is_emitted_and_every_emitted_code_is_catalogued() -> None:
    """The catalogue and the code that reports violations agree exactly."""
    assert _used_codes() == set(CODES)


def test_violation_takes_the_catalogue_level() -> None:
    """Deprecations are warnings by default; a level can be overridden per call."""
    assert violation("MZ1007", "x").level == "warning"
    assert violation("MZ2101", "x").level == "error"
    assert violation("MZ2305", "x", level="warning").level == "warning"
