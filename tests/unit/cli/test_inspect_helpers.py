"""Pure pieces of proxy-status / proxy-config: ordering, domains, hidden routes, log levels, NACK lines."""

import click
import pytest

from mizzen.cli import configdump as cd
from mizzen.cli.describe import GatewayProxy, World, configs_in_use, describe_workload
from mizzen.cli.inspect_cmds import log_params, nack_lines


def test_cluster_rows_sort_like_istioctl() -> None:
    """Inbound (empty FQDN) first, capitalised names before lower case, then port, subset, direction."""
    rows = [
        ("reviews.default.svc.cluster.local", "9080", "v2", "outbound", "EDS", ""),
        ("reviews.default.svc.cluster.local", "9080", "-", "outbound", "EDS", ""),
        ("agent", "-", "-", "-", "STATIC", ""),
        ("BlackHoleCluster", "-", "-", "-", "STATIC", ""),
        ("", "9080", "-", "inbound", "STATIC", ""),
    ]
    assert [r[0] + r[2] for r in cd.sort_cluster_rows(rows)] == [
        "-",
        "BlackHoleCluster-",
        "agent-",
        "reviews.default.svc.cluster.local-",
        "reviews.default.svc.cluster.localv2",
    ]


def test_domains_drop_ports_and_svc_duplicates() -> None:
    """Port-suffixed and .svc domains collapse to istioctl's 'reviews, reviews.default + 1 more...'."""
    vh = {
        "name": "reviews.default.svc.cluster.local:9080",
        "routes": [{"match": {"prefix": "/"}}],
        "domains": [
            "reviews.default.svc.cluster.local:9080",
            "reviews:9080",
            "reviews.default:9080",
            "reviews.default.svc:9080",
        ],
    }
    rows = cd.route_rows([{"name": "http_proxy", "virtual_hosts": [vh]}])
    assert rows[0][2] == "reviews, reviews.default + 1 more..."
    one = {**vh, "domains": ["*"]}
    assert cd.route_rows([{"name": "x", "virtual_hosts": [one]}])[0][2] == "*"


def test_passthrough_routes_are_hidden_but_empty_vhosts_show_404() -> None:
    """The allow_any catch-all is not listed; a vhost without routes shows istioctl's 404 row."""
    rc = {
        "name": "http_proxy",
        "virtual_hosts": [
            {
                "name": "allow_any",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster"}}],
            },
            {"name": "block", "domains": ["*"], "routes": []},
        ],
    }
    assert cd.route_rows([rc]) == [("http_proxy", "block", "*", "/*", "404")]


def test_endpoints_sort_by_address_then_port() -> None:
    """Endpoint rows come out ordered by address and numeric port."""

    def host(port: int) -> dict:
        return {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}

    data = {
        "cluster_statuses": [
            {"name": "b", "host_statuses": [host(9000)]},
            {"name": "a", "host_statuses": [host(10000), host(800)]},
        ]
    }
    assert [r[0] for r in cd.endpoint_rows(data)] == ["127.0.0.1:800", "127.0.0.1:9000", "127.0.0.1:10000"]


def test_log_params_accept_level_or_logger_pairs() -> None:
    """--level debug sets every logger; router:trace,http:info names loggers; unknown levels are usage errors."""
    assert log_params("debug") == {"level": "debug"}
    assert log_params("router:trace,http:info") == {"paths": "router:trace,http:info"}
    for bad in ("loud", "router:loud", ":debug", "debug,router:info"):
        with pytest.raises(click.BadParameter):
            log_params(bad)


def test_nack_lines_name_the_type_version_and_message() -> None:
    """Only ERROR types with a message produce a line."""
    view = {
        "xds": {
            "RDS": {"status": "ERROR", "versionSent": "7", "lastError": "bad regex"},
            "CDS": {"status": "SYNCED", "lastError": ""},
        }
    }
    assert nack_lines(view) == ["RDS ERROR: Envoy rejected version 7: bad regex"]
    assert nack_lines({"xds": {}}) == []


