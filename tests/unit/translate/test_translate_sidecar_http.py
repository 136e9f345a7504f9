"""Sidecar HTTP routing (issue 3): which cluster a request through the HTTP-proxy listener reaches."""

from __future__ import annotations

import pytest
from translate_fixtures import PROXY_PORT, bookinfo, sidecar

from mizzen.node import Proxy
from mizzen.testing.simulation import Result, simulate
from mizzen.translate import translate
from mizzen.translate.model import MeshConfig, MeshSnapshot

REVIEWS = "reviews.default.svc.cluster.local"


def cluster(subset: str = "", host: str = REVIEWS, port: int = 9080) -> str:
    return f"outbound|{port}|{subset}|{host}"


def go(
    mesh: MeshSnapshot,
    host: str = "reviews:9080",
    path: str = "/reviews/0",
    *,
    proxy: Proxy | None = None,
    **kw: object,
) -> Result:
    return simulate(translate(proxy or sidecar(), mesh), listener_port=PROXY_PORT, host=host, path=path, **kw)  # type: ignore[arg-type]


VS_HEAD = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
"""


def vs(body: str) -> str:
    return VS_HEAD + body


def test_default_route_without_virtual_service() -> None:
    """A service without a VS gets Istio's default route to its no-subset cluster with the default retries."""
    r = go(bookinfo())
    assert r.route_name == "default"
    assert r.cluster == cluster()
    assert r.timeout == "0s"
    assert r.retry_policy is not None and r.retry_policy["num_retries"] == 2
    assert r.retry_policy["retry_on"] == "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"


@pytest.mark.parametrize(
    "host", ["reviews:9080", "reviews.default:9080", "reviews.default.svc:9080", f"{REVIEWS}:9080"]
)
def test_domain_variants_same_namespace(host: str) -> None:
    """All of Istio's same-namespace names, with the :port an HTTP-proxy client sends, reach the service."""
    assert go(bookinfo(), host=host).vhost == f"{REVIEWS}:9080"


def test_other_namespace_proxy_gets_no_short_name() -> None:
    """From another namespace the bare short name is not a domain of the service (falls to allow_any)."""
    other = sidecar(namespace="shop")
    assert go(bookinfo(), host="reviews:9080", proxy=other).vhost == "allow_any"
    assert go(bookinfo(), host="reviews.default:9080", proxy=other).vhost == f"{REVIEWS}:9080"


def test_unknown_host_passthrough_allow_any() -> None:
    """Unknown hosts go to PassthroughCluster under the default ALLOW_ANY policy."""
    r = go(bookinfo(), host="127.0.0.1:5555", path="/")
    assert (r.vhost, r.cluster) == ("allow_any", "PassthroughCluster")


def test_unknown_host_blocked_registry_only() -> None:
    """REGISTRY_ONLY answers 502 for hosts outside the registry."""
    r = go(bookinfo(mesh=MeshConfig(outbound_traffic_policy="REGISTRY_ONLY")), host="example.org:80")
    assert (r.vhost, r.status) == ("block_all", 502)


def test_subset_routing_all_v1() -> None:
    """virtual-service-all-v1 sends reviews traffic to the v1 subset cluster."""
    m = bookinfo("destination-rule-all.yaml", "virtual-service-all-v1.yaml")
    assert go(m).cluster == cluster("v1")


def test_header_match_sends_jason_to_v2() -> None:
    """virtual-service-reviews-test-v2: end-user jason -> v2, everyone else -> v1."""
    m = bookinfo("destination-rule-all.yaml", "virtual-service-reviews-test-v2.yaml")
    assert go(m, headers={"end-user": "jason"}).cluster == cluster("v2")
    assert go(m, headers={"end-user": "bob"}).cluster == cluster("v1")
    assert go(m).cluster == cluster("v1")


def test_weighted_split_80_20() -> None:
    """virtual-service-reviews-80-20 produces weighted clusters with those weights."""
    m = bookinfo("destination-rule-all.yaml", "virtual-service-reviews-80-20.yaml")
    assert go(m).weighted_clusters == ((cluster("v1"), 80), (cluster("v2"), 20))


