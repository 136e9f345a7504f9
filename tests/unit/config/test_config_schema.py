"""The schema engine: names, durations, type checks, one-of groups and lenient model building."""

from __future__ import annotations

import pytest

from mizzen.config import load_text, parse_spec
from mizzen.config.models import SPEC_MODELS
from mizzen.config.models.destination_rule import DestinationRule, OutlierDetection
from mizzen.config.models.virtual_service import HTTPRoute, VirtualService
from mizzen.config.schema import build, camel, check, duration_nanos, duration_problem, json_names


def test_camel_case_names() -> None:
    """snake_case attributes map to Istio's camelCase JSON names."""
    assert camel("http1_max_pending_requests") == "http1MaxPendingRequests"
    assert camel("consecutive_5xx_errors") == "consecutive5xxErrors"
    assert camel("from_") == "from"
    assert "consecutive5xxErrors" in json_names(OutlierDetection)
    assert "mirrorPercentage" in json_names(HTTPRoute)


def test_check_reports_unknown_wrong_type_required_and_oneof_together() -> None:
    """One pass reports every schema problem with its path."""
    raw = {
        "host": 5,
        "subsets": [{"labels": {"a": "b"}}],
        "trafficPolicy": {"loadBalancer": {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}}},
        "exportTo": ["."],
        "hots": 1,
    }
    found = {(v.code, v.path) for v in check(DestinationRule, raw, "spec")}
    assert found == {
        ("MZ1002", "spec.host"),
        ("MZ1003", "spec.subsets[0].name"),
        ("MZ1005", "spec.trafficPolicy.loadBalancer"),
        ("MZ1001", "spec.hots"),
    }


def test_did_you_mean() -> None:
    """An unknown field close to a known one gets a suggestion."""
    [v] = check(VirtualService, {"hosts": ["a"], "htpp": []}, "spec")
    assert v.message == 'unknown field "htpp"; did you mean "http"?'


def test_proto_names_are_accepted() -> None:
    """Like protobuf's JSON decoder, snake_case field names are accepted and parsed."""
    raw = {"host": "r", "traffic_policy": {"outlier_detection": {"consecutive_5xx_errors": 3}}}
    assert check(DestinationRule, raw, "spec") == []
    model = build(DestinationRule, raw)
    assert model.traffic_policy.outlier_detection.consecutive_5xx_errors == 3


def test_build_is_lenient() -> None:
    """Mistyped fields fall back to defaults; the rest of the model is still built."""
    model = build(
        VirtualService,
        {"hosts": "reviews", "http": [{"timeout": 5, "route": [{"destination": {"host": "reviews"}, "weight": "x"}]}]},
    )
    assert model.hosts == ()
    assert model.http[0].timeout is None
    assert model.http[0].route[0].destination.host == "reviews"
    assert model.http[0].route[0].weight is None


def test_parse_spec_returns_typed_models() -> None:
    """parse_spec gives frozen typed models with snake_case fields."""
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: r\nspec:\n"
        "  host: reviews\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n"
    )
    dr = parse_spec(load_text(text).resources[0])
    assert isinstance(dr, DestinationRule)
    assert dr.subsets[0].labels == {"version": "v1"}
    with pytest.raises(AttributeError):
        dr.host = "x"  # type: ignore[misc]


def test_every_kind_has_a_model() -> None:
    """Every kind in the kind table has a spec model."""
    from mizzen.config import KINDS

    assert {k.kind for k in KINDS} == set(SPEC_MODELS)


def test_spec_as_is_typed_and_checks_the_kind() -> None:
    """spec_as returns the named model and refuses a model of another kind."""
    from mizzen.config.models import UnknownModelError, spec_as

    res = load_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: r\nspec:\n  host: reviews\n"
    ).resources[0]
    assert spec_as(res, DestinationRule).host == "reviews"
    with pytest.raises(UnknownModelError):
        spec_as(res, VirtualService)


def test_frozen_specs_with_tuples_validate_like_lists() -> None:
    """A spec whose lists are tuples (e.g. frozen by a store) checks and builds the same."""
    raw = {"hosts": ("reviews",), "http": ({"route": ({"destination": {"host": "reviews"}},)},)}
    assert check(VirtualService, raw, "spec") == []
    assert build(VirtualService, raw).http[0].route[0].destination.host == "reviews"


@pytest.mark.parametrize(
    ("text", "nanos", "problem"),
    [
        ("1.5s", 1_500_000_000, None),
        ("1h2m3.004s", 3_723_004_000_000, None),
        (".5ms", 500_000, "duration must be greater than 1ms"),
        ("1.0000001s", 1_000_000_100, "only durations to ms precision are supported"),
        ("2562048h", None, 'invalid duration "2562048h" (use e.g. 500ms, 1.5s, 2m, 1h)'),
        (" 1s", None, 'invalid duration " 1s" (use e.g. 500ms, 1.5s, 2m, 1h)'),
        ("1.s", 1_000_000_000, None),
        (".s", None, 'invalid duration ".s" (use e.g. 500ms, 1.5s, 2m, 1h)'),
    ],
)
def test_durations_are_validated_as_go_parses_them(text: str, nanos: int | None, problem: str | None) -> None:
    """Validation reads a duration exactly as Go's ParseDuration does (exact ns, int64 range, no spaces)."""
    assert duration_nanos(text) == nanos
    assert duration_problem(text) == problem
