"""MeshConfig telemetry settings from mesh.yaml, and the Telemetry API in a translated proxy's listeners:
file loggers (paths, text/JSON formats, CEL filters, disabled), tracing (sampling, custom tags, sides)."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mizzen.node import InboundPort, Proxy
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate
from mizzen.translate.metrics_settings import metrics_settings
from mizzen.translate.model import MeshConfig, load_mesh_config
from mizzen.translate.telemetry_api import zipkin_address

LOG = "/tmp/reviews.log"
PROXY = Proxy(
    id="reviews-v1.default",
    type="sidecar",
    name="reviews-v1",
    namespace="default",
    labels={"app": "reviews", "version": "v1"},
    http_proxy_port=15080,
    inbound=(InboundPort(service_port=9080, name="http", protocol="HTTP", listen_port=15906, app_port=19080),),
    access_log=LOG,
)
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec: {ports: [{name: http, port: 9080}]}
"""


def _mesh_yaml(tmp_path: Path, text: str) -> MeshConfig:
    path = tmp_path / "mesh.yaml"
    path.write_text(textwrap.dedent(text))
    return load_mesh_config(path)


def _telemetry(spec: str, name: str = "t", namespace: str = "default") -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    head = f"apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
    return f"{head}spec:\n{body}\n"


def _hcms(docs: str, mesh: MeshConfig | None = None) -> dict[str, dict[str, Any]]:
    """Each HTTP connection manager of the proxy, by listener name."""
    out = translate(PROXY, mesh_from_yaml(SERVICE, docs, mesh=mesh or MeshConfig(zipkin_address="127.0.0.1:9411")))
    found: dict[str, dict[str, Any]] = {}
    for name, listener in out.listeners.items():
        for chain in listener.get("filter_chains", []):  # type: ignore[attr-defined]
            for f in chain["filters"]:
                if f["name"] == "envoy.filters.network.http_connection_manager":
                    found[name] = f["typed_config"]
    return found


def _inbound(hcms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return hcms["127.0.0.1_15906"]  # the inbound listener (port 9080's listen port)


def _outbound(hcms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return hcms["127.0.0.1_15080"]  # the outbound HTTP-proxy listener


def _files(hcm: dict[str, Any]) -> list[dict[str, Any]]:
    return [log for log in hcm.get("access_log", []) if log["name"] == "envoy.access_loggers.file"]


# --- mesh.yaml ---------------------------------------------------------------------------------------


def test_mesh_yaml_telemetry_fields(tmp_path: Path) -> None:
    mesh = _mesh_yaml(
        tmp_path,
        """
        accessLogFile: /dev/stdout
        accessLogEncoding: JSON
        enableTracing: false
        defaultProviders: {accessLogging: [json-file], tracing: [jaeger]}
        extensionProviders:
        - name: json-file
          envoyFileAccessLog: {path: /tmp/x.log, logFormat: {labels: {code: "%RESPONSE_CODE%"}}}
        - name: jaeger
          zipkin: {service: jaeger.observability, port: 9411, maxTagLength: 64}
        """,
    )
    t = mesh.telemetry
    assert (t.access_log_file, t.access_log_encoding, t.enable_tracing) == ("/dev/stdout", "JSON", False)
    assert t.default_access_logging == ("json-file",) and t.default_tracing == ("jaeger",)
    file = t.provider("JSON-FILE")  # Istio looks providers up case-insensitively
    assert file is not None and file.file is not None and file.file.labels == (("code", "%RESPONSE_CODE%"),)
    jaeger = t.provider("jaeger")
    assert jaeger is not None and jaeger.zipkin is not None and jaeger.zipkin.max_tag_length == 64
    assert t.provider("envoy") is not None and t.default_metrics == ("prometheus",)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("extensionProviders: [{name: sd, stackdriver: {}}]", "extensionProviders[0].stackdriver"),
        (
            "extensionProviders: [{name: als, envoyHttpAls: {service: x, port: 1}}]",
            "extensionProviders[0].envoyHttpAls",
        ),
        (
            "extensionProviders: [{name: otel, opentelemetry: {service: x, port: 1}}]",
            "extensionProviders[0].opentelemetry",
        ),
        ("extensionProviders: [{name: z, zipkin: {service: x, port: 0}}]", "extensionProviders[0].zipkin.port"),
        ("accessLogEncoding: YAML", "accessLogEncoding"),
        ("enableTracing: maybe", "enableTracing"),
        ("defaultProviders: {accessLogging: [nope]}", "defaultProviders.accessLogging[0]"),
        ("defaultProviders: {tracing: [envoy]}", "defaultProviders.tracing[0]"),
        ("defaultConfig: {tracing: {sampling: 101}}", "defaultConfig.tracing.sampling"),
    ],
)
def test_mesh_yaml_refuses_what_mizzen_cannot_run(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ValueError, match="mesh.yaml: " + re.escape(field)):
        _mesh_yaml(tmp_path, text)