def _gateway_world(gateways: list[GatewayProxy], target_port: int | None) -> World:
    ports = [{"name": "http2", "port": 8080, **({"targetPort": target_port} if target_port else {})}]
    objs = {
        "Service": [
            {
                "metadata": {"name": "productpage", "namespace": "default"},
                "spec": {"selector": {"app": "productpage"}, "ports": [{"name": "http", "port": 9080}]},
            },
            {
                "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
                "spec": {"selector": {"istio": "ingressgateway"}, "ports": ports},
            },
        ],
        "WorkloadEntry": [
            {
                "metadata": {"name": "productpage-v1", "namespace": "default"},
                "spec": {"address": "127.0.0.1", "labels": {"app": "productpage"}},
            }
        ],
        "Gateway": [
            {
                "metadata": {"name": "gw", "namespace": "default"},
                "spec": {
                    "selector": {"istio": "ingressgateway"},
                    "servers": [{"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["*"]}],
                },
            }
        ],
        "VirtualService": [
            {
                "metadata": {"name": "bookinfo", "namespace": "default"},
                "spec": {
                    "hosts": ["*"],
                    "gateways": ["gw"],
                    "http": [
                        {
                            "match": [{"uri": {"exact": "/productpage"}}],
                            "route": [{"destination": {"host": "productpage"}}],
                        }
                    ],
                },
            }
        ],
    }
    return World(objects=objs, gateways=gateways)


def test_gateway_url_uses_the_service_target_port() -> None:
    """The running gateway's URL follows Istio's port translation through its Service's targetPort."""
    gw = GatewayProxy("istio-system", {"istio": "ingressgateway"}, "127.0.0.2")
    text = describe_workload(_gateway_world([gw], 18080), "productpage-v1", "default")
    assert "Exposed on Ingress Gateway http://127.0.0.2:18080" in text
    text = describe_workload(_gateway_world([gw], None), "productpage-v1", "default")
    assert "Exposed on Ingress Gateway http://127.0.0.2:8080" in text


def test_no_running_gateway_skips_gateway_information() -> None:
    """Without a gateway that the Gateway selects, describe says so as istioctl does."""
    other = GatewayProxy("istio-system", {"istio": "egressgateway"})
    for gateways in ([], [other]):
        text = describe_workload(_gateway_world(gateways, None), "productpage-v1", "default")
        assert "Skipping Gateway information (no ingress gateway pods)" in text
        assert "Exposed on" not in text


def _meta(kind: str, name: str) -> dict:
    return {"filter_metadata": {"istio": {"config": f"/apis/networking.istio.io/v1/namespaces/default/{kind}/{name}"}}}


HOST = "reviews.default.svc.cluster.local"
REVIEWS_DUMP = {
    "configs": [
        {
            "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
            "dynamic_active_clusters": [
                {"cluster": {"name": f"outbound|9080|v1|{HOST}", "metadata": _meta("destination-rule", "reviews")}},
                {
                    "cluster": {
                        "name": "outbound|9080||ratings.default.svc.cluster.local",
                        "metadata": _meta("destination-rule", "ratings"),
                    }
                },
            ],
        },
        {
            "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
            "dynamic_route_configs": [
                {
                    "route_config": {
                        "name": "http_proxy",
                        "virtual_hosts": [
                            {"name": f"{HOST}:9080", "routes": [{"metadata": _meta("virtual-service", "reviews-old")}]},
                            {
                                "name": "ratings.default.svc.cluster.local:9080",
                                "routes": [{"metadata": _meta("virtual-service", "ratings")}],
                            },
                        ],
                    }
                }
            ],
        },
    ]
}


def test_configs_in_use_come_from_the_proxy_dump() -> None:
    """The DR comes from the host's outbound clusters, the VSs from its host:port virtual host."""
    assert configs_in_use(REVIEWS_DUMP, HOST, [9080]) == (["reviews.default"], ["reviews-old.default"])
    assert configs_in_use(REVIEWS_DUMP, HOST, [9081]) == ([], [])


def test_describe_with_dump_uses_what_the_proxy_holds_and_flags_stale_refs() -> None:
    """A VS the proxy still uses but the store no longer has is reported as istioctl's stale-proxy warning;
    a stored VS the proxy does not use is not described."""
    objs = {
        "Service": [
            {
                "metadata": {"name": "reviews", "namespace": "default"},
                "spec": {"selector": {"app": "reviews"}, "ports": [{"name": "http", "port": 9080}]},
            }
        ],
        "WorkloadEntry": [
            {
                "metadata": {"name": "reviews-v1", "namespace": "default"},
                "spec": {"labels": {"app": "reviews", "version": "v1"}},
            }
        ],
        "DestinationRule": [
            {
                "metadata": {"name": "reviews", "namespace": "default"},
                "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]},
            }
        ],
        "VirtualService": [
            {
                "metadata": {"name": "reviews-new", "namespace": "default"},
                "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]},
            }
        ],
    }
    world = World(objects=objs, dumps={"reviews-v1.default": REVIEWS_DUMP})
    text = describe_workload(world, "reviews-v1", "default")
    assert "WARNING: Proxy is stale; it references to non-existent virtual service reviews-old.default" in text
    assert 'DestinationRule: reviews for "reviews"' in text
    assert "reviews-new" not in text
    assert "VirtualService: reviews-new" in describe_workload(World(objects=objs), "reviews-v1", "default")


def test_listener_type_from_terminal_filters() -> None:
    """An HTTP connection manager makes HTTP, a TCP proxy TCP, both HTTP+TCP."""

    def chain(name: str) -> dict:
        return {"filters": [{"name": name}]}

    hcm, tcp = "envoy.filters.network.http_connection_manager", "envoy.filters.network.tcp_proxy"
    assert cd.listener_type({"filter_chains": [chain(hcm)]}) == "HTTP"
    assert cd.listener_type({"filter_chains": [chain(tcp)]}) == "TCP"
    assert cd.listener_type({"filter_chains": [chain(tcp), chain(hcm)]}) == "HTTP+TCP"
