"""Label-selector rules per kind: absent and empty selectors differ by kind, as in Istio and Kubernetes."""

from __future__ import annotations

import pytest

from mizzen.config.semantics.selectors import (
    DESTINATION_RULE,
    GATEWAY,
    POLICY,
    SERVICE,
    SERVICE_ENTRY,
    SIDECAR,
    SOURCE_LABELS,
    SUBSET,
    SelectorRule,
    selects,
    subset_of,
    workload_specific,
)

LABELS = {"app": "reviews", "version": "v1"}
MATCHING = {"app": "reviews"}
OTHER = {"app": "ratings"}


@pytest.mark.parametrize(
    ("rule", "absent", "empty", "empty_specific"),
    [
        (SERVICE, False, False, False),
        (SERVICE_ENTRY, False, True, False),
        (GATEWAY, True, True, False),
        (SIDECAR, True, True, True),
        (DESTINATION_RULE, True, True, True),
        (POLICY, True, True, False),
        (SOURCE_LABELS, True, True, False),
        (SUBSET, True, True, False),
    ],
    ids=lambda r: r.kind if isinstance(r, SelectorRule) else None,
)
def test_selector_rules(rule: SelectorRule, absent: bool, empty: bool, empty_specific: bool) -> None:
    """Per kind: what an absent and an empty selector select, and whether an empty one ranks as specific;
    a non-empty selector always selects by subset and is always workload-specific."""
    assert selects(rule, None, LABELS) is absent
    assert selects(rule, {}, LABELS) is empty
    assert selects(rule, MATCHING, LABELS) is True
    assert selects(rule, OTHER, LABELS) is False
    assert workload_specific(rule, None) is False
    assert workload_specific(rule, {}) is empty_specific
    assert workload_specific(rule, MATCHING) is True


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({}, LABELS, True),
        ({"app": "reviews"}, LABELS, True),
        ({"app": "reviews", "version": "v1"}, LABELS, True),
        ({"app": "reviews", "version": "v2"}, LABELS, False),
        ({"zone": "a"}, LABELS, False),
        ({"app": ""}, {}, False),
        ({"app": ""}, {"app": ""}, True),
    ],
)
def test_subset_of(selector: dict[str, str], labels: dict[str, str], expected: bool) -> None:
    """Every selector label must be present with the same value (a missing key never equals "")."""
    assert subset_of(selector, labels) is expected