def test_one_span_collector(tmp_path: Path) -> None:
    """Spans reach the user's collector: the zipkin provider when no MeshConfig address is set; collectors that
    differ are an error (the control plane forwards to one), equal ones are fine."""
    provider = "extensionProviders:\n- name: z\n  zipkin: {service: zipkin.istio-system, port: 9411}\n"
    assert zipkin_address(_mesh_yaml(tmp_path, provider)) == "zipkin.istio-system:9411"
    same = "defaultConfig: {tracing: {zipkin: {address: 'zipkin.istio-system:9411'}}}\n" + provider
    assert zipkin_address(_mesh_yaml(tmp_path, same)) == "zipkin.istio-system:9411"
    other = same.replace("port: 9411", "port: 9412")
    with pytest.raises(ValueError, match=re.escape("extensionProviders[0].zipkin (zipkin.istio-system:9412) differs")):
        _mesh_yaml(tmp_path, other)


# --- access logs -------------------------------------------------------------------------------------


def test_default_is_the_proxys_own_file_in_istio_text_format() -> None:
    for hcm in (_inbound(_hcms("")), _outbound(_hcms(""))):
        [log] = _files(hcm)
        assert log["typed_config"]["path"] == LOG
        assert "inline_string" in log["typed_config"]["log_format"]["text_format_source"]


def test_mesh_json_encoding_gives_json_lines() -> None:
    mesh = MeshConfig(telemetry=_parsed({"accessLogEncoding": "JSON"}))
    [log] = _files(_inbound(_hcms("", mesh)))
    labels = log["typed_config"]["log_format"]["json_format"]
    assert labels["response_code"] == "%RESPONSE_CODE%" and labels["path"].startswith("%REQ(")


def test_access_log_file_empty_turns_the_legacy_log_off() -> None:
    mesh = MeshConfig(telemetry=_parsed({"accessLogFile": ""}))
    assert _files(_inbound(_hcms("", mesh))) == []


def test_telemetry_disables_and_filters_per_side() -> None:
    docs = _telemetry(
        """
        accessLogging:
        - providers: [{name: envoy}]
          filter: {expression: "response.code >= 400"}
        - match: {mode: SERVER}
          disabled: true
        """
    )
    hcms = _hcms(docs)
    assert _files(_inbound(hcms)) == []
    [log] = _files(_outbound(hcms))
    assert log["typed_config"]["path"] == LOG  # the built-in `envoy` provider (/dev/stdout) is the proxy's file
    # The HTTP-proxy listener's own filter (no CONNECT tunnel lines) and the Telemetry's, both required.
    own, telemetry = log["filter"]["and_filter"]["filters"]
    assert [next(iter(f)) for f in own["or_filter"]["filters"]] == ["header_filter", "extension_filter"]
    assert telemetry["extension_filter"]["name"] == "envoy.access_loggers.extension_filters.cel"
    assert telemetry["extension_filter"]["typed_config"]["expression"] == "response.code >= 400"


def test_telemetry_file_provider_with_own_path_and_labels() -> None:
    mesh = MeshConfig(
        telemetry=_parsed(
            {
                "extensionProviders": [
                    {
                        "name": "mine",
                        "envoyFileAccessLog": {
                            "path": "/tmp/mine.log",
                            "logFormat": {"labels": {"c": "%RESPONSE_CODE%"}},
                        },
                    }
                ]
            }
        )
    )
    [log] = _files(_inbound(_hcms(_telemetry("accessLogging: [{providers: [{name: mine}]}]"), mesh)))
    assert log["typed_config"]["path"] == "/tmp/mine.log"
    assert log["typed_config"]["log_format"] == {"json_format": {"c": "%RESPONSE_CODE%"}}


def test_other_namespaces_telemetry_changes_nothing() -> None:
    docs = _telemetry("accessLogging: [{disabled: true}]", namespace="prod")
    assert _files(_inbound(_hcms(docs))) == _files(_inbound(_hcms("")))


# --- tracing -----------------------------------------------------------------------------------------


def test_tracing_sampling_and_custom_tags() -> None:
    docs = _telemetry(
        """
        tracing:
        - randomSamplingPercentage: 42.5
          customTags:
            team: {literal: {value: books}}
            region: {environment: {name: REGION, defaultValue: eu}}
            agent: {header: {name: user-agent}}
        """
    )
    tracing = _outbound(_hcms(docs))["tracing"]
    assert tracing["random_sampling"] == {"value": 42.5}
    tags = {t["tag"]: t for t in tracing["custom_tags"]}
    assert tags["team"]["literal"] == {"value": "books"}
    assert tags["region"]["environment"] == {"name": "REGION", "default_value": "eu"}
    assert tags["agent"]["request_header"] == {"name": "user-agent"}
    assert "istio.canonical_service" in tags  # Istio's own tags stay


