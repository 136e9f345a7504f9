"""Helpers for the security builder tests: policies from YAML, the builders wired as part 2 will wire
them for one inbound port, and proto parsing of what they return."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import envoy.extensions.filters.http.jwt_authn.v3.config_pb2
import envoy.extensions.filters.http.rbac.v3.rbac_pb2
import envoy.extensions.filters.http.router.v3.router_pb2
import envoy.extensions.filters.listener.tls_inspector.v3.tls_inspector_pb2
import envoy.extensions.filters.network.rbac.v3.rbac_pb2
import envoy.extensions.filters.network.tcp_proxy.v3.tcp_proxy_pb2
import envoy.extensions.path.match.uri_template.v3.uri_template_match_pb2
import envoy.extensions.transport_sockets.raw_buffer.v3.raw_buffer_pb2
import envoy.extensions.transport_sockets.tls.v3.tls_pb2  # noqa: F401
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from mizzen.config.loader import load_text
from mizzen.config.models import AuthorizationPolicy, DestinationRule, PeerAuthentication, RequestAuthentication
from mizzen.config.resource import Resource
from mizzen.simulate.rbac import Decision, Peer, Request, evaluate_http, evaluate_tcp
from mizzen.translate.security.authz import http_rbac_filters, tcp_rbac_filters
from mizzen.translate.security.jwt import inbound_http_security_filters, jwt_authn_filter
from mizzen.translate.security.policy import JSON, Policy, Workload, policies_of
from mizzen.translate.security.rbac_rules import Context
from mizzen.translate.security.selection import authorization_policies_for, request_authentications_for

ROOT = "istio-system"
HTTPBIN = Workload("foo", {"app": "httpbin", "version": "v1"})


def resources(text: str) -> list[Resource]:
    """Resources from YAML (documents in order stand for creation order)."""
    result = load_text(text, file="<test>")
    assert not result.report.errors, [str(v) for v in result.report.errors]
    return list(result.resources)


def peer_authns(text: str) -> tuple[Policy[PeerAuthentication], ...]:
    return policies_of([r for r in resources(text) if r.kind == "PeerAuthentication"], PeerAuthentication)


def authz(text: str) -> tuple[Policy[AuthorizationPolicy], ...]:
    return policies_of([r for r in resources(text) if r.kind == "AuthorizationPolicy"], AuthorizationPolicy)


def request_authns(text: str) -> tuple[Policy[RequestAuthentication], ...]:
    return policies_of([r for r in resources(text) if r.kind == "RequestAuthentication"], RequestAuthentication)


def destination_rule(text: str) -> DestinationRule:
    (dr,) = policies_of([r for r in resources(text) if r.kind == "DestinationRule"], DestinationRule)
    return dr.spec


def no_cluster(host: str, port: int) -> str | None:
    """A cluster lookup for a mesh with no services."""
    return None


def security_filters(
    text: str,
    workload: Workload = HTTPBIN,
    *,
    tcp: bool = False,
    ctx: Context | None = None,
    lookup: Mapping[tuple[str, int], str] | None = None,
) -> list[JSON]:
    """The inbound security filters the builders produce for ``workload`` from the policies in ``text``."""
    ctx = ctx or Context(policy_namespace=workload.namespace)
    selected = authorization_policies_for(authz(text), workload, ROOT)
    if tcp:
        return list(tcp_rbac_filters(selected, ctx).filters)
    ras = request_authentications_for(request_authns(text), workload, ROOT)
    clusters = dict(lookup or {})
    jwt = jwt_authn_filter(ras, lambda h, p: clusters.get((h, p)))
    return inbound_http_security_filters(http_rbac_filters(selected, ctx), jwt)


def decide(text: str, request: Request, peer: Peer | None = None, **kw: object) -> Decision:
    """Build the filters for ``text`` and evaluate ``request`` from ``peer`` through them."""
    tcp = bool(kw.pop("tcp", False))
    filters = security_filters(text, tcp=tcp, **kw)  # type: ignore[arg-type]
    for f in filters:
        parse_filter(f, tcp=tcp)
    return evaluate_tcp(filters, request, peer) if tcp else evaluate_http(filters, request, peer)


def parse(message: type[Message], value: Mapping[str, object]) -> Message:
    """Parse proto-JSON into an Envoy message (unknown fields and bad types raise). The value is copied:
    protobuf's parser reorders ``@type`` keys in place."""
    return json_format.ParseDict(copy.deepcopy(dict(value)), message())


def parse_filter(value: Mapping[str, object], *, tcp: bool = False) -> Message:
    """An HTTP filter (or a network filter for TCP), its typed config resolved."""
    kind = listener_components_pb2.Filter if tcp else http_connection_manager_pb2.HttpFilter
    return parse(kind, value)


def parse_chains(chains: Sequence[Mapping[str, object]]) -> list[Message]:
    return [parse(listener_components_pb2.FilterChain, c) for c in chains]


def parse_cluster_fields(fields: Mapping[str, object]) -> Message:
    """Cluster fields (transport socket or matches) inside a minimal cluster."""
    return parse(cluster_pb2.Cluster, {"name": "c", **fields})


def parse_lb_endpoint(value: Mapping[str, object]) -> Message:
    return parse(endpoint_components_pb2.LbEndpoint, value)
