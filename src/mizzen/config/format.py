"""Render a :class:`Report` for people: one line per violation, ``file:line: level CODE resource: path: msg``."""

from __future__ import annotations

from mizzen.config.report import Report, Violation


def format_violation(v: Violation) -> str:
    """One line for one violation.

    e.g. ``bad.yaml:14: error MZ2101 VirtualService default/reviews: spec.http[0].route[1].weight: weight -1 < 0``
    """
    return str(v)


def format_report(report: Report) -> str:
    """Every violation of ``report`` on its own line, in the order found (empty string when clean)."""
    return "\n".join(format_violation(v) for v in report.violations)