def test_tracing_default_sampling_is_the_mesh_percentage() -> None:
    mesh = MeshConfig(zipkin_address="127.0.0.1:9411", tracing_sampling=1.0)
    assert _outbound(_hcms("", mesh))["tracing"]["random_sampling"] == {"value": 1.0}
    docs = _telemetry("tracing: [{customTags: {a: {literal: {value: b}}}}]")
    assert _outbound(_hcms(docs, mesh))["tracing"]["random_sampling"] == {"value": 1.0}


def test_tracing_match_mode_and_disable_span_reporting() -> None:
    docs = _telemetry("tracing: [{match: {mode: CLIENT}, disableSpanReporting: true}]")
    hcms = _hcms(docs)
    assert "tracing" not in _outbound(hcms)
    assert "tracing" in _inbound(hcms)


def test_enable_tracing_false_turns_mesh_tracing_off() -> None:
    mesh = MeshConfig(zipkin_address="127.0.0.1:9411", telemetry=_parsed({"enableTracing": False}))
    assert "tracing" not in _outbound(_hcms("", mesh))


# --- metrics settings ------------------------------------------------------------------------------


def test_metrics_settings_of_a_proxy() -> None:
    docs = _telemetry(
        """
        metrics:
        - overrides:
          - match: {metric: REQUEST_COUNT, mode: SERVER}
            tagOverrides: {request_protocol: {operation: REMOVE}, color: {value: "'red'"}}
          - match: {metric: TCP_SENT_BYTES}
            disabled: true
        """
    )
    settings = metrics_settings(PROXY, mesh_from_yaml(docs))
    count = settings.override("server", "REQUEST_COUNT")
    assert count.removed_tags == {"request_protocol"} and count.upserted_tags == (("color", "'red'"),)
    assert settings.override("client", "REQUEST_COUNT").removed_tags == frozenset()
    assert not settings.is_on("client", "TCP_SENT_BYTES") and settings.is_on("client", "REQUEST_COUNT")
    off = _telemetry("metrics: [{overrides: [{match: {metric: ALL_METRICS}, disabled: true}]}]")
    assert metrics_settings(PROXY, mesh_from_yaml(off)).enabled is False
    assert metrics_settings(PROXY, mesh_from_yaml("")).enabled is True


def _stat_names(hcm: dict[str, Any]) -> set[str]:
    """The stat names of an HCM's stats access loggers (the Istio metrics Envoy keeps for it)."""
    out: set[str] = set()
    for log in hcm.get("access_log", []):
        config = log["typed_config"]
        if config["@type"].endswith("access_loggers.stats.v3.Config"):
            out |= {m["stat"]["name"] for m in (*config.get("counters", []), *config.get("histograms", []))}
    return out


def test_telemetry_metrics_reach_the_stats_loggers() -> None:
    """A Telemetry selecting this workload turns metrics off in its listeners (per side and metric); one for
    another workload leaves it alone; ALL_METRICS disabled leaves no stats logger at all."""
    default = _hcms("")
    outbound = next(n for n in default if n.endswith(f"_{PROXY.http_proxy_port}"))
    inbound = next(n for n in default if n.endswith(f"_{PROXY.inbound[0].listen_port}"))
    assert "requests_total" in _stat_names(default[outbound]) and "requests_total" in _stat_names(default[inbound])
    client_off = _telemetry(
        """
        selector: {matchLabels: {app: reviews}}
        metrics:
        - overrides:
          - match: {metric: REQUEST_COUNT, mode: CLIENT}
            disabled: true
        """
    )
    hcms = _hcms(client_off)
    assert "requests_total" not in _stat_names(hcms[outbound])
    assert "request_duration_milliseconds" in _stat_names(hcms[outbound])
    assert "requests_total" in _stat_names(hcms[inbound])
    other = client_off.replace("app: reviews", "app: ratings")
    assert "requests_total" in _stat_names(_hcms(other)[outbound])
    off = _telemetry("metrics: [{overrides: [{match: {metric: ALL_METRICS}, disabled: true}]}]")
    assert all(not _stat_names(h) for h in _hcms(off).values())


def _parsed(data: dict[str, Any]) -> Any:
    from mizzen.config.mesh_telemetry import parse_mesh_telemetry

    return parse_mesh_telemetry(data, "mesh.yaml")


