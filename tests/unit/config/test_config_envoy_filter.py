"""EnvoyFilter is validated with Istio's rules (webhook and CRD) when loaded, located, and never quietly skipped."""

from __future__ import annotations

from mizzen.config import load_text
from mizzen.config.report import Violation

HEAD = "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: ef, namespace: shop}\n"
EXPOSES = "EnvoyFilter exposes internal implementation details"


def _found(spec: str) -> list[Violation]:
    loaded = load_text(HEAD + spec, "ef.yaml")
    assert [s.kind for s in loaded.skipped] == ["EnvoyFilter"]  # validated, still not stored or applied
    return list(loaded.report.violations)


def _codes(found: list[Violation]) -> list[tuple[str, str, int | None, str]]:
    return [(v.code, v.level, v.line, v.path) for v in found]


def test_a_valid_envoy_filter_warns_that_it_is_not_applied() -> None:
    """Istio's standing warning plus Mizzen's MZ2805 at the document's first line: accepted, but not silent."""
    found = _found(
        "spec:\n"
        "  configPatches:\n"
        "  - applyTo: CLUSTER\n"
        "    patch: {operation: ADD, value: {name: extra, connect_timeout: 500ms}}\n"
    )
    assert _codes(found) == [("MZ2805", "warning", 1, ""), ("MZ2021", "warning", 4, "spec")]
    assert "Mizzen does not patch Envoy configuration" in found[0].message
    assert EXPOSES in found[1].message
    assert all(v.resource == "EnvoyFilter shop/ef" and v.file == "ef.yaml" for v in found)


def test_an_invalid_envoy_filter_is_an_error_with_its_line_and_field() -> None:
    """A value field of the wrong type is MZ3004 at that field's line; no "not applied" note for a rejected one."""
    found = _found(
        "spec:\n"
        "  configPatches:\n"
        "  - applyTo: CLUSTER\n"
        "    patch:\n"
        "      operation: ADD\n"
        "      value:\n"
        "        name: false\n"
    )
    errors = [v for v in found if v.level == "error"]
    assert _codes(errors) == [("MZ3004", "error", 10, "spec.configPatches[0].patch.value.name")]
    assert "MZ2805" not in {v.code for v in found}


def test_each_patch_stops_at_its_first_fatal_problem() -> None:
    """Missing applyTo, patch, operation and value are each reported once, for their own patch, in order."""
    found = _found(
        "spec:\n"
        "  configPatches:\n"
        "  - patch: {operation: REMOVE}\n"
        "  - applyTo: LISTENER\n"
        "  - applyTo: LISTENER\n"
        "    patch: {value: {name: x}}\n"
        "  - applyTo: LISTENER\n"
        "    patch: {operation: MERGE}\n"
    )
    errors = [(v.path, v.message) for v in found if v.level == "error"]
    assert errors == [
        ("spec.configPatches[0].applyTo", "Envoy filter: missing applyTo"),
        ("spec.configPatches[1].patch", "Envoy filter: missing patch"),
        ("spec.configPatches[2].patch.operation", "Envoy filter: missing patch operation"),
        ("spec.configPatches[3].patch.value", "Envoy filter: missing patch value for non-remove operation"),
    ]


def test_filter_match_rules() -> None:
    """Sub-filter matches need HTTP_FILTER and the HTTP connection manager; deprecated names only warn."""
    found = _found(
        "spec:\n"
        "  configPatches:\n"
        "  - applyTo: NETWORK_FILTER\n"
        "    match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager,"
        " subFilter: {name: envoy.filters.http.router}}}}}\n"
        "    patch: {operation: REMOVE}\n"
        "  - applyTo: HTTP_FILTER\n"
        "    match: {listener: {filterChain: {filter: {name: envoy.filters.network.tcp_proxy,"
        " subFilter: {name: envoy.filters.http.router}}}}}\n"
        "    patch: {operation: REMOVE}\n"
        "  - applyTo: HTTP_FILTER\n"
        "    match: {listener: {filterChain: {filter: {name: envoy.http_connection_manager}}}}\n"
        "    patch: {operation: REMOVE}\n"
    )
    messages = [(v.level, v.message) for v in found if v.code != "MZ2021" or "deprecated" in v.message]
    assert messages == [
        ("error", "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only"),
        (
            "error",
            "Envoy filter: subfilter match requires filter match with envoy.filters.network.http_connection_manager",
        ),
        (
            "warning",
            'using deprecated filter name "envoy.http_connection_manager"; '
            'use "envoy.filters.network.http_connection_manager" instead',
        ),
    ]


def test_proxy_version_must_compile_as_re2() -> None:
    """A proxyVersion RE2 rejects is an error in Istio's words, and the patch is not checked further."""
    found = _found(
        "spec:\n"
        "  configPatches:\n"
        "  - applyTo: LISTENER\n"
        "    match: {proxy: {proxyVersion: '1.2++'}, cluster: {name: x}}\n"
        "    patch: {operation: REMOVE}\n"
    )
    errors = [v.message for v in found if v.level == "error"]
    assert len(errors) == 1 and errors[0].startswith("Envoy filter: invalid regex for proxy version, [")


def test_selector_and_target_refs_are_exclusive() -> None:
    """The CRD allows one of workloadSelector and targetRefs; a cross-namespace reference is refused too."""
    found = _found(
        "spec:\n"
        "  workloadSelector: {labels: {app: cart}}\n"
        "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw, namespace: other}]\n"
    )
    errors = [(v.path, v.message) for v in found if v.level == "error"]
    assert errors == [
        ("spec", "only one of targetRefs or workloadSelector can be set"),
        ("spec.targetRefs[0].namespace", "cross namespace referencing is not currently supported"),
    ]


def test_waypoint_patches_follow_the_crd_only() -> None:
    """A WAYPOINT patch needs a waypoint match (and only then); the webhook checks nothing else of it."""
    found = _found(
        "spec:\n"
        "  configPatches:\n"
        "  - applyTo: CLUSTER\n"
        "    match: {context: WAYPOINT, waypoint: {}}\n"
        "  - applyTo: CLUSTER\n"
        "    match: {context: SIDECAR_INBOUND, waypoint: {}}\n"
        "    patch: {operation: REMOVE}\n"
    )
    errors = [(v.path, v.message) for v in found if v.level == "error"]
    assert errors == [("spec.configPatches[1].match", "only support waypointMatch when context is WAYPOINT")]


def test_a_bad_selector_ends_the_checks() -> None:
    """As Istio's webhook, a selector error returns before any patch is looked at."""
    found = _found("spec:\n  workloadSelector: {labels: {app: 'a*'}}\n  configPatches: [{applyTo: CLUSTER}]\n")
    errors = [v.message for v in found if v.level == "error"]
    assert errors == ['wildcard is not supported in selector: "app=a*"']