def test_uri_matches_exact_prefix_regex_ignore_case() -> None:
    """uri exact, prefix, regex and ignoreUriCase select routes in first-match order."""
    m = bookinfo(
        vs("""  - match: [{uri: {exact: /exact}}]
    route: [{destination: {host: reviews, subset: a}}]
  - match: [{uri: {prefix: /Pre, }, ignoreUriCase: true}]
    route: [{destination: {host: reviews, subset: b}}]
  - match: [{uri: {regex: "/r[0-9]+"}}]
    route: [{destination: {host: reviews, subset: c}}]
  - route: [{destination: {host: reviews, subset: d}}]
""")
    )
    assert go(m, path="/exact").cluster == cluster("a")
    assert go(m, path="/exact/more").cluster == cluster("d")
    assert go(m, path="/prefix/x").cluster == cluster("b")
    assert go(m, path="/r42").cluster == cluster("c")
    assert go(m, path="/r42x").cluster == cluster("d")


def test_header_kinds_and_without_headers() -> None:
    """Header exact/prefix/regex/presence and withoutHeaders behave as Envoy matchers."""
    m = bookinfo(
        vs("""  - match: [{headers: {x-a: {prefix: ab}}}]
    route: [{destination: {host: reviews, subset: a}}]
  - match: [{headers: {x-b: {regex: "b+"}}}]
    route: [{destination: {host: reviews, subset: b}}]
  - match: [{headers: {x-c: {}}}]
    route: [{destination: {host: reviews, subset: c}}]
  - match: [{withoutHeaders: {x-d: {exact: keep}}}]
    route: [{destination: {host: reviews, subset: d}}]
  - route: [{destination: {host: reviews, subset: e}}]
""")
    )
    assert go(m, headers={"x-a": "abc"}).cluster == cluster("a")
    assert go(m, headers={"x-b": "bbb"}).cluster == cluster("b")
    assert go(m, headers={"x-b": "bbc", "x-c": ""}).cluster == cluster("c")
    assert go(m, headers={"x-d": "other"}).cluster == cluster("d")
    assert go(m).cluster == cluster("d")  # a missing header is "not keep"
    assert go(m, headers={"x-d": "keep"}).cluster == cluster("e")


def test_query_method_authority_matches() -> None:
    """queryParams, method and authority matches."""
    m = bookinfo(
        vs("""  - match: [{queryParams: {u: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: q}}]
  - match: [{method: {exact: POST}}]
    route: [{destination: {host: reviews, subset: m}}]
  - match: [{authority: {prefix: reviews.default}}]
    route: [{destination: {host: reviews, subset: a}}]
  - route: [{destination: {host: reviews, subset: z}}]
""")
    )
    assert go(m, path="/x?u=jason").cluster == cluster("q")
    assert go(m, path="/x?u=bob").cluster == cluster("z")
    assert go(m, method="POST").cluster == cluster("m")
    assert go(m, host="reviews.default:9080").cluster == cluster("a")


def test_one_route_per_match_entry_and_stop_after_catch_all() -> None:
    """Each match entry is its own Envoy route; rules after a catch-all are dropped."""
    m = bookinfo(
        vs("""  - name: two
    match: [{uri: {prefix: /a}, name: first}, {uri: {prefix: /b}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v3}}]
""")
    )
    res = translate(sidecar(), m)
    vhost = next(v for v in res.routes["http_proxy"]["virtual_hosts"] if v["name"] == f"{REVIEWS}:9080")
    assert [r.get("name") for r in vhost["routes"]] == ["two.first", "two", None]
    assert vhost["routes"][-1]["route"]["cluster"] == cluster("v2")


