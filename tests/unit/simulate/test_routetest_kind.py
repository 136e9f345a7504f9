"""RouteTest is Mizzen's own kind: read by `mizzen test`, skipped by everything that configures the mesh."""

from __future__ import annotations

from mizzen.config.kinds import KINDS, ROUTE_TEST, TOOL_KINDS, by_kind
from mizzen.config.loader import load_text

DOC = "apiVersion: mizzen.io/v1alpha1\nkind: RouteTest\nmetadata: {name: t}\nspec: {cases: []}\n"


def test_route_test_is_a_tool_kind_not_a_stored_kind() -> None:
    """The kind table lists RouteTest under mizzen.io as a tool kind; the store and API never see it."""
    assert ROUTE_TEST in TOOL_KINDS and ROUTE_TEST not in KINDS and by_kind("RouteTest") is None
    assert ROUTE_TEST.api_versions == ("mizzen.io/v1alpha1",)


def test_loader_reads_route_tests_only_when_asked() -> None:
    """Without extra_kinds a RouteTest is skipped with its line (as `apply` reports it); with it, a resource."""
    plain = load_text("---\n" + DOC, "t.yaml")
    assert not plain.resources and [(s.kind, s.line) for s in plain.skipped] == [("RouteTest", 2)]
    read = load_text(DOC, "t.yaml", extra_kinds=TOOL_KINDS)
    [r] = read.resources
    assert (r.kind, r.name, r.origin.line_of("spec.cases")) == ("RouteTest", "t", 4) and read.report.ok


def test_wrong_route_test_version_is_an_error() -> None:
    """An apiVersion the kind does not serve is reported, like any kind's."""
    read = load_text(DOC.replace("v1alpha1", "v1"), "t.yaml", extra_kinds=TOOL_KINDS)
    assert [v.code for v in read.report.errors] == ["MZ0005"]
