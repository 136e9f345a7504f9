"""Mizzen configuration: load Istio/Kubernetes YAML, type it, validate it, report every problem.

Public API::

    result = load_paths(["bookinfo.yaml", "networking/"], recursive=True)   # or load_text(text, "x.yaml")
    report = validate(result.resources)
    print(format_report(result.report), format_report(report))
"""

from mizzen.config.format import format_report
from mizzen.config.kinds import KINDS, resolve
from mizzen.config.loader import LoadResult, Skipped, load_paths, load_text
from mizzen.config.models import parse_spec, spec_as
from mizzen.config.report import Report, Violation
from mizzen.config.resource import Metadata, Origin, Resource
from mizzen.config.validate import validate

__all__ = [
    "KINDS",
    "LoadResult",
    "Metadata",
    "Origin",
    "Report",
    "Resource",
    "Skipped",
    "Violation",
    "format_report",
    "load_paths",
    "load_text",
    "parse_spec",
    "resolve",
    "spec_as",
    "validate",
]
