"""Proto-JSON → Any conversion, its content-keyed cache and its error messages."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from google.protobuf import any_pb2

from mizzen.xds import types
from mizzen.xds.encode import Encoder, message_class
from mizzen.xds.errors import EncodeError
from mizzen.xds.testing import cluster, listener


def unpack(data: bytes, cls: type) -> object:
    wrapper = any_pb2.Any.FromString(data)
    msg = cls()
    assert wrapper.Unpack(msg)
    return msg


def test_encodes_to_any_with_type_url() -> None:
    """The result is a serialized Any of the type URL's message, with nested @type Anys resolved."""
    out = Encoder().encode(types.LISTENER, {"l1": listener("l1", 15001, "r1")})
    wrapper = any_pb2.Any.FromString(out["l1"])
    assert wrapper.type_url == types.LISTENER
    msg = unpack(out["l1"], listener_pb2.Listener)
    assert isinstance(msg, listener_pb2.Listener)
    assert msg.filter_chains[0].filters[0].typed_config.type_url.endswith("HttpConnectionManager")


def test_camel_case_and_snake_case_are_equivalent() -> None:
    """camelCase and snake_case field names give identical bytes."""
    enc = Encoder()
    snake = enc.encode_one(types.CLUSTER, "c", {"name": "c", "connect_timeout": "2s"})
    camel = enc.encode_one(types.CLUSTER, "c", {"name": "c", "connectTimeout": "2s"})
    assert snake == camel


def test_identical_content_is_parsed_once_and_shared() -> None:
    """Equal dicts built alike return the very same bytes object from the cache."""
    enc = Encoder()
    first = enc.encode_one(types.CLUSTER, "a", cluster("a"))
    second = enc.encode_one(types.CLUSTER, "a", cluster("a"))
    assert first is second
    assert (enc.hits, enc.misses) == (1, 1)


def test_other_key_order_gives_equal_bytes() -> None:
    """Equal content in another key order misses the cache but serializes to equal bytes."""
    enc = Encoder()
    first = enc.encode_one(types.CLUSTER, "a", cluster("a"))
    second = enc.encode_one(types.CLUSTER, "a", dict(reversed(list(cluster("a").items()))))
    assert first == second
    assert (enc.hits, enc.misses) == (0, 2)


def test_values_of_other_types_are_other_keys() -> None:
    """1 == True in Python, not in a resource: after 1 was encoded, True is not served from the cache."""
    enc = Encoder()
    enc.encode_one(types.CLUSTER, "a", {**cluster("a"), "per_connection_buffer_limit_bytes": 1})
    with pytest.raises(EncodeError, match="Bool value True is not acceptable"):
        enc.encode_one(types.CLUSTER, "a", {**cluster("a"), "per_connection_buffer_limit_bytes": True})
    assert enc.hits == 0


def test_non_json_content_is_refused() -> None:
    """A set is marshal-able but not JSON: the resource is refused, naming it."""
    with pytest.raises(EncodeError, match=r"Cluster 'a' is not JSON-shaped"):
        Encoder().encode_one(types.CLUSTER, "a", {**cluster("a"), "dns_resolvers": {1, 2}})
    with pytest.raises(EncodeError, match=r"Cluster 'a' is not JSON-shaped"):
        Encoder().encode_one(types.CLUSTER, "a", {**cluster("a"), "metadata": object()})


def test_str_subclass_values_encode_uncached() -> None:
    """An Enum-like str subclass is JSON-shaped but not marshal-able: it encodes, to plain-str bytes, uncached."""

    class Name(str):
        pass

    enc = Encoder()
    plain = Encoder().encode_one(types.CLUSTER, "a", cluster("a"))
    for _ in range(2):
        assert enc.encode_one(types.CLUSTER, "a", {**cluster("a"), "name": Name("a")}) == plain
    assert (enc.hits, enc.misses, len(enc)) == (0, 2, 0)


def test_cache_is_bounded() -> None:
    """The cache evicts least recently used entries beyond its size."""
    enc = Encoder(max_entries=2)
    for name in ("a", "b", "c"):
        enc.encode_one(types.CLUSTER, name, cluster(name))
    assert len(enc) == 2


def test_parse_error_names_the_resource() -> None:
    """A dict that does not parse raises EncodeError naming type, resource and field."""
    with pytest.raises(EncodeError, match=r"Cluster 'bad' does not parse: .*connect_timeout"):
        Encoder().encode(types.CLUSTER, {"bad": {"name": "bad", "connect_timeout": "soon"}})


def test_unknown_nested_type_is_an_error() -> None:
    """An @type that is not a known proto is reported, not silently dropped."""
    body = {
        "name": "l",
        "filter_chains": [
            {"filters": [{"name": "x", "typed_config": {"@type": "type.googleapis.com/envoy.nothing.v3.Nope"}}]}
        ],
    }
    with pytest.raises(EncodeError, match="'l'"):
        Encoder().encode(types.LISTENER, {"l": body})


def test_name_must_match_key_and_is_filled_when_missing() -> None:
    """The map key is the resource name: a different name is an error, a missing one is filled in."""
    enc = Encoder()
    with pytest.raises(EncodeError, match="keyed 'a' has name 'b'"):
        enc.encode(types.CLUSTER, {"a": {"name": "b"}})
    msg = unpack(enc.encode_one(types.CLUSTER, "a", {"connect_timeout": "1s"}), cluster_pb2.Cluster)
    assert isinstance(msg, cluster_pb2.Cluster) and msg.name == "a"
    cla = enc.encode_one(types.ENDPOINT, "a", {"endpoints": []})
    assert b"\n\x01a" in cla


def test_unknown_type_url_is_an_error() -> None:
    """Encoding for an unknown type URL raises EncodeError."""
    with pytest.raises(EncodeError, match="unknown resource type"):
        message_class("type.googleapis.com/no.such.Type")


@pytest.mark.parametrize(
    "type_name",
    [
        "envoy.extensions.filters.http.fault.v3.HTTPFault",
        "envoy.extensions.filters.http.cors.v3.Cors",
        "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
        "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig",
        "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig",
        "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
        "envoy.extensions.filters.http.health_check.v3.HealthCheck",
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "envoy.config.trace.v3.ZipkinConfig",
        "envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
        "envoy.extensions.filters.http.rbac.v3.RBAC",
    ],
)
def test_extension_types_resolve(type_name: str) -> None:
    """The Envoy extensions the translator uses resolve as nested Any types."""
    assert message_class("type.googleapis.com/" + type_name).DESCRIPTOR.full_name == type_name


def test_the_slow_path_leaves_the_content_as_it_was() -> None:
    """json_format (the fallback) moves an Any's "@type" to the end of the dict it parses: it gets a copy,
    so output shared with other resources keeps its key order."""
    logger = {"@type": "type.googleapis.com/envoy.extensions.access_loggers.stats.v3.Config", "stat_prefix": "x"}
    wkt = {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {}}  # the fast path refuses it
    filters = [{"name": "a", "typed_config": logger}, {"name": "b", "typed_config": wkt}]
    listener = {"name": "l", "filter_chains": [{"filters": filters}]}
    Encoder().encode_one(types.LISTENER, "l", listener)
    assert list(logger) == ["@type", "stat_prefix"]
