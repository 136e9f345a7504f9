"""The rest of VirtualService HTTP (issue 4 item 1), checked by simulation and on the generated routes."""

from __future__ import annotations

from translate_fixtures import PROXY_PORT, bookinfo, sidecar

from mizzen.node import Proxy
from mizzen.testing.simulation import Result, simulate
from mizzen.translate import translate
from mizzen.translate.model import MeshSnapshot

REVIEWS = "reviews.default.svc.cluster.local"


def cluster(subset: str = "", host: str = REVIEWS, port: int = 9080) -> str:
    return f"outbound|{port}|{subset}|{host}"


def vs(
    body: str, *, name: str = "reviews", namespace: str = "default", hosts: str = "[reviews]", extra: str = ""
) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: {hosts}
{extra}  http:
{body}"""


def go(
    mesh: MeshSnapshot, host: str = "reviews:9080", path: str = "/", *, proxy: Proxy | None = None, **kw: object
) -> Result:
    return simulate(translate(proxy or sidecar(), mesh), listener_port=PROXY_PORT, host=host, path=path, **kw)  # type: ignore[arg-type]


def test_rewrite_uri_regex_and_authority() -> None:
    """rewrite.uri -> prefix_rewrite, uriRegexRewrite -> regex_rewrite, authority -> host_rewrite_literal."""
    m = bookinfo(
        vs("""  - match: [{uri: {prefix: /old}}]
    rewrite: {uri: /new, authority: ratings}
    route: [{destination: {host: reviews}}]
  - rewrite: {uriRegexRewrite: {match: "^/a/(.*)", rewrite: "/b/\\\\1"}}
    route: [{destination: {host: reviews}}]
""")
    )
    action = go(m, path="/old/x").route["route"]
    assert (action["prefix_rewrite"], action["host_rewrite_literal"]) == ("/new", "ratings")
    assert go(m, path="/a/1").route["route"]["regex_rewrite"] == {
        "pattern": {"regex": "^/a/(.*)"},
        "substitution": "/b/\\1",
    }


def test_redirect_fields_and_codes() -> None:
    """redirect uri/authority/scheme/port/derivePort/redirectCode map to Envoy's RedirectAction."""
    m = bookinfo(
        vs("""  - match: [{uri: {exact: /a}}]
    redirect: {uri: /b, authority: example.com, redirectCode: 302}
  - match: [{uri: {exact: /s}}]
    redirect: {scheme: https, derivePort: FROM_PROTOCOL_DEFAULT}
  - match: [{uri: {exact: /p}}]
    redirect: {port: 8443, redirectCode: 308}
""")
    )
    r = go(m, path="/a")
    assert r.status == 302 and r.redirect is not None
    assert (r.redirect["path_redirect"], r.redirect["host_redirect"]) == ("/b", "example.com")
    s = go(m, path="/s").redirect
    assert s is not None and (s["scheme_redirect"], s["port_redirect"], s["status"]) == ("https", 443, 301)
    p = go(m, path="/p").redirect
    assert p is not None and (p["port_redirect"], p["status"]) == (8443, 308)


def test_direct_response_string_and_bytes() -> None:
    """directResponse answers with the status and body (string, or base64 bytes)."""
    m = bookinfo(
        vs("""  - match: [{uri: {exact: /s}}]
    directResponse: {status: 418, body: {string: teapot}}
  - directResponse: {status: 200, body: {bytes: aGVsbG8=}}
""")
    )
    assert go(m, path="/s").direct_response == (418, "teapot")
    assert go(m, path="/b").route["direct_response"]["body"] == {"inline_bytes": "aGVsbG8="}


def test_headers_route_and_destination_level() -> None:
    """Header set/add/remove at route and destination level; weighted destinations keep theirs."""
    m = bookinfo(
        vs("""  - match: [{uri: {prefix: /one}}]
    headers:
      request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}
      response: {set: {x-r: r}, remove: [server]}
    route:
    - destination: {host: reviews}
      headers: {request: {set: {x-d: d}}}
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 50, headers: {response: {add: {x-v: "1"}}}}
    - {destination: {host: reviews, subset: v2}, weight: 50}
""")
    )
    route = go(m, path="/one").route
    assert [h["header"]["key"] for h in route["request_headers_to_add"]] == ["x-a", "x-b", "x-d"]
    assert route["request_headers_to_add"][0]["append_action"] == "OVERWRITE_IF_EXISTS_OR_ADD"
    assert route["request_headers_to_add"][1]["append_action"] == "APPEND_IF_EXISTS_OR_ADD"
    assert route["request_headers_to_remove"] == ["x-c"]
    assert route["response_headers_to_remove"] == ["server"]
    weighted = go(m, path="/two").route["route"]["weighted_clusters"]["clusters"]
    assert weighted[0]["response_headers_to_add"][0]["header"] == {"key": "x-v", "value": "1"}


def test_host_header_set_becomes_authority_rewrite() -> None:
    """Setting Host in request headers rewrites the authority as Istio does."""
    m = bookinfo(
        vs("""  - headers: {request: {set: {Host: other.example.com}}}
    route: [{destination: {host: reviews}}]
""")
    )
    route = go(m).route
    assert route["route"]["host_rewrite_literal"] == "other.example.com"
    assert "request_headers_to_add" not in route


