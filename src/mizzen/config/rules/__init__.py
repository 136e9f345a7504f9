"""Istio's semantic validation rules, one module per kind; ``RULES`` maps a kind to its checker.

A checker takes the resource and the path its spec lives under and returns unlocated violations
(``validate.locate`` adds file, line and resource).
"""

from __future__ import annotations

from collections.abc import Callable

from mizzen.config.report import Violation
from mizzen.config.resource import Resource

Checker = Callable[[Resource, str], list[Violation]]

RULES: dict[str, Checker] = {}
