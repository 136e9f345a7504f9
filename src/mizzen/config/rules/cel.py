"""cel-python's adapter: whether a text parses as a CEL expression (Istio checks Telemetry log filters so).

Only the parser is used, imported on first use (it builds a grammar, ~0.5 s), since few documents have
a filter.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _parser() -> Any:
    from celpy import celparser  # costly: built on first use

    return celparser.CELParser()


def parse_error(expression: str) -> str | None:
    """The parse error of ``expression`` (first line), or ``None`` when it is valid CEL syntax."""
    from celpy.celparser import CELParseError

    try:
        _parser().parse(expression)
    except CELParseError as exc:
        return f"syntax error: {str(exc).splitlines()[0].strip() or 'unexpected input'}"
    return None
