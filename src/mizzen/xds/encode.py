"""Proto-JSON dicts → serialized ``google.protobuf.Any`` bytes, parsed and serialized once per distinct content.

The translator emits Envoy v3 resources in the canonical JSON mapping (snake_case or camelCase field
names, nested ``Any`` values carrying ``"@type"``). :func:`encode` turns them into the bytes an ADS
response carries. Many proxies share most of their resources (the same cluster for ``reviews`` is in
every sidecar that can reach it), so results are kept in a bounded cache keyed by the resource's
content: identical content is parsed and serialized once, and every proxy then shares the very same
``bytes`` object (which also makes equality checks on it an identity check).

The cache key is the content's ``marshal`` form (format version 2, which writes no back-references, so it
depends on values and order only): ~10x cheaper to compute than JSON text, and as exact, since equal keys
unmarshal to equal values of equal types. The key only ever lives in memory: nothing is unmarshalled.
It is kept as the SHA-256 digest of that form, not the form itself: a sidecar's own listeners are
several KB of marshal each and nobody else's, and the full forms were 40 KB of cache per proxy. The
digest costs ~0.6 us per KB (a third of the marshal, measured on a golden listener).
Content equal but built in another key order misses the cache and gets equal bytes of its own (the
translator builds equal content in one order). Every push computes a key for every resource of every
proxy, so its cost matters: with 50 proxies the JSON keys were a quarter of the control plane's CPU per push.

Nested ``Any`` values only resolve if their message type is in the default descriptor pool, so this module
imports every Envoy extension the translator may reference (:data:`EXTENSION_MODULES`), on first need:
:func:`import_extensions`.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import logging
import marshal
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any as AnyType

from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory

from mizzen.xds import dictproto
from mizzen.xds.errors import EncodeError

log = logging.getLogger(__name__)

_TYPE_PREFIX = "type.googleapis.com/"

# Every Envoy proto a translator may put in a nested Any (filters, transport sockets, access loggers,
# tracers, cluster and upstream extensions). Importing a module registers its messages in the default
# descriptor pool, which is what json_format uses to resolve "@type".
_EXTENSION_PATHS = """
config/cluster/v3/cluster_pb2 config/endpoint/v3/endpoint_pb2 config/listener/v3/listener_pb2
config/route/v3/route_pb2 config/core/v3/base_pb2 config/rbac/v3/rbac_pb2 config/trace/v3/zipkin_pb2
config/trace/v3/opentelemetry_pb2 service/discovery/v3/ads_pb2
extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb2
extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb2 extensions/filters/network/rbac/v3/rbac_pb2
extensions/filters/network/connection_limit/v3/connection_limit_pb2
extensions/filters/network/local_ratelimit/v3/local_rate_limit_pb2
extensions/filters/network/ext_authz/v3/ext_authz_pb2 extensions/filters/network/direct_response/v3/config_pb2
extensions/filters/network/sni_cluster/v3/sni_cluster_pb2 extensions/filters/network/redis_proxy/v3/redis_proxy_pb2
extensions/filters/network/sni_dynamic_forward_proxy/v3/sni_dynamic_forward_proxy_pb2
extensions/filters/network/mongo_proxy/v3/mongo_proxy_pb2 extensions/filters/network/wasm/v3/wasm_pb2
extensions/filters/http/router/v3/router_pb2 extensions/filters/http/fault/v3/fault_pb2
extensions/filters/http/cors/v3/cors_pb2 extensions/filters/http/rbac/v3/rbac_pb2
extensions/filters/http/health_check/v3/health_check_pb2 extensions/filters/http/grpc_stats/v3/config_pb2
extensions/filters/http/dynamic_forward_proxy/v3/dynamic_forward_proxy_pb2
extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb2 extensions/filters/http/lua/v3/lua_pb2
extensions/filters/http/header_to_metadata/v3/header_to_metadata_pb2 extensions/filters/http/jwt_authn/v3/config_pb2
extensions/filters/http/ext_authz/v3/ext_authz_pb2 extensions/filters/http/grpc_web/v3/grpc_web_pb2
extensions/filters/http/compressor/v3/compressor_pb2 extensions/filters/http/decompressor/v3/decompressor_pb2
extensions/filters/http/buffer/v3/buffer_pb2 extensions/filters/http/set_metadata/v3/set_metadata_pb2
extensions/filters/http/header_mutation/v3/header_mutation_pb2
extensions/filters/http/stateful_session/v3/stateful_session_pb2 extensions/filters/http/ratelimit/v3/rate_limit_pb2
extensions/filters/http/original_src/v3/original_src_pb2 extensions/filters/http/wasm/v3/wasm_pb2
extensions/filters/http/on_demand/v3/on_demand_pb2 extensions/filters/http/csrf/v3/csrf_pb2
extensions/filters/http/kill_request/v3/kill_request_pb2 extensions/filters/http/grpc_http1_bridge/v3/config_pb2
extensions/filters/http/adaptive_concurrency/v3/adaptive_concurrency_pb2
extensions/filters/http/admission_control/v3/admission_control_pb2
extensions/filters/http/bandwidth_limit/v3/bandwidth_limit_pb2
extensions/filters/http/custom_response/v3/custom_response_pb2
extensions/filters/http/basic_auth/v3/basic_auth_pb2 extensions/filters/http/oauth2/v3/oauth_pb2
extensions/filters/http/ext_proc/v3/ext_proc_pb2 extensions/filters/http/cdn_loop/v3/cdn_loop_pb2
extensions/filters/http/composite/v3/composite_pb2 extensions/filters/http/tap/v3/tap_pb2
extensions/filters/http/alternate_protocols_cache/v3/alternate_protocols_cache_pb2
extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb2 extensions/filters/http/gzip/v3/gzip_pb2
extensions/filters/http/connect_grpc_bridge/v3/config_pb2
extensions/filters/http/set_filter_state/v3/set_filter_state_pb2
extensions/filters/common/fault/v3/fault_pb2
extensions/filters/listener/original_dst/v3/original_dst_pb2
extensions/filters/listener/tls_inspector/v3/tls_inspector_pb2
extensions/filters/listener/http_inspector/v3/http_inspector_pb2
extensions/filters/listener/proxy_protocol/v3/proxy_protocol_pb2
extensions/filters/listener/original_src/v3/original_src_pb2
extensions/filters/udp/udp_proxy/v3/udp_proxy_pb2
extensions/transport_sockets/tls/v3/tls_pb2 extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb2
extensions/transport_sockets/tcp_stats/v3/tcp_stats_pb2
extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol_pb2
extensions/transport_sockets/internal_upstream/v3/internal_upstream_pb2
extensions/access_loggers/file/v3/file_pb2 extensions/access_loggers/stream/v3/stream_pb2
extensions/access_loggers/grpc/v3/als_pb2 extensions/access_loggers/open_telemetry/v3/logs_service_pb2
extensions/access_loggers/filters/cel/v3/cel_pb2 extensions/formatter/metadata/v3/metadata_pb2
extensions/access_loggers/stats/v3/stats_pb2
extensions/clusters/dynamic_forward_proxy/v3/cluster_pb2 extensions/clusters/aggregate/v3/cluster_pb2
extensions/clusters/dns/v3/dns_cluster_pb2 extensions/clusters/common/dns/v3/dns_pb2
extensions/common/dynamic_forward_proxy/v3/dns_cache_pb2
extensions/network/dns_resolver/cares/v3/cares_dns_resolver_pb2
extensions/upstreams/http/v3/http_protocol_options_pb2 extensions/upstreams/tcp/v3/tcp_protocol_options_pb2
extensions/upstreams/http/generic/v3/generic_connection_pool_pb2
extensions/upstreams/http/http/v3/http_connection_pool_pb2
extensions/upstreams/http/tcp/v3/tcp_connection_pool_pb2
extensions/retry/priority/previous_priorities/v3/previous_priorities_config_pb2
extensions/retry/host/previous_hosts/v3/previous_hosts_pb2
extensions/load_balancing_policies/ring_hash/v3/ring_hash_pb2
extensions/load_balancing_policies/round_robin/v3/round_robin_pb2
extensions/load_balancing_policies/least_request/v3/least_request_pb2
extensions/load_balancing_policies/maglev/v3/maglev_pb2 extensions/load_balancing_policies/random/v3/random_pb2
extensions/http/stateful_session/cookie/v3/cookie_pb2 extensions/http/stateful_session/header/v3/header_pb2
extensions/http/header_formatters/preserve_case/v3/preserve_case_pb2
extensions/http/original_ip_detection/xff/v3/xff_pb2
extensions/compression/gzip/compressor/v3/gzip_pb2 extensions/compression/gzip/decompressor/v3/gzip_pb2
extensions/compression/brotli/compressor/v3/brotli_pb2 extensions/compression/zstd/compressor/v3/zstd_pb2
extensions/request_id/uuid/v3/uuid_pb2 extensions/health_checkers/redis/v3/redis_pb2
extensions/health_check/event_sinks/file/v3/file_pb2
extensions/path/match/uri_template/v3/uri_template_match_pb2
extensions/path/rewrite/uri_template/v3/uri_template_rewrite_pb2
extensions/internal_redirect/previous_routes/v3/previous_routes_config_pb2
extensions/internal_redirect/allow_listed_routes/v3/allow_listed_routes_config_pb2
extensions/internal_redirect/safe_cross_scheme/v3/safe_cross_scheme_config_pb2
extensions/matching/common_inputs/network/v3/network_inputs_pb2 extensions/matching/input_matchers/ip/v3/ip_pb2
extensions/rbac/matchers/upstream_ip_port/v3/upstream_ip_port_matcher_pb2
extensions/bootstrap/internal_listener/v3/internal_listener_pb2
extensions/tracers/opentelemetry/samplers/v3/always_on_sampler_pb2
"""
EXTENSION_MODULES: tuple[str, ...] = tuple("envoy." + p.replace("/", ".") for p in _EXTENSION_PATHS.split())


_extensions_loaded = False


def import_extensions() -> None:
    """Register every extension proto, once; only done when a resource needs it (they cost ~10 MB and 0.5 s,
    which the agent, serving nothing but Secrets, never pays)."""
    global _extensions_loaded
    if _extensions_loaded:
        return
    _extensions_loaded = True
    for module in EXTENSION_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:  # an xds-protos release without this extension: others still work
            log.warning("Envoy proto module %s not importable (%s); its @type will not resolve", module, exc)


DEFAULT_CACHE_SIZE = 50_000
_MARSHAL_VERSION = 2  # the newest format without back-references (3 added them: keys would follow sharing)


def message_class(type_url: str) -> type[AnyType]:
    """The generated protobuf class for an xDS type URL (``type.googleapis.com/<full.name>``)."""
    full_name = type_url.removeprefix(_TYPE_PREFIX)
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    except KeyError:
        import_extensions()  # a resource type whose proto module nothing imported yet
        try:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
        except KeyError as exc:
            raise EncodeError(f"unknown resource type {type_url!r}") from exc
    cls: type[AnyType] = message_factory.GetMessageClass(descriptor)
    return cls


class Encoder:
    """Converts proto-JSON resources to serialized ``Any`` bytes through a bounded LRU cache.

    Thread-safe; one process-wide instance (:func:`encode`) is the normal use.
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode(self, type_url: str, resources: Mapping[str, Mapping[str, object]]) -> dict[str, bytes]:
        """Serialize every resource of one type; keys are resource names and must match the content's name."""
        return {name: self.encode_one(type_url, name, body) for name, body in resources.items()}

    def encode_one(self, type_url: str, name: str, body: Mapping[str, object]) -> bytes:
        """Serialized ``Any`` of one resource, from the cache when identical content was seen before."""
        try:
            form = marshal.dumps(body, _MARSHAL_VERSION)  # type: ignore[arg-type]
            key = (type_url, hashlib.sha256(form).digest())
        except ValueError:  # str/int subclasses, sets of them, ...: JSON decides, without the cache
            key = None
        if key is not None:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    self.hits += 1
                    return cached
        try:  # a miss: is it JSON-shaped (marshal also takes sets, bytes, ...)?
            text = json.dumps(body, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"{_short(type_url)} {name!r} is not JSON-shaped: {exc}") from exc
        if '"@type"' in text:  # a nested Any resolves only if its message type is registered
            import_extensions()
        data = _serialize(type_url, name, body)
        if key is None:  # JSON-shaped but not marshal-able (e.g. an Enum value): correct, uncached
            with self._lock:
                self.misses += 1
            return data
        with self._lock:
            self.misses += 1
            # Another thread may have raced us to the same content: keep one shared object.
            data = self._cache.setdefault(key, data)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return data

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Forget every cached resource."""
        with self._lock:
            self._cache.clear()


def _serialize(type_url: str, name: str, body: Mapping[str, object]) -> bytes:
    cls = message_class(type_url)
    msg = cls()
    try:
        dictproto.fill(msg, body)
    except (dictproto.Unsupported, TypeError, ValueError, KeyError, AttributeError):
        # The fast path is only a shortcut: json_format decides (and words any error).
        msg = cls()
        try:
            # On a copy: json_format takes an Any's "@type" out of the dict and puts it back last, and
            # translator output shares objects between resources and proxies (and keys this cache).
            json_format.ParseDict(copy.deepcopy(body), msg)
        except json_format.ParseError as exc:
            raise EncodeError(f"{_short(type_url)} {name!r} does not parse: {exc}") from exc
    _check_name(type_url, name, msg)
    value = msg.SerializeToString(deterministic=True)
    out: bytes = any_pb2.Any(type_url=type_url, value=value).SerializeToString(deterministic=True)
    return out


def _check_name(type_url: str, name: str, msg: AnyType) -> None:
    """The map key is the name Envoy subscribes by, so it must equal the resource's own name field.

    An empty name field is filled from the key (a convenience for hand-written resources).
    """
    field = "cluster_name" if "cluster_name" in msg.DESCRIPTOR.fields_by_name else "name"
    if field not in msg.DESCRIPTOR.fields_by_name:
        return
    own = getattr(msg, field)
    if not own:
        setattr(msg, field, name)
    elif own != name:
        raise EncodeError(f"{_short(type_url)} keyed {name!r} has {field} {own!r}")


def _short(type_url: str) -> str:
    return type_url.rsplit(".", 1)[-1]


_DEFAULT = Encoder()


def encode(type_url: str, resources: Mapping[str, Mapping[str, object]]) -> dict[str, bytes]:
    """Convert ``{name: proto-JSON dict}`` of one type URL to ``{name: serialized Any}`` (shared, cached)."""
    return _DEFAULT.encode(type_url, resources)
