"""The fast dict→proto path gives the same messages as json_format.ParseDict, or defers to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import any_pb2, json_format

from mizzen.xds import dictproto, types
from mizzen.xds.encode import Encoder, message_class
from mizzen.xds.testing import cla, cluster, listener, route

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
GOLDEN = Path(__file__).resolve().parents[2] / "golden"

RICH_CLUSTER = {
    "name": "outbound|9080|v1|reviews.default.svc.cluster.local",
    "type": "EDS",
    "connectTimeout": "10.5s",
    "lb_policy": "LEAST_REQUEST",
    "eds_cluster_config": {"service_name": "x", "eds_config": {"ads": {}}},
    "circuit_breakers": {
        "thresholds": [{"max_connections": 4294967295, "max_retries": "1024", "track_remaining": True}]
    },
    "outlier_detection": {"consecutive_5xx": 5, "interval": "10s", "max_ejection_percent": 100},
    "metadata": {
        "filter_metadata": {
            "istio": {"config": "/apis/x", "default_original_port": 9080, "nested": {"list": [1, "a", True, None]}}
        }
    },
    "typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": {"idle_timeout": "3600s"},
            "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 1073741824}},
        }
    },
    "transport_socket": {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": "reviews",
            "common_tls_context": {"alpn_protocols": ["h2", "http/1.1"]},
        },
    },
}

RICH_ROUTE = {
    "name": "http_proxy",
    "validate_clusters": False,
    "virtual_hosts": [
        {
            "name": "reviews.default.svc.cluster.local:9080",
            "domains": ["reviews", "reviews:9080"],
            "routes": [
                {
                    "match": {
                        "safe_regex": {"regex": "/api/.*"},
                        "case_sensitive": False,
                        "headers": [
                            {"name": "end-user", "string_match": {"exact": "jason"}},
                            {"name": "x-absent", "present_match": True, "invert_match": True},
                        ],
                        "query_parameters": [{"name": "q", "string_match": {"prefix": "a"}}],
                    },
                    "route": {
                        "weighted_clusters": {"clusters": [{"name": "a", "weight": 80}, {"name": "b", "weight": 20}]},
                        "timeout": "0.5s",
                        "retry_policy": {
                            "retry_on": "5xx",
                            "num_retries": 3,
                            "per_try_timeout": "2s",
                            "retry_host_predicate": [
                                {
                                    "name": "envoy.retry_host_predicates.previous_hosts",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy."
                                        "extensions.retry.host.previous_hosts.v3."
                                        "PreviousHostsPredicate"
                                    },
                                }
                            ],
                        },
                    },
                    "typed_per_filter_config": {
                        "envoy.filters.http.fault": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                            "delay": {"fixed_delay": "2s", "percentage": {"numerator": 100, "denominator": "HUNDRED"}},
                            "abort": {"http_status": 503, "percentage": {"numerator": 500000, "denominator": 1}},
                        }
                    },
                    "request_headers_to_add": [
                        {"header": {"key": "x", "value": "y"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                    ],
                    "metadata": {"filter_metadata": {"istio": {"config": "/apis/vs"}}},
                }
            ],
        }
    ],
}


OWN = [
    (types.CLUSTER, "rich", RICH_CLUSTER),
    (types.ROUTE, "rich", RICH_ROUTE),
    (types.CLUSTER, "a", cluster("a")),
    (types.ENDPOINT, "a", cla("a")),
    (types.LISTENER, "l", listener("l", 15001, "r")),
    (types.ROUTE, "r", route("r", "a")),
]


def golden() -> list[tuple[str, str, dict[str, object]]]:
    items: list[tuple[str, str, dict[str, object]]] = []
    kinds = {
        "clusters": types.CLUSTER,
        "endpoints": types.ENDPOINT,
        "listeners": types.LISTENER,
        "routes": types.ROUTE,
        "secrets": types.SECRET,
    }
    for path in sorted(GOLDEN.glob("*/output.json")):  # the translator's golden outputs, when present
        out = json.loads(path.read_text())
        for kind, type_url in kinds.items():
            for name, body in out.get(kind, {}).items():
                items.append((type_url, f"{path.parent.name}/{name}", body))
    return items


def canonical(msg: object) -> str:
    """Compare via ParseDict's own JSON rendering, so Any payload byte order does not matter."""
    return json.dumps(json_format.MessageToDict(msg), sort_keys=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("type_url", "name", "body"), OWN, ids=lambda v: v if isinstance(v, str) else "")
def test_fast_path_matches_parse_dict(type_url: str, name: str, body: dict[str, object]) -> None:
    """Translator-shaped resources take the fast path and equal json_format's result."""
    cls = message_class(type_url)
    fast, slow = cls(), cls()
    dictproto.fill(fast, body)
    json_format.ParseDict(body, slow)
    assert canonical(fast) == canonical(slow)


@pytest.mark.parametrize(("type_url", "name", "body"), golden(), ids=lambda v: v if isinstance(v, str) else "")
def test_translator_golden_outputs_encode_like_parse_dict(type_url: str, name: str, body: dict[str, object]) -> None:
    """Every resource in the translator's golden files encodes (fast or fallback) exactly as ParseDict reads it."""
    cls = message_class(type_url)
    slow = cls()
    json_format.ParseDict(body, slow)
    encoded = any_pb2.Any.FromString(Encoder().encode_one(type_url, name.split("/", 1)[1], body))
    fast = cls()
    assert encoded.Unpack(fast)
    assert canonical(fast) == canonical(slow)


def test_most_golden_resources_take_the_fast_path() -> None:
    """The fast path covers the translator's output (a fallback is correct, only slower)."""
    items = golden()
    fast = 0
    for type_url, _, body in items:
        try:
            dictproto.fill(message_class(type_url)(), body)
            fast += 1
        except dictproto.Unsupported:
            pass
    assert not items or fast >= 0.9 * len(items)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "c", "connect_timeout": None},  # null
        {"name": "c", "unknown_field": 1},  # unknown field
        {"name": "c", "type": "STATIC", "cluster_type": {"name": "x"}},  # two members of one oneof
        {"name": "c", "connect_timeout": 5},  # duration as a number
        {"name": "c", "per_connection_buffer_limit_bytes": " 12"},  # spaced integer string
    ],
)
def test_unusual_values_defer_to_parse_dict(body: dict[str, object]) -> None:
    """Values the fast path is unsure about raise Unsupported instead of guessing."""
    with pytest.raises(dictproto.Unsupported):
        dictproto.fill(message_class(types.CLUSTER)(), body)


def test_encoder_falls_back_and_reports_parse_dict_errors() -> None:
    """Through the encoder, an unsupported value still yields json_format's result or error."""
    enc = Encoder()
    ok = enc.encode_one(types.CLUSTER, "c", {"name": "c", "per_connection_buffer_limit_bytes": "12"})
    assert any_pb2.Any.FromString(ok).type_url == types.CLUSTER
    with pytest.raises(Exception, match="does not parse"):
        enc.encode_one(types.CLUSTER, "c", {"name": "c", "unknown_field": 1})
