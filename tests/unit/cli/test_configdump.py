"""proxy-config tables render Envoy admin JSON with istioctl's columns."""

from mizzen.cli import configdump as cd

DUMP = {
    "configs": [
        {
            "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
            "static_clusters": [{"cluster": {"name": "xds-grpc", "type": "STATIC"}}],
            "dynamic_active_clusters": [
                {
                    "cluster": {
                        "name": "outbound|9080|v1|reviews.default.svc.cluster.local",
                        "type": "EDS",
                        "eds_cluster_config": {},
                        "metadata": {
                            "filter_metadata": {
                                "istio": {
                                    "config": "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews",
                                    "subset": "v1",
                                }
                            }
                        },
                    }
                },
                {"cluster": {"name": "inbound|9080||", "load_assignment": {}}},
                {"cluster": {"name": "BlackHoleCluster"}},
            ],
        },
        {
            "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
            "dynamic_listeners": [
                {
                    "name": "http_proxy",
                    "active_state": {
                        "listener": {
                            "name": "http_proxy",
                            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 15001}},
                            "filter_chains": [
                                {
                                    "filters": [
                                        {
                                            "name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": {"rds": {"route_config_name": "http_proxy"}},
                                        }
                                    ]
                                }
                            ],
                        }
                    },
                }
            ],
        },
        {
            "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
            "dynamic_route_configs": [
                {
                    "route_config": {
                        "name": "http_proxy",
                        "virtual_hosts": [
                            {
                                "name": "reviews.default.svc.cluster.local:9080",
                                "domains": [
                                    "reviews:9080",
                                    "reviews.default.svc.cluster.local:9080",
                                    "reviews",
                                    "reviews.default",
                                    "reviews.default.svc",
                                ],
                                "routes": [
                                    {
                                        "match": {
                                            "prefix": "/",
                                            "headers": [{"name": "end-user", "string_match": {"exact": "jason"}}],
                                        },
                                        "metadata": {
                                            "filter_metadata": {
                                                "istio": {
                                                    "config": "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews"
                                                }
                                            }
                                        },
                                    }
                                ],
                            },
                            {"name": "blackhole:8080", "domains": ["*"], "routes": []},
                        ],
                    }
                }
            ],
        },
    ]
}


def test_cluster_rows_parse_istio_names_and_destination_rule() -> None:
    """An outbound subset cluster shows FQDN, port, subset, direction, type and its DR as name.ns."""
    rows = [cd.cluster_row(c) for c in cd.clusters(DUMP)]
    assert ("reviews.default.svc.cluster.local", "9080", "v1", "outbound", "EDS", "reviews.default") in rows
    assert ("xds-grpc", "-", "-", "-", "STATIC", "") in rows
    assert ("", "9080", "-", "inbound", "STATIC", "") in rows


def test_cluster_filters() -> None:
    """--fqdn, --port, --subset and --direction narrow the rows."""
    rows = [cd.cluster_row(c) for c in cd.clusters(DUMP)]
    assert len(cd.filter_clusters(rows, fqdn="reviews", subset="v1")) == 1
    assert cd.filter_clusters(rows, direction="inbound")[0][1] == "9080"
    assert cd.filter_clusters(rows, port="1234") == []


def test_route_rows_show_match_and_virtual_service() -> None:
    """Routes show shortest domains, the header condition, the VS that made them, and 404 vhosts."""
    rows = cd.route_rows(cd.route_configs(DUMP))
    name, vhost, domains, match, vs = rows[0]
    assert (name, vhost, vs) == ("http_proxy", "reviews.default.svc.cluster.local:9080", "reviews.default")
    assert domains == "reviews, reviews.default + 1 more..."
    assert match == "/* (end-user exact=jason)"
    assert rows[1][4] == "404"


def test_listener_rows_name_the_route_config() -> None:
    """A listener with an RDS HTTP connection manager points at its route config."""
    assert cd.listener_rows(cd.listeners(DUMP)) == [("127.0.0.1", "15001", "ALL", "Route: http_proxy")]


def test_endpoint_rows_from_clusters_json() -> None:
    """Endpoints show address, health, outlier status and cluster, and filter by cluster."""
    data = {
        "cluster_statuses": [
            {
                "name": "outbound|9080|v1|reviews.default.svc.cluster.local",
                "host_statuses": [
                    {
                        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 40001}},
                        "health_status": {"eds_health_status": "HEALTHY"},
                    },
                    {
                        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 40002}},
                        "health_status": {"eds_health_status": "HEALTHY", "failed_outlier_check": True},
                    },
                ],
            }
        ]
    }
    rows = cd.endpoint_rows(data, cluster="reviews")
    assert rows == [
        ("127.0.0.1:40001", "HEALTHY", "OK", "outbound|9080|v1|reviews.default.svc.cluster.local"),
        ("127.0.0.1:40002", "HEALTHY", "FAILED", "outbound|9080|v1|reviews.default.svc.cluster.local"),
    ]
    assert cd.endpoint_rows(data, cluster="ratings") == []


def test_table_pads_columns() -> None:
    """Columns line up with istioctl's padding."""
    out = cd.table(("A", "BB"), [("xxx", "y")])
    assert out.splitlines() == ["A       BB", "xxx     y"]


def test_secret_rows_read_the_inline_certificate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SDS secrets (inline certificates) show validity, serial number and dates, as istioctl's columns."""
    import base64

    from cryptography import x509

    from mizzen.testing.tls import make_certificates

    files = make_certificates(tmp_path, ["a.example.com"])
    pem = files.cert.read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    dump = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                "dynamic_active_secrets": [
                    {
                        "name": "kubernetes://my-cred",
                        "secret": {
                            "name": "kubernetes://my-cred",
                            "tls_certificate": {
                                "certificate_chain": {"inline_bytes": base64.b64encode(pem).decode()},
                                "private_key": {"inline_string": "[redacted]"},
                            },
                        },
                    }
                ],
            }
        ]
    }
    (row,) = cd.secret_rows(dump)
    assert row[:4] == ("kubernetes://my-cred", "Cert Chain", "ACTIVE", "true")
    assert row[4] == format(cert.serial_number, "x")
    assert row[5] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
