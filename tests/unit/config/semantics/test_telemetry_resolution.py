"""The Telemetry API's resolution for one proxy, against Istio's documented cases (pilot/pkg/model/telemetry.go
and its tests, the Telemetry API reference): mesh < namespace < workload, match modes, disabled, providers,
empty providers meaning the defaults, targetRef."""

from __future__ import annotations

import textwrap

import pytest

from mizzen.config.mesh_telemetry import ExtensionProvider, FileLogProvider, MeshTelemetry
from mizzen.config.semantics import telemetry as sem
from mizzen.testing.simulation import mesh_from_yaml

SIDECAR = sem.Workload("default", {"app": "reviews", "version": "v1"})
OTHER = sem.Workload("default", {"app": "ratings"})
GATEWAY = sem.Workload("default", {"gateway.networking.k8s.io/gateway-name": "web"})
FILES = MeshTelemetry(
    extension_providers=(
        ExtensionProvider("a", "envoyFileAccessLog", file=FileLogProvider("/tmp/a.log")),
        ExtensionProvider("b", "envoyFileAccessLog", file=FileLogProvider("/tmp/b.log")),
    )
)


def _doc(name: str, namespace: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    return (
        f"apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}\nspec:\n{body}\n"
    )


def layers(*docs: str, workload: sem.Workload = SIDECAR) -> sem.Applicable:
    snapshot = mesh_from_yaml("---\n".join(docs))
    return sem.applicable(snapshot.telemetries, workload, "istio-system")


MESH_10 = _doc("mesh", "istio-system", "tracing: [{randomSamplingPercentage: 10}]")
NS_20 = _doc("ns", "default", "tracing: [{randomSamplingPercentage: 20}]")
WORKLOAD_30 = _doc(
    "wl", "default", "selector: {matchLabels: {app: reviews}}\ntracing: [{randomSamplingPercentage: 30}]"
)


def _sampling(applicable: sem.Applicable) -> float | None:
    config = sem.tracing(applicable, MeshTelemetry(), builtin_tracer=True)
    assert config is not None
    return config.client.random_sampling_percentage


def test_precedence_workload_over_namespace_over_mesh() -> None:
    assert _sampling(layers(MESH_10)) == 10
    assert _sampling(layers(MESH_10, NS_20)) == 20
    assert _sampling(layers(MESH_10, NS_20, WORKLOAD_30)) == 30
    assert _sampling(layers(MESH_10, NS_20, WORKLOAD_30, workload=OTHER)) == 20  # the selector picks reviews only


def test_layers_in_order_and_other_namespaces_ignored() -> None:
    other_ns = _doc("elsewhere", "prod", "tracing: [{randomSamplingPercentage: 50}]")
    root_selector = _doc("root-sel", "istio-system", "selector: {matchLabels: {app: reviews}}\ntracing: [{}]")
    applicable = layers(WORKLOAD_30, other_ns, NS_20, MESH_10, root_selector)
    assert applicable.names == ("istio-system/mesh", "default/ns", "default/wl")


def test_oldest_namespace_wide_wins() -> None:
    """Several namespace-wide Telemetries (IST0160): Istio uses the oldest one only (document order stands
    in for creation order here)."""
    old = _doc("zz-old", "default", "tracing: [{randomSamplingPercentage: 1}]")
    new = _doc("aa-new", "default", "tracing: [{randomSamplingPercentage: 99}]")
    assert layers(old, new).names == ("default/zz-old",)
    assert _sampling(layers(old, new)) == 1


def test_fields_override_one_by_one() -> None:
    """A lower layer's unset field inherits; customTags replace the whole map."""
    mesh = _doc(
        "mesh", "istio-system", "tracing: [{randomSamplingPercentage: 10, customTags: {a: {literal: {value: x}}}}]"
    )
    ns = _doc("ns", "default", "tracing: [{customTags: {b: {literal: {value: y}}}}]")
    config = sem.tracing(layers(mesh, ns), MeshTelemetry(), builtin_tracer=True)
    assert config is not None
    assert config.client.random_sampling_percentage == 10
    assert [name for name, _ in config.client.custom_tags] == ["b"]


def test_tracing_match_mode() -> None:
    ns = _doc("ns", "default", "tracing: [{match: {mode: SERVER}, disableSpanReporting: true}]")
    config = sem.tracing(layers(ns), MeshTelemetry(), builtin_tracer=True)
    assert config is not None
    assert config.server.off and not config.client.off


def test_tracing_without_any_provider_is_off() -> None:
    """Istio: no provider (none named, no defaultProviders.tracing) means tracing is disabled."""
    config = sem.tracing(layers(NS_20), MeshTelemetry(), builtin_tracer=False)
    assert config is not None and config.client.off and config.server.off


def test_no_tracing_telemetry_leaves_the_mesh_config() -> None:
    assert sem.tracing(layers(), MeshTelemetry(), builtin_tracer=True) is None
    with_default = MeshTelemetry(default_tracing=("zipkin",))
    config = sem.tracing(layers(), with_default, builtin_tracer=True)
    assert config is not None and config.client.provider == "zipkin"


def test_named_tracing_provider_replaces_the_default() -> None:
    ns = _doc("ns", "default", "tracing: [{providers: [{name: other}]}]")
    config = sem.tracing(layers(ns), MeshTelemetry(), builtin_tracer=True)
    assert config is not None and config.client.provider == "other"


def _logs(applicable: sem.Applicable, side: sem.Side, mesh: MeshTelemetry = FILES) -> list[tuple[str, str | None]]:
    found = sem.access_logging(applicable, mesh, side)
    assert found is not None
    return [(p.name, p.filter) for p in found]


def test_access_logging_absent_means_mesh_config() -> None:
    """Istio: no Telemetry logging and no default provider: the MeshConfig's accessLogFile decides."""
    legacy = MeshTelemetry(access_log_file="/dev/stdout")
    assert sem.access_logging(layers(MESH_10), legacy, "client") is None
    defaults = MeshTelemetry(default_access_logging=("a",), extension_providers=FILES.extension_providers)
    assert _logs(layers(), "client", defaults) == [("a", None)]


def test_mizzens_default_log_is_the_envoy_provider() -> None:
    """Neither accessLogFile nor defaultProviders set: Mizzen's on-by-default file log is the built-in
    `envoy` provider, so a Telemetry without providers means it and `disabled` turns it off."""
    assert _logs(layers(), "client") == [("envoy", None)]
    ns = _doc("ns", "default", "accessLogging: [{filter: {expression: 'response.code >= 500'}}]")
    assert _logs(layers(ns), "client") == [("envoy", None)]  # a filter is kept for named providers only
    off = _doc("ns", "default", "accessLogging: [{disabled: true}]")
    assert _logs(layers(off), "server") == []


def test_access_logging_disabled_for_one_workload() -> None:
    mesh = _doc("mesh", "istio-system", "accessLogging: [{providers: [{name: a}]}]")
    off = _doc("wl-off", "default", "selector: {matchLabels: {app: reviews}}\naccessLogging: [{disabled: true}]")
    assert _logs(layers(mesh, off), "client") == []
    assert _logs(layers(mesh, off), "server") == []
    assert _logs(layers(mesh, off, workload=OTHER), "client") == [("a", None)]


def test_access_logging_match_mode() -> None:
    """Istio's example: server-side logs off, client-side kept."""
    mesh = _doc("mesh", "istio-system", "accessLogging: [{providers: [{name: a}]}]")
    ns = _doc("ns", "default", "accessLogging: [{match: {mode: SERVER}, disabled: true}]")
    assert _logs(layers(mesh, ns), "client") == [("a", None)]
    assert _logs(layers(mesh, ns), "server") == []


def test_a_mode_entry_alone_adds_nothing_to_the_other_side() -> None:
    """Istio's mergeLogs: a side gets the providers of the entries matching it. A lone SERVER entry (no
    entry for the client above it) leaves the client side without providers, defaults or not."""
    ns = _doc("ns", "default", "accessLogging: [{match: {mode: SERVER}, disabled: true}]")
    assert _logs(layers(ns), "client") == []
    mesh = _doc("mesh", "istio-system", "accessLogging: [{}]")
    assert _logs(layers(mesh, ns), "client") == [("envoy", None)]
    assert _logs(layers(mesh, ns), "server") == []


def test_lower_layer_providers_replace_the_upper() -> None:
    """Providers named lower down are the only ones in scope: the mesh's `a` is no longer logged."""
    mesh = _doc("mesh", "istio-system", "accessLogging: [{providers: [{name: a}]}]")
    ns = _doc(
        "ns", "default", "accessLogging: [{providers: [{name: b}], filter: {expression: 'response.code >= 400'}}]"
    )
    assert _logs(layers(mesh, ns), "client") == [("b", "response.code >= 400")]


def test_empty_providers_mean_the_default_providers() -> None:
    defaults = MeshTelemetry(default_access_logging=("a",), extension_providers=FILES.extension_providers)
    ns = _doc("ns", "default", "accessLogging: [{filter: {expression: 'response.code >= 500'}}]")
    assert _logs(layers(ns), "client", defaults) == [("a", None)]  # Istio keys filters by the providers named
    nothing = _doc("ns", "default", "accessLogging: [{}]")
    legacy = MeshTelemetry(access_log_file="/dev/stdout", extension_providers=FILES.extension_providers)
    assert _logs(layers(nothing), "client", legacy) == []  # no provider, no default: none (IST0157)


def test_target_ref_selects_the_named_gateway_only() -> None:
    ref = _doc(
        "gw",
        "default",
        "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]\n"
        "tracing: [{randomSamplingPercentage: 70}]",
    )
    service = _doc("svc", "default", "targetRefs: [{group: '', kind: Service, name: reviews}]\ntracing: [{}]")
    assert layers(ref, service, workload=GATEWAY).names == ("default/gw",)
    assert layers(ref, service).names == ()  # neither attaches to a sidecar, nor counts as namespace-wide
    other = sem.Workload("default", {"gateway.networking.k8s.io/gateway-name": "api"})
    assert layers(ref, workload=other).names == ()


def test_metrics_overrides_merge_per_side_and_metric() -> None:
    mesh = _doc(
        "mesh",
        "istio-system",
        """
        metrics:
        - providers: [{name: prometheus}]
          overrides:
          - match: {metric: REQUEST_COUNT, mode: CLIENT}
            tagOverrides: {request_protocol: {operation: REMOVE}}
        """,
    )
    ns = _doc(
        "ns",
        "default",
        """
        metrics:
        - overrides:
          - match: {metric: REQUEST_COUNT}
            tagOverrides: {color: {value: "'red'"}}
          - match: {metric: REQUEST_DURATION, mode: SERVER}
            disabled: true
          reportingInterval: 15s
        """,
    )
    merged = sem.metrics(layers(mesh, ns), MeshTelemetry())
    prom = merged.provider("prometheus")
    assert prom is not None
    client = dict(prom.client)
    assert client["REQUEST_COUNT"].tags == (("color", "'red'"), ("request_protocol", None))
    server = dict(prom.server)
    assert server["REQUEST_COUNT"].tags == (("color", "'red'"),)
    assert server["REQUEST_DURATION"].disabled is True and "REQUEST_DURATION" not in client
    assert merged.reporting_interval_s == 15.0


def test_all_metrics_disabled_turns_the_provider_off_until_reenabled() -> None:
    off = _doc("mesh", "istio-system", "metrics: [{overrides: [{match: {metric: ALL_METRICS}, disabled: true}]}]")
    assert sem.metrics(layers(off), MeshTelemetry()).providers == ()
    back = _doc("wl", "default", "selector: {matchLabels: {app: reviews}}\nmetrics: [{overrides: [{disabled: false}]}]")
    merged = sem.metrics(layers(off, back), MeshTelemetry())
    assert [p.name for p in merged.providers] == ["prometheus"]


def test_no_metrics_telemetry_means_the_default_provider() -> None:
    merged = sem.metrics(layers(), MeshTelemetry())
    assert [(p.name, p.client, p.server) for p in merged.providers] == [("prometheus", (), ())]


@pytest.mark.parametrize("mode", ["CLIENT_AND_SERVER", None])
def test_metric_override_without_mode_applies_to_both_sides(mode: str | None) -> None:
    match = f"{{metric: REQUEST_SIZE, mode: {mode}}}" if mode else "{metric: REQUEST_SIZE}"
    ns = _doc("ns", "default", f"metrics: [{{overrides: [{{match: {match}, disabled: true}}]}}]")
    prom = sem.metrics(layers(ns), MeshTelemetry()).provider("prometheus")
    assert prom is not None
    assert dict(prom.client)["REQUEST_SIZE"].disabled and dict(prom.server)["REQUEST_SIZE"].disabled
