"""VirtualService: HTTP, TLS and TCP routing rules for a set of hosts (``networking.istio.io``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mizzen.config.models.common import Destination, Percent, StringMatch
from mizzen.config.schema import Duration, UInt32, fld


@dataclass(frozen=True)
class HeaderOperations:
    """Header edits: set overwrites, add appends, remove deletes."""

    set: Mapping[str, str] = fld(dict)
    add: Mapping[str, str] = fld(dict)
    remove: tuple[str, ...] = fld(())


@dataclass(frozen=True)
class Headers:
    """Request and response header edits."""

    request: HeaderOperations | None = fld()
    response: HeaderOperations | None = fld()


@dataclass(frozen=True)
class HTTPMatchRequest:
    """Conditions of one match entry (AND within, OR across entries)."""

    name: str | None = fld()
    uri: StringMatch | None = fld()
    scheme: StringMatch | None = fld()
    method: StringMatch | None = fld()
    authority: StringMatch | None = fld()
    headers: Mapping[str, StringMatch] = fld(dict)
    port: UInt32 | None = fld()
    source_labels: Mapping[str, str] = fld(dict)
    gateways: tuple[str, ...] = fld(())
    query_params: Mapping[str, StringMatch] = fld(dict)
    ignore_uri_case: bool | None = fld()
    without_headers: Mapping[str, StringMatch] = fld(dict)
    source_namespace: str | None = fld()
    stat_prefix: str | None = fld()


@dataclass(frozen=True)
class HTTPRouteDestination:
    """A weighted destination of an HTTP route."""

    destination: Destination | None = fld(required=True)
    weight: int | None = fld()
    headers: Headers | None = fld()


@dataclass(frozen=True)
class HTTPRedirect:
    """A redirect response instead of forwarding."""

    uri: str | None = fld()
    authority: str | None = fld()
    port: UInt32 | None = fld(oneof="redirect_port")
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = fld(oneof="redirect_port")
    scheme: str | None = fld()
    redirect_code: UInt32 | None = fld()
    prefix_rewrite: str | None = fld()


@dataclass(frozen=True)
class HTTPBody:
    """A direct-response body, as text or base64 bytes."""

    string: str | None = fld(oneof="specifier")
    bytes: str | None = fld(oneof="specifier")


@dataclass(frozen=True)
class HTTPDirectResponse:
    """A fixed response instead of forwarding."""

    status: UInt32 = fld(0, required=True)
    body: HTTPBody | None = fld()


@dataclass(frozen=True)
class Delegate:
    """A reference to a delegate VirtualService."""

    name: str | None = fld()
    namespace: str | None = fld()


@dataclass(frozen=True)
class RegexRewrite:
    """A regex path rewrite (RE2)."""

    match: str | None = fld()
    rewrite: str | None = fld()


@dataclass(frozen=True)
class HTTPRewrite:
    """Path/authority rewrite before forwarding."""

    uri: str | None = fld()
    authority: str | None = fld()
    uri_regex_rewrite: RegexRewrite | None = fld()


@dataclass(frozen=True)
class HTTPRetry:
    """Retry policy of an HTTP route."""

    attempts: int | None = fld()
    per_try_timeout: Duration | None = fld()
    retry_on: str | None = fld()
    retry_remote_localities: bool | None = fld()
    retry_ignore_previous_hosts: bool | None = fld()
    backoff: Duration | None = fld()


@dataclass(frozen=True)
class FaultDelay:
    """Delay injection."""

    fixed_delay: Duration | None = fld(oneof="http_delay_type")
    exponential_delay: Duration | None = fld(oneof="http_delay_type")
    percentage: Percent | None = fld()
    percent: int | None = fld(deprecated="use percentage")


@dataclass(frozen=True)
class FaultAbort:
    """Abort injection."""

    http_status: int | None = fld(oneof="error_type")
    grpc_status: str | None = fld(oneof="error_type")
    http2_error: str | None = fld(oneof="error_type")
    percentage: Percent | None = fld()


@dataclass(frozen=True)
class HTTPFaultInjection:
    """Fault injection on the client side."""

    delay: FaultDelay | None = fld()
    abort: FaultAbort | None = fld()


@dataclass(frozen=True)
class HTTPMirrorPolicy:
    """One mirror destination with its share."""

    destination: Destination | None = fld(required=True)
    percentage: Percent | None = fld()


@dataclass(frozen=True)
class CorsPolicy:
    """CORS settings of a route."""

    allow_origin: tuple[str, ...] = fld((), deprecated="use allowOrigins")
    allow_origins: tuple[StringMatch, ...] = fld(())
    allow_methods: tuple[str, ...] = fld(())
    allow_headers: tuple[str, ...] = fld(())
    expose_headers: tuple[str, ...] = fld(())
    max_age: Duration | None = fld()
    allow_credentials: bool | None = fld()
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = fld()


@dataclass(frozen=True)
class HTTPRoute:
    """One HTTP rule: conditions and an action (route, redirect, directResponse or delegate)."""

    name: str | None = fld()
    match: tuple[HTTPMatchRequest, ...] = fld(())
    route: tuple[HTTPRouteDestination, ...] = fld(())
    redirect: HTTPRedirect | None = fld()
    direct_response: HTTPDirectResponse | None = fld()
    delegate: Delegate | None = fld()
    rewrite: HTTPRewrite | None = fld()
    timeout: Duration | None = fld()
    retries: HTTPRetry | None = fld()
    fault: HTTPFaultInjection | None = fld()
    mirror: Destination | None = fld()
    mirrors: tuple[HTTPMirrorPolicy, ...] = fld(())
    mirror_percent: UInt32 | None = fld(deprecated="use mirrorPercentage")
    mirror_percentage: Percent | None = fld()
    cors_policy: CorsPolicy | None = fld()
    headers: Headers | None = fld()


@dataclass(frozen=True)
class L4MatchAttributes:
    """Conditions of a TCP rule."""

    destination_subnets: tuple[str, ...] = fld(())
    port: UInt32 | None = fld()
    source_labels: Mapping[str, str] = fld(dict)
    gateways: tuple[str, ...] = fld(())
    source_namespace: str | None = fld()
    source_subnet: str | None = fld()


@dataclass(frozen=True)
class RouteDestination:
    """A weighted destination of a TCP/TLS route."""

    destination: Destination | None = fld(required=True)
    weight: int | None = fld()


@dataclass(frozen=True)
class TCPRoute:
    """One TCP rule."""

    match: tuple[L4MatchAttributes, ...] = fld(())
    route: tuple[RouteDestination, ...] = fld(())


@dataclass(frozen=True)
class TLSMatchAttributes:
    """Conditions of a TLS (SNI) rule."""

    sni_hosts: tuple[str, ...] = fld((), required=True)
    destination_subnets: tuple[str, ...] = fld(())
    port: UInt32 | None = fld()
    source_labels: Mapping[str, str] = fld(dict)
    gateways: tuple[str, ...] = fld(())
    source_namespace: str | None = fld()


@dataclass(frozen=True)
class TLSRoute:
    """One TLS passthrough rule."""

    match: tuple[TLSMatchAttributes, ...] = fld(())
    route: tuple[RouteDestination, ...] = fld(())


@dataclass(frozen=True)
class VirtualService:
    """The spec of a VirtualService."""

    hosts: tuple[str, ...] = fld(())
    gateways: tuple[str, ...] = fld(())
    http: tuple[HTTPRoute, ...] = fld(())
    tls: tuple[TLSRoute, ...] = fld(())
    tcp: tuple[TCPRoute, ...] = fld(())
    export_to: tuple[str, ...] = fld(())
