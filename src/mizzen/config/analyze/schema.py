"""IST0106 / IST0133: the same schema and semantic checks as ``mizzen validate`` (Istio's webhook checks).

Validation warnings that another analyzer already reports in Istio's words (deprecated fields:
IST0002, port naming: IST0118) are left to that analyzer.
"""

from __future__ import annotations

from collections.abc import Iterable

from mizzen.config.report import Violation
from mizzen.config.validate import validate_resource

from . import messages as m
from .context import Context
from .messages import Message

COVERED_ELSEWHERE = frozenset({"MZ1007", "MZ2802"})


def _detail(v: Violation) -> str:
    # Mizzen's validation messages rely on the field path for context ("must be a list, got string").
    return f"{v.path}: {v.message}" if v.path else v.message


def analyze_schema(ctx: Context) -> None:
    """Validate every resource; errors are IST0106, other warnings IST0133."""
    for res in ctx.resources:
        for v in validate_resource(res):
            if v.level == "error":
                ctx.report_at(m.SCHEMA_VALIDATION_ERROR, res, v.line, _detail(v))
            elif v.code not in COVERED_ELSEWHERE:
                ctx.report_at(m.SCHEMA_WARNING, res, v.line, _detail(v))


def violation_messages(violations: Iterable[Violation]) -> list[Message]:
    """Loader problems that belong to a named resource (e.g. an unknown top-level field) as IST0106/IST0133.

    Violations without a resource reference (unparseable YAML, unreadable files) are not analysis
    messages; callers report those as parse failures.
    """
    out: list[Message] = []
    for v in violations:
        kind, _, ref = v.resource.partition(" ")
        ns, _, name = ref.partition("/")
        if not kind or not name:
            continue
        if v.level == "error":
            mtype = m.SCHEMA_VALIDATION_ERROR
        elif v.code in COVERED_ELSEWHERE:
            continue
        else:
            mtype = m.SCHEMA_WARNING
        out.append(Message(mtype, kind, ns, name, mtype.render(_detail(v)), v.file, v.line))
    return out
