"""Sidecar analyzers: namespace-wide duplicates, overlapping selectors, selectors matching nothing."""

from __future__ import annotations

from mizzen.config.analyze import analyze

from .helpers import codes, resources


def sidecar(name: str, selector: str = "", namespace: str = "default") -> str:
    sel = f"  workloadSelector:\n    labels:\n      {selector}\n" if selector else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: {name}
  namespace: {namespace}
spec:
{sel}  egress:
  - hosts: ["./*"]
---"""


ENTRY = """
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: reviews-v1
spec:
  address: 127.0.0.1
  labels:
    app: reviews
---"""


def test_two_sidecars_without_selector_in_one_namespace() -> None:
    """IST0111 on each selector-less Sidecar when a namespace has more than one."""
    msgs = analyze(resources(sidecar("a") + sidecar("b")))
    assert codes(msgs) == ["IST0111", "IST0111"]
    assert msgs[0].text == (
        'The Sidecars [a b] in namespace "default" have no workload selector, which can lead to undefined behavior.'
    )


def test_selectorless_sidecars_in_different_namespaces_are_fine() -> None:
    """One namespace-wide Sidecar per namespace is allowed."""
    assert analyze(resources(sidecar("a") + sidecar("b", namespace="other"))) == []


def test_sidecars_selecting_the_same_workload_conflict() -> None:
    """IST0110 on each Sidecar whose selector matches the same WorkloadEntry."""
    msgs = analyze(resources(ENTRY + sidecar("a", "app: reviews") + sidecar("b", "app: reviews")))
    assert codes(msgs) == ["IST0110", "IST0110"]
    assert msgs[0].text == (
        'The Sidecars [a b] in namespace "default" select the same workload pod "reviews-v1", '
        "which can lead to undefined behavior."
    )


def test_sidecar_selector_matching_no_workload() -> None:
    """IST0101 "selector" when workloads are known and none in the namespace matches."""
    msgs = analyze(resources(ENTRY + sidecar("a", "app: ratings")))
    assert [m.text for m in msgs] == ['Referenced selector not found: "app=ratings"']


def test_sidecar_selectors_without_any_pod_select_nothing() -> None:
    """As istioctl: from files without Pods or WorkloadEntries, every selector selects nothing (IST0101)."""
    msgs = analyze(resources(sidecar("a", "app: ratings") + sidecar("b", "app: ratings")), files_only=True)
    assert [(m.code, m.name) for m in msgs] == [("IST0101", "a"), ("IST0101", "b")]
