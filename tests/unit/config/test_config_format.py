"""format_report: one line per violation in the documented shape."""

from __future__ import annotations

from mizzen.config import Report, Violation, format_report, load_text, validate


def test_line_shape() -> None:
    """A violation prints as ``file:line: level CODE Kind ns/name: path: message``."""
    report = Report(
        [
            Violation(
                "MZ2101",
                "weight -1 < 0",
                "spec.http[0].route[1].weight",
                "error",
                "bad.yaml",
                14,
                "VirtualService default/reviews",
            )
        ]
    )
    assert format_report(report) == (
        "bad.yaml:14: error MZ2101 VirtualService default/reviews: spec.http[0].route[1].weight: weight -1 < 0"
    )


def test_one_line_per_violation_end_to_end() -> None:
    """Validating a bad document yields one formatted line per violation, warnings marked as such."""
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: r\nspec:\n"
        "  host: r\n  trafficPolicy:\n    outlierDetection:\n      consecutiveErrors: 5\n"
        "  subsets:\n  - name: v1\n  - name: v1\n"
    )
    out = format_report(validate(load_text(text, "dr.yaml").resources)).splitlines()
    assert out == [
        "dr.yaml:9: warning MZ1007 DestinationRule default/r: spec.trafficPolicy.outlierDetection."
        "consecutiveErrors: outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or "
        "consecutive5xxErrors instead",
        "dr.yaml:12: error MZ2201 DestinationRule default/r: spec.subsets[1].name: duplicate subset names: v1",
    ]


def test_empty_report_formats_to_nothing() -> None:
    """A clean report formats to the empty string."""
    assert format_report(Report()) == ""
