"""Validate resources: schema checks, Istio's semantic rules per kind, and batch-wide checks.

Every problem is reported (never stop at the first), each located at ``file:line`` through the
resource's :class:`Origin`, with its field path, stable code and ``Kind namespace/name``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.loader import BODY_FIELDS
from mizzen.config.models import SPEC_MODELS
from mizzen.config.report import Report, Violation
from mizzen.config.resource import Resource
from mizzen.config.rules import RULES
from mizzen.config.schema import check

Rule = Callable[[Resource, str], list[Violation]]


def spec_root(kind: str) -> str:
    """The field path under which a kind's spec fields live (``spec``; top level for Secret etc.)."""
    return "" if kind in BODY_FIELDS else "spec"


def validate(resources: Sequence[Resource]) -> Report:
    """Every violation in ``resources``: per-resource schema and rules, plus duplicates in the batch."""
    report = Report()
    seen: dict[tuple[str, str, str], Resource] = {}
    for res in resources:
        report.extend(validate_resource(res))
        first = seen.setdefault(res.key, res)
        if first is not res:
            where = first.origin.where()
            found = [
                violation(
                    "MZ2002",
                    f"{res.ref()} is defined more than once in this batch"
                    + (f" (first at {where})" if where else "")
                    + "; this later definition is applied",
                    "metadata.name",
                )
            ]
            report.extend(locate(res, found))
    return report


def validate_resource(res: Resource) -> list[Violation]:
    """Every violation of one resource, located."""
    found: list[Violation] = []
    found.extend(names.check_metadata(res))
    model = SPEC_MODELS.get(res.kind)
    root = spec_root(res.kind)
    if model is not None:
        found.extend(check(model, res.spec, root, empty_message_is_set=True))
    rule = RULES.get(res.kind)
    if rule is not None:
        found.extend(rule(res, root))
    # Reading order: by line, schema problems before rule problems on the same line (sort is stable).
    return sorted(locate(res, found), key=lambda v: v.line or 0)


def locate(res: Resource, found: Sequence[Violation]) -> list[Violation]:
    """Fill in file, line and resource reference from ``res``."""
    return [
        Violation(
            code=v.code,
            message=v.message,
            path=v.path,
            level=v.level,
            file=v.file or res.origin.file,
            line=v.line if v.line is not None else res.origin.line_of(v.path),
            resource=v.resource or res.ref(),
        )
        for v in found
    ]