def test_port_match_and_source_labels_are_generation_time() -> None:
    """match.port against the service port and sourceLabels against the proxy decide at translation time."""
    m = bookinfo(
        vs("""  - match: [{port: 9999}]
    route: [{destination: {host: reviews, subset: p}}]
  - match: [{sourceLabels: {app: productpage}}]
    route: [{destination: {host: reviews, subset: pp}}]
  - route: [{destination: {host: reviews, subset: other}}]
""")
    )
    assert go(m).cluster == cluster("pp")
    assert go(m, proxy=sidecar("details-v1", "details")).cluster == cluster("other")


def test_destination_port_and_unknown_subset() -> None:
    """An explicit destination port is used; an unknown subset still names its (missing) cluster -> 503."""
    m = bookinfo(
        vs("""  - route: [{destination: {host: ratings, port: {number: 9080}, subset: nope}}]
""")
    )
    r = go(m)
    assert r.cluster == cluster("nope", "ratings.default.svc.cluster.local")
    assert r.cluster not in translate(sidecar(), m).clusters


def test_timeout_retries_and_attempts_zero() -> None:
    """timeout, retries (numeric retryOn codes, perTryTimeout, remote localities) and attempts 0 = none."""
    m = bookinfo(
        vs("""  - match: [{uri: {prefix: /none}}]
    retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
  - timeout: 0.5s
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,503", retryRemoteLocalities: true}
    route: [{destination: {host: reviews}}]
""")
    )
    assert go(m, path="/none").retry_policy is None
    r = go(m)
    assert r.timeout == "0.5s"
    assert r.retry_policy is not None
    assert r.retry_policy["num_retries"] == 3
    assert r.retry_policy["retry_on"] == "5xx,retriable-status-codes"
    assert r.retry_policy["retriable_status_codes"] == [503]
    assert r.retry_policy["per_try_timeout"] == "2s"
    assert r.retry_policy["retry_priority"]["typed_config"]["update_frequency"] == 2


def test_fault_delay_and_abort() -> None:
    """ratings-test-delay and -abort put per-route fault configs with millionths percentages."""
    m = bookinfo("destination-rule-all.yaml", "virtual-service-ratings-test-delay.yaml")
    r = go(m, host="ratings:9080", headers={"end-user": "jason"})
    assert r.fault is not None
    assert r.fault["delay"] == {"fixed_delay": "7s", "percentage": {"numerator": 1000000, "denominator": "MILLION"}}
    assert go(m, host="ratings:9080").fault is None
    m = bookinfo("destination-rule-all.yaml", "virtual-service-ratings-test-abort.yaml")
    r = go(m, host="ratings:9080", headers={"end-user": "jason"})
    assert r.fault is not None and r.fault["abort"]["http_status"] == 500


def test_fault_without_percentage_injects_nothing() -> None:
    """A fault without percentage injects into 0% of requests (Istio's documented default)."""
    m = bookinfo(
        vs("""  - fault: {abort: {httpStatus: 503}}
    route: [{destination: {host: reviews}}]
""")
    )
    fault = go(m).fault
    assert fault is not None and fault["abort"]["percentage"]["numerator"] == 0


def test_route_metadata_names_the_virtual_service() -> None:
    """Routes carry istio.config provenance of their VirtualService."""
    m = bookinfo("destination-rule-all.yaml", "virtual-service-all-v1.yaml")
    meta = go(m).route["metadata"]["filter_metadata"]["istio"]["config"]
    assert meta == "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews"


def test_first_virtual_service_wins_for_sidecars() -> None:
    """Two VSs for one host: sidecars use the first by creation order, no merge."""
    second = vs("  - route: [{destination: {host: reviews, subset: v3}}]\n").replace("name: reviews,", "name: zz,")
    m = bookinfo("destination-rule-all.yaml", "virtual-service-all-v1.yaml", second)
    assert go(m).cluster == cluster("v1")


def test_unknown_destination_host_does_not_crash() -> None:
    """A destination host nobody defines yields a cluster name Envoy will 503 on, never an exception."""
    m = bookinfo(vs("  - route: [{destination: {host: nowhere.example.com}}]\n"))
    assert go(m).cluster == "outbound|9080||nowhere.example.com"