def test_mirror_and_mirrors_with_percentages() -> None:
    """mirror/mirrorPercentage and mirrors[] become request_mirror_policies; 0% mirrors nothing."""
    m = bookinfo(
        vs("""  - match: [{uri: {prefix: /m}}]
    mirror: {host: reviews, subset: v2}
    mirrorPercentage: {value: 25.0}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /z}}]
    mirror: {host: reviews, subset: v2}
    mirrorPercentage: {value: 0}
    route: [{destination: {host: reviews, subset: v1}}]
  - mirrors:
    - {destination: {host: reviews, subset: v2}}
    - {destination: {host: reviews, subset: v3}, percentage: {value: 50}}
    route: [{destination: {host: reviews, subset: v1}}]
""")
    )
    (policy,) = go(m, path="/m").route["route"]["request_mirror_policies"]
    assert policy["cluster"] == cluster("v2")
    assert policy["runtime_fraction"]["default_value"] == {"numerator": 250000, "denominator": "MILLION"}
    assert "request_mirror_policies" not in go(m, path="/z").route["route"]
    many = go(m, path="/x").route["route"]["request_mirror_policies"]
    assert [p["cluster"] for p in many] == [cluster("v2"), cluster("v3")]
    assert many[0]["runtime_fraction"]["default_value"] == {"numerator": 100, "denominator": "HUNDRED"}


def test_cors_policy() -> None:
    """corsPolicy becomes a per-route CorsPolicy for the cors filter."""
    m = bookinfo(
        vs("""  - corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {regex: "https://.*\\\\.b"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-a]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: reviews}}]
""")
    )
    cors = go(m).route["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert cors["allow_origin_string_match"][0] == {"exact": "https://a.example"}
    assert cors["allow_methods"] == "GET,POST"
    assert cors["max_age"] == "86400"
    assert cors["allow_credentials"] is True


def test_abort_grpc_status() -> None:
    """abort.grpcStatus by name becomes the numeric gRPC code."""
    m = bookinfo(
        vs("""  - fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
""")
    )
    fault = go(m).fault
    assert fault is not None and fault["abort"]["grpc_status"] == 14


def test_scheme_match_and_source_namespace() -> None:
    """match.scheme matches :scheme; sourceNamespace restricts routes to proxies of that namespace."""
    m = bookinfo(
        vs("""  - match: [{scheme: {exact: https}}]
    route: [{destination: {host: reviews, subset: tls}}]
  - match: [{sourceNamespace: shop}]
    route: [{destination: {host: reviews, subset: shop}}]
  - route: [{destination: {host: reviews, subset: rest}}]
""")
    )
    assert go(m).cluster == cluster("rest")
    assert go(m, scheme="https").cluster == cluster("tls")
    shop = sidecar(namespace="shop")
    assert go(m, host="reviews.default:9080", proxy=shop).cluster == cluster("shop")


def test_match_gateways_mesh_only_for_sidecars() -> None:
    """A match bound to a gateway is skipped by sidecars; one bound to mesh applies."""
    m = bookinfo(
        vs(
            """  - match: [{gateways: [istio-system/gw]}]
    route: [{destination: {host: reviews, subset: gw}}]
  - match: [{gateways: [mesh], uri: {prefix: /}}]
    route: [{destination: {host: reviews, subset: mesh}}]
""",
            extra="  gateways: [mesh, istio-system/gw]\n",
        )
    )
    assert go(m).cluster == cluster("mesh")


def test_vs_bound_only_to_gateway_is_ignored_by_sidecars() -> None:
    """A VS whose gateways do not include mesh does not affect sidecars."""
    m = bookinfo(vs("  - route: [{destination: {host: reviews, subset: v1}}]\n", extra="  gateways: [gw]\n"))
    assert go(m).route_name == "default"


def test_delegate_virtual_service() -> None:
    """A root rule with delegate is replaced by the delegate's rules, matches merged with the root's."""
    delegate = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-delegate, namespace: default}
spec:
  http:
  - match: [{uri: {prefix: /api/v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
"""
    m = bookinfo(
        vs("""  - match: [{uri: {prefix: /api}}]
    delegate: {name: reviews-delegate}
  - route: [{destination: {host: reviews, subset: v3}}]
"""),
        delegate,
    )
    assert go(m, path="/api/v2/x").cluster == cluster("v2")
    assert go(m, path="/api/v1").cluster == cluster("v1")
    assert go(m, path="/other").cluster == cluster("v3")
    meta = go(m, path="/api/v2").route["metadata"]["filter_metadata"]["istio"]["config"]
    assert meta.endswith("/virtual-service/reviews-delegate")


def test_export_to_hides_virtual_service_from_other_namespaces() -> None:
    """exportTo "." keeps a VS to its namespace: a proxy elsewhere gets the default route."""
    m = bookinfo(vs("  - route: [{destination: {host: reviews, subset: v1}}]\n", extra="  exportTo: ['.']\n"))
    assert go(m).cluster == cluster("v1")
    assert go(m, host="reviews.default:9080", proxy=sidecar(namespace="shop")).route_name == "default"


def test_wildcard_host_applies_unless_an_exact_vs_exists() -> None:
    """A wildcard VS host covers services; a VS naming the host exactly wins over it."""
    wild = vs(
        "  - route: [{destination: {host: ratings, subset: wild}}]\n",
        name="wild",
        hosts="['*.default.svc.cluster.local']",
    )
    m = bookinfo(wild)
    assert go(m, host="details:9080").cluster == cluster("wild", "ratings.default.svc.cluster.local")
    m = bookinfo(wild, vs("  - route: [{destination: {host: reviews, subset: v1}}]\n"))
    assert go(m).cluster == cluster("v1")


def test_non_registry_vs_host_gets_own_vhost() -> None:
    """A VS host naming no service (bookinfo.com) gets a vhost on port 80 with and without :80."""
    m = bookinfo(
        vs(
            "  - route: [{destination: {host: productpage, port: {number: 9080}}}]\n",
            name="site",
            hosts="[bookinfo.com]",
        )
    )
    assert go(m, host="bookinfo.com").cluster == cluster("", "productpage.default.svc.cluster.local")
    assert go(m, host="bookinfo.com:80").vhost == "bookinfo.com:80"
