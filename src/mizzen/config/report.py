"""Problems found in configuration: every one reported at once, with file:line, field path and code.

A :class:`Violation` is one problem; a :class:`Report` collects them, keeping errors and warnings
apart. Validation never stops at the first problem. Codes are stable (``MZ1xxx`` schema,
``MZ2xxx`` semantic rules); :mod:`mizzen.config.codes` is the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Violation:
    """One problem in one document."""

    code: str  # stable, e.g. "MZ1001"
    message: str  # human text, e.g. "unknown field \"weigth\"; did you mean \"weight\"?"
    path: str = ""  # field path, e.g. "spec.http[0].route[1].weight"
    level: Level = "error"
    file: str = ""
    line: int | None = None
    resource: str = ""  # "VirtualService default/reviews"

    def location(self) -> str:
        """``file:line``, just the file when the line is unknown, or ``""`` for input not read from a file."""
        if self.file and self.line is not None:
            return f"{self.file}:{self.line}"
        return self.file

    def __str__(self) -> str:
        where = self.location()
        head = f"{where}: " if where else ""
        res = f"{self.resource}: " if self.resource else ""
        path = f"{self.path}: " if self.path else ""
        return f"{head}{self.level} {self.code} {res}{path}{self.message}"

    def to_json(self) -> dict[str, object]:
        """The violation as the API and ``--output json`` report it (every field, ``line`` null when unknown)."""
        return {
            "code": self.code,
            "level": self.level,
            "message": self.message,
            "path": self.path,
            "file": self.file,
            "line": self.line,
            "resource": self.resource,
        }


@dataclass
class Report:
    """All violations found in one validation run."""

    violations: list[Violation] = field(default_factory=list)

    def add(self, violation: Violation) -> None:
        """Record one more violation (validation goes on: every problem is reported at once)."""
        self.violations.append(violation)

    def extend(self, violations: Iterable[Violation]) -> None:
        """Record several violations, in order."""
        self.violations.extend(violations)

    @property
    def errors(self) -> list[Violation]:
        """The violations that block an apply."""
        return [v for v in self.violations if v.level == "error"]

    @property
    def warnings(self) -> list[Violation]:
        """The violations reported without blocking."""
        return [v for v in self.violations if v.level == "warning"]

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings do not block)."""
        return not self.errors

    def __iter__(self) -> Iterator[Violation]:
        return iter(self.violations)

    def to_json(self) -> list[dict[str, object]]:
        """Every violation in its JSON form, in the order found."""
        return [v.to_json() for v in self.violations]
