"""An EnvoyFilter patch value decoded as its Envoy message, with the legacy jsonpb rules Istio's webhook uses."""

from __future__ import annotations

import pytest

from mizzen.config.rules.envoy_api import OBJECT_TYPES, check_value
from mizzen.config.rules.envoy_types import find_message, istio_knows


def test_every_apply_to_names_a_message_the_protos_have() -> None:
    """Each applyTo's object type (Listener, Cluster, HttpFilter...) resolves in the installed Envoy API."""
    assert sorted(name for name, full in OBJECT_TYPES.items() if find_message(full) is None) == []


def test_a_valid_value_has_neither_error_nor_warning() -> None:
    """A cluster with Go durations, quoted numbers and a numeric enum decodes cleanly, as in Istio."""
    outcome = check_value(
        "CLUSTER",
        {"name": "c", "connect_timeout": "1m30s", "lb_policy": 1, "per_connection_buffer_limit_bytes": "32768"},
    )
    assert (outcome.error, outcome.warnings) == (None, [])


@pytest.mark.parametrize(
    ("value", "path", "text"),
    [
        ({"name": False}, "name", "cannot unmarshal bool into Go value of type string"),
        (
            {"lb_policy": "FASTEST"},
            "lb_policy",
            'unknown value "FASTEST" for enum envoy.config.cluster.v3.Cluster.LbPolicy',
        ),
        ({"connect_timeout": "5 seconds"}, "connect_timeout", 'bad Duration: time: invalid duration "5 seconds"'),
        ({"connect_timeout": 5}, "connect_timeout", "cannot unmarshal number into Go value of type string"),
        ({"per_connection_buffer_limit_bytes": 10.5}, "per_connection_buffer_limit_bytes", "type uint32"),
        ({"per_connection_buffer_limit_bytes": -1}, "per_connection_buffer_limit_bytes", "type uint32"),
        ({"filters": {"name": "x"}}, "filters", "[]json.RawMessage"),
        ({"metadata": {"filter_metadata": {"a": 1}}}, "metadata.filter_metadata.a", "bad StructValue"),
    ],
)
def test_a_mistyped_field_is_an_error_at_its_path(value: dict[str, object], path: str, text: str) -> None:
    """Wrong JSON types, unknown enum names and bad durations fail the lenient decoding, located."""
    outcome = check_value("CLUSTER", value)
    assert outcome.error is not None
    message, where = outcome.error
    assert message.startswith("Envoy filter: ") and text in message
    assert where == path


def test_an_unknown_field_is_only_a_warning() -> None:
    """Lenient decoding drops unknown fields; the strict pass turns them into a warning naming the field."""
    outcome = check_value("CLUSTER", {"name": "c", "per_conection_limit": 3})
    assert outcome.error is None
    assert outcome.warnings == [
        ('Envoy filter: unknown field "per_conection_limit" in envoy.config.cluster.v3.Cluster', "per_conection_limit")
    ]


def test_typed_config_is_decoded_as_its_type() -> None:
    """The @type's message is loaded on demand and its fields are checked (a bad bool inside is an error)."""
    url = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
    good = check_value("HTTP_FILTER", {"name": "authz", "typed_config": {"@type": url, "failure_mode_allow": True}})
    assert (good.error, good.warnings) == (None, [])
    bad = check_value("HTTP_FILTER", {"name": "authz", "typed_config": {"@type": url, "failure_mode_allow": "yes"}})
    assert bad.error is not None and bad.error[1] == "typed_config.failure_mode_allow"
    assert "can't unmarshal Any nested proto" in bad.error[0]


def test_v2_and_unknown_types_are_unknown_references() -> None:
    """Envoy's v2 API is not in Istio's registry even though the wheel ships it: Istio's v3 hint; others plain."""
    v2 = {"typed_config": {"@type": "type.googleapis.com/envoy.config.filter.network.ext_authz.v2.ExtAuthz"}}
    outcome = check_value("NETWORK_FILTER", v2)
    assert outcome.error is not None
    assert outcome.error[0].startswith("referenced type unknown (hint: try using the v3 XDS API): Envoy filter:")
    other = check_value("NETWORK_FILTER", {"typed_config": {"@type": "type.googleapis.com/shop.v3.Filter"}})
    assert other.error is not None and other.error[0].startswith("referenced type unknown: Envoy filter:")
    missing = check_value("NETWORK_FILTER", {"typed_config": {"name": "x"}})
    assert missing.error is not None and "Any JSON doesn't have '@type'" in missing.error[0]


def test_registry_rule() -> None:
    """Istio knows Envoy v3 and the udpa/xds/protobuf types, not Envoy v2."""
    assert istio_knows("envoy.config.cluster.v3.Cluster")
    assert istio_knows("envoy.extensions.filters.http.golang.v3alpha.Config")
    assert istio_knows("udpa.type.v1.TypedStruct") and istio_knows("google.protobuf.Struct")
    assert not istio_knows("envoy.api.v2.Cluster") and not istio_knows("envoy.config.filter.http.fault.v2.HTTPFault")


def test_filters_named_without_typed_config_are_warned() -> None:
    """Istio's deprecation warning lists objects that have a typed_config field and leave it (and ECDS) unset."""
    outcome = check_value("NETWORK_FILTER", {"name": "envoy.filters.network.tcp_proxy"})
    assert outcome.warnings == [
        ("using deprecated types by name without typed_config; envoy.filters.network.tcp_proxy", "")
    ]
    ecds = check_value("HTTP_FILTER", {"name": "f", "config_discovery": {"type_urls": ["type.googleapis.com/x.Y"]}})
    assert ecds.warnings == []
    nested = check_value("CLUSTER", {"name": "c", "transport_socket": {"name": "envoy.transport_sockets.tls"}})
    assert nested.warnings == [("using deprecated types by name without typed_config; envoy.transport_sockets.tls", "")]


@pytest.mark.parametrize(("value", "ok"), [("80", True), (80.0, True), ("8.0", False), ("080", False), ("1e2", False)])
def test_a_quoted_integer_must_be_json_integer_syntax(value: object, ok: bool) -> None:
    """jsonpb strips the quotes, then Go's decoder reads an integer: "80" and 80.0 pass, "8.0" and "080" do not."""
    outcome = check_value("CLUSTER", {"per_connection_buffer_limit_bytes": value})
    assert (outcome.error is None) is ok


def test_nulls_decode_as_unset() -> None:
    """A null field, list item or map value is left unset by Go's decoder: no error."""
    value = {"name": None, "internal_only_headers": [None, "x-internal"], "virtual_hosts": [None]}
    assert check_value("ROUTE_CONFIGURATION", value).error is None
