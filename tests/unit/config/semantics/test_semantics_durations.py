"""Duration rules: Istio's syntax to seconds, Istio's complaints, protobuf JSON and whole seconds."""

from __future__ import annotations

import pytest

from mizzen.config.semantics.durations import problem, protobuf_json, seconds, whole_seconds


@pytest.mark.parametrize(
    ("text", "secs", "json", "whole", "complaint"),
    [
        ("1s", 1.0, "1s", 1, None),
        ("0.5s", 0.5, "0.5s", 0, None),
        ("1m30s", 90.0, "90s", 90, None),
        ("1h", 3600.0, "3600s", 3600, None),
        ("250ms", 0.25, "0.25s", 0, None),
        (" 1.5s ", 1.5, "1.5s", 1, None),
        ("+2s", 2.0, "2s", 2, None),
        ("0", 0.0, "0s", 0, "duration must be greater than 1ms"),
        ("-1s", -1.0, None, None, "duration must be greater than 1ms"),
        ("500us", 0.0005, "0.0005s", 0, "duration must be greater than 1ms"),
        ("1.0005s", 1.0005, "1.0005s", 1, "only durations to ms precision are supported"),
        ("0.5ms", 0.0005, "0.0005s", 0, "duration must be greater than 1ms"),
        ("5", None, None, None, 'invalid duration "5" (use e.g. 500ms, 1.5s, 2m, 1h)'),
        ("five seconds", None, None, None, 'invalid duration "five seconds" (use e.g. 500ms, 1.5s, 2m, 1h)'),
        ("1x", None, None, None, 'invalid duration "1x" (use e.g. 500ms, 1.5s, 2m, 1h)'),
        ("s", None, None, None, 'invalid duration "s" (use e.g. 500ms, 1.5s, 2m, 1h)'),
        ("", None, None, None, 'invalid duration "" (use e.g. 500ms, 1.5s, 2m, 1h)'),
    ],
)
def test_durations(text: str, secs: float | None, json: str | None, whole: int | None, complaint: str | None) -> None:
    """One parser: seconds, protobuf JSON (non-negative only), whole seconds and validation agree."""
    parsed = seconds(text)
    assert parsed is None if secs is None else parsed == pytest.approx(secs)
    assert protobuf_json(text) == json
    assert whole_seconds(text) == whole
    assert problem(text) == complaint


def test_zero_ok() -> None:
    """Where zero is meaningful (cookie TTL, idle timeouts) ``0s`` is accepted; sub-ms values still are not."""
    assert problem("0s", zero_ok=True) is None
    assert problem("0.0001s", zero_ok=True) == "duration must be greater than 1ms"