def test_control_plane_outputs_follow_each_proxys_own_telemetry() -> None:
    """Two sidecars share their outbound config (same sharing key: Telemetry selectors are not in it), yet
    a Telemetry selecting one of them changes that one's listeners only, as a fresh translation does."""
    from mizzen.controlplane.outputs import PushOutputs

    other = dataclasses.replace(PROXY, id="ratings-v1.default", name="ratings-v1", labels={"app": "ratings"})
    snapshot = mesh_from_yaml(
        SERVICE, _telemetry("selector: {matchLabels: {app: ratings}}\naccessLogging: [{disabled: true}]")
    )
    outputs = PushOutputs(snapshot)
    for proxy in (PROXY, other):  # PROXY first: its scope is the one the key's proxies reuse
        _, local, _ = outputs.full(proxy)
        assert dict(local.listeners) == dict(translate(proxy, snapshot).listeners)
    _, local, _ = outputs.full(other)
    assert "envoy.access_loggers.file" not in str(local.listeners["127.0.0.1_15906"])


@pytest.mark.e2e
def test_real_envoy_accepts_the_telemetry_golden_case() -> None:
    """Envoy --mode validate loads the golden case's output (CEL filters on HTTP and TCP logs, custom tags
    of every kind), and the JSON-labels file logger of a JSON-encoded mesh."""
    from translate_envoy import envoy_validate
    from translate_protos import parse_all

    from mizzen.xds import types as xt
    from mizzen.xds.encode import encode  # what the control plane sends: every extension proto registered

    golden = Path(__file__).resolve().parents[2] / "golden" / "telemetry-sidecar"
    mesh = MeshConfig(zipkin_address="127.0.0.1:9411", access_log_service=True)
    snapshot = mesh_from_yaml((golden / "input.yaml").read_text(), mesh=mesh)
    for res in (
        translate(PROXY, snapshot),
        translate(PROXY, mesh_from_yaml(SERVICE, mesh=MeshConfig(telemetry=_parsed({"accessLogEncoding": "JSON"})))),
    ):
        assert encode(xt.LISTENER, res.listeners)
        parse_all(res)
        out = envoy_validate(res)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_request_id_sampling_and_istio_tags_can_be_turned_off() -> None:
    docs = _telemetry("tracing: [{useRequestIdForTraceSampling: false, enableIstioTags: false}]")
    hcm = _outbound(_hcms(docs))
    assert hcm["request_id_extension"]["typed_config"]["use_request_id_for_trace_sampling"] is False
    assert "custom_tags" not in hcm["tracing"]  # no istio.canonical_service / istio.namespace
    assert "request_id_extension" not in _outbound(_hcms(""))


GATEWAY_YAML = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: edge}
spec:
  selector: {app: web}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: edge}
spec:
  hosts: ["*"]
  gateways: [web]
  http: [{route: [{destination: {host: ratings.default.svc.cluster.local}}]}]
"""


def test_gateway_is_the_client_side_and_follows_its_target_ref() -> None:
    """A gateway's listeners are Istio's CLIENT mode; a Telemetry targetRef to its Gateway API Gateway
    applies to it (and a selector-less resource of its namespace applies too)."""
    gateway = Proxy(
        id="web.edge",
        type="router",
        name="web",
        namespace="edge",
        labels={"app": "web", "gateway.networking.k8s.io/gateway-name": "web"},
        access_log="/tmp/web.log",
    )
    ref = "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]\n"
    client_off = _telemetry(ref + "accessLogging: [{match: {mode: CLIENT}, disabled: true}]", namespace="edge")
    server_off = _telemetry(ref + "accessLogging: [{match: {mode: SERVER}, disabled: true}]", namespace="edge")

    mesh_wide = _telemetry("accessLogging: [{providers: [{name: envoy}]}]", name="mesh", namespace="istio-system")

    def files(docs: str) -> list[Any]:
        out = translate(gateway, mesh_from_yaml(SERVICE, GATEWAY_YAML, mesh_wide, docs))
        return [lis for lis in out.listeners.values() if "envoy.access_loggers.file" in str(lis)]

    assert files("") != []
    assert files(client_off) == []
    assert files(server_off) == files("")


def test_explicit_access_log_file_stays_when_the_telemetry_leaves_no_provider() -> None:
    """Istio's fallback (istio/istio#49126): with meshConfig.accessLogFile set, a Telemetry that disables
    logging without naming providers leaves no Telemetry logger, so the MeshConfig's file log applies."""
    mesh = MeshConfig(telemetry=_parsed({"accessLogFile": "/dev/stdout"}))
    docs = _telemetry("accessLogging: [{disabled: true}]")
    [log] = _files(_inbound(_hcms(docs, mesh)))
    assert log["typed_config"]["path"] == LOG
    # Mizzen's default (accessLogFile unset) is the `envoy` provider, which the same Telemetry turns off.
    assert _files(_inbound(_hcms(docs))) == []
