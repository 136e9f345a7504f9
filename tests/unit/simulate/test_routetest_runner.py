"""Running RouteTest cases: every expect key, ANDed, and failures that say what happened and where."""

from __future__ import annotations

from simulate_helpers import Run, route_test

from mizzen.translate.model import MeshConfig

VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: teapot
    match: [{uri: {prefix: /teapot}}]
    directResponse: {status: 418, body: {string: short}}
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, authority: elsewhere}
  - match: [{uri: {prefix: /api/}}]
    rewrite: {uri: /v2/}
    headers:
      request: {set: {x-canary: "yes"}, remove: [x-debug]}
      response: {add: {x-served-by: mesh}}
    timeout: 3s
    retries: {attempts: 4, perTryTimeout: 1s, retryOn: 5xx}
    mirror: {host: reviews, subset: v3}
    mirrorPercentage: {value: 25}
    route: [{destination: {host: reviews, subset: v1}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v3}, weight: 20}
"""


def _case(name: str, request: str, expect: str) -> str:
    return f"  - name: {name}\n    from: {{workload: client}}\n    request: {request}\n    expect: {expect}\n"


def _verdicts(run_tests: Run, *cases: str, config: str = VS, mesh: MeshConfig | None = None) -> dict[str, list[str]]:
    run, report = run_tests(config, route_test("".join(cases)), mesh)
    assert run is not None, [str(v) for v in report.errors]
    return {c.name: list(c.failures) for c in run.cases}


def test_every_expect_key_passes_on_the_matching_route(run_tests: Run) -> None:
    """cluster, destination, weights, status, location, rewrite, headers, timeout, retries, mirror, VS."""
    v = _verdicts(
        run_tests,
        _case(
            "c",
            "{host: reviews, port: 9080, headers: {end-user: jason}}",
            '{cluster: "outbound|9080|v2|reviews.default.svc.cluster.local"}',
        ),
        _case(
            "vs",
            "{host: reviews, port: 9080, headers: {end-user: jason}}",
            "{virtualService: {name: reviews, route: jason}}",
        ),
        _case("vsi", "{host: reviews:9080, path: /teapot}", "{virtualService: {name: reviews, route: 1}, status: 418}"),
        _case("loc", "{host: reviews, port: 9080, path: /old/x}", "{status: 301, location: 'http://elsewhere/new'}"),
        _case(
            "split",
            "{host: reviews, port: 9080}",
            "{weights: {v1: 80, v3: 20}, destination: {host: reviews, subset: v3}, weight: 20}",
        ),
        _case(
            "api",
            "{host: reviews, port: 9080, path: /api/books}",
            "{rewrite: {uri: /v2/, path: /v2/books}, timeout: 3s,"
            " retries: {attempts: 4, perTryTimeout: 1s, retryOn: 5xx},"
            " headers: {request: {set: {x-canary: 'yes'}, remove: [x-debug]}, response: {add: {x-served-by: mesh}}},"
            " mirror: {host: reviews, subset: v3, percent: 25}, destination: {host: reviews, subset: v1}}",
        ),
        _case("none", "{host: reviews, port: 9080}", "{fault: none, mirror: none, rewrite: none, timeout: none}"),
    )
    assert v == {k: [] for k in v}


def test_a_wrong_expectation_fails_with_what_happened_and_where(run_tests: Run) -> None:
    """The failure names the cluster actually reached, the VS rule, its file:line and the decision path."""
    run, _ = run_tests(
        VS,
        route_test(
            _case(
                "wrong",
                "{host: reviews, port: 9080, headers: {end-user: jason}}",
                "{destination: {host: reviews, subset: v1}}",
            )
        ),
    )
    assert run is not None and not run.passed
    case = run.cases[0]
    assert case.failures == (
        "destination: expected reviews subset v1, got outbound|9080|v2|reviews.default.svc.cluster.local",
    )
    assert case.where.endswith("tests.yaml:10")
    text = "\n".join(case.explanation)
    assert 'VirtualService default/reviews spec.http[0].match[0] "jason"' in text
    assert "config.yaml:25" in text  # the line of spec.http[0] in the config file
    assert "route #0 'jason' matches (prefix '/', header end-user)" in text


def test_several_keys_are_anded(run_tests: Run) -> None:
    """One wrong key fails the case even when the others hold."""
    v = _verdicts(
        run_tests, _case("and", "{host: reviews, port: 9080, path: /teapot}", "{status: 418, fault: {abort: 500}}")
    )
    assert v["and"] == ["fault: expected abort 500 (100%), got no fault"]


def test_statuses_envoy_answers_itself(run_tests: Run) -> None:
    """404 no route, 503 no healthy upstream, 502 REGISTRY_ONLY, and forwarded requests have no status."""
    # A VirtualService whose only rule has a match: other requests for that host find no route.
    config = (
        """apiVersion: v1
kind: Service
metadata: {name: details}
spec: {selector: {app: details}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details}
spec:
  hosts: [details]
  http: [{match: [{headers: {end-user: {exact: jason}}}], route: [{destination: {host: details}}]}]
---
"""
        + VS
    )
    v = _verdicts(
        run_tests,
        _case("nr", "{host: details, port: 9080}", "{status: 404}"),
        _case(
            "uh",
            "{host: ratings, port: 9080}",
            "{status: 503, cluster: 'outbound|9080||ratings.default.svc.cluster.local'}",
        ),
        _case("fwd", "{host: reviews, port: 9080, headers: {end-user: jason}}", "{status: 200}"),
        config=config,
    )
    assert v["nr"] == [] and v["uh"] == []
    assert v["fwd"][0].startswith("status: expected 200, but Envoy does not answer itself: forwarded upstream")
    v = _verdicts(
        run_tests,
        _case("ro", "{host: unknown.example.com, port: 80}", "{status: 502}"),
        mesh=MeshConfig(outbound_traffic_policy="REGISTRY_ONLY"),
    )
    assert v["ro"] == []


def test_faults_abort_and_delay(run_tests: Run) -> None:
    """An abort for every request is the status; a partial delay is compared with its percentage."""
    config = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault: {abort: {httpStatus: 500, percentage: {value: 100}}, delay: {fixedDelay: 2s, percentage: {value: 10}}}
    route: [{destination: {host: ratings}}]
"""
    v = _verdicts(
        run_tests,
        _case("ok", "{host: ratings, port: 9080}", "{status: 500, fault: {abort: 500, delay: 2s, delayPercent: 10}}"),
        _case("bad", "{host: ratings, port: 9080}", "{fault: {delay: 2s}}"),
        config=config,
    )
    assert v["ok"] == []
    assert v["bad"] == ["fault: expected delay 2s (100%), got delay 2s (10%), abort 500 (100%)"]


def test_gateway_and_labels_senders(run_tests: Run) -> None:
    """from.gateway uses the default ingress gateway (Service 80 -> 8080); from.labels any sidecar."""
    config = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/gw]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
"""
    cases = (
        "  - name: gw\n    from: {gateway: istio-ingressgateway}\n    request: {host: shop.example.com, port: 80}\n"
        "    expect: {destination: {host: reviews, subset: v2}, virtualService: front}\n"
        "  - name: other host\n    from: {gateway: istio-ingressgateway}\n"
        "    request: {host: x.example.org, port: 80}\n"
        "    expect: {status: 404}\n"
        "  - name: labels\n    from: {labels: {app: anything}, namespace: default}\n"
        "    request: {host: reviews, port: 9080}\n"
        "    expect: {cluster: 'outbound|9080||reviews.default.svc.cluster.local'}\n"
    )
    run, report = run_tests(config, route_test(cases))
    assert run is not None, [str(v) for v in report.errors]
    assert [c.failures for c in run.cases] == [(), (), ()]


TCP_TLS = """apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: tlsy}
spec: {selector: {app: tlsy}, ports: [{name: tls, port: 443}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec: {host: db, subsets: [{name: a, labels: {v: a}}, {name: b, labels: {v: b}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp: [{route: [{destination: {host: db, subset: a}, weight: 30}, {destination: {host: db, subset: b}, weight: 70}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tlsy}
spec:
  hosts: [tlsy.default.svc.cluster.local]
  tls:
  - match: [{port: 443, sniHosts: [tlsy.default.svc.cluster.local]}]
    route: [{destination: {host: db, port: {number: 5432}}}]
"""


def test_tcp_weights_and_tls_sni_through_upstream_listeners(run_tests: Run) -> None:
    """TCP cases split by weight; TLS cases pick the filter chain by SNI (else the default chain)."""
    tls = "{host: tlsy, port: 443, protocol: tls, sni: %s}"
    v = _verdicts(
        run_tests,
        _case("tcp", "{host: db, port: 5432, protocol: tcp}", "{weights: {a: 30, b: 70}}"),
        _case(
            "sni", tls % "tlsy.default.svc.cluster.local", "{cluster: 'outbound|5432||db.default.svc.cluster.local'}"
        ),
        _case("other", tls % "nope.example.com", "{cluster: 'outbound|443||tlsy.default.svc.cluster.local'}"),
        _case("wrong", tls % "nope.example.com", "{cluster: 'outbound|5432||db.default.svc.cluster.local'}"),
        config=TCP_TLS,
    )
    assert v["tcp"] == v["sni"] == v["other"] == []
    db, tlsy = "outbound|5432||db.default.svc.cluster.local", "outbound|443||tlsy.default.svc.cluster.local"
    assert v["wrong"] == [f"cluster: expected {db}, got {tlsy}"]


def test_shared_translations_equal_translate() -> None:
    """The runner's per-scope sharing gives exactly translate()'s output, upstream listeners included."""
    from mizzen.samples.bookinfo.paths import networking_file, platform_file
    from mizzen.simulate import inputs
    from mizzen.simulate import mesh as meshes
    from mizzen.simulate.runner import Translations
    from mizzen.translate import translate

    found = inputs.read_files([str(platform_file()), str(networking_file("destination-rule-all")),
                               str(networking_file("virtual-service-reviews-test-v2"))], [])  # fmt: skip
    entries = [meshes.workload_entry(meshes.Workload(f"r{i}", "default", {"app": "reviews", "version": v}), i)
               for i, v in enumerate(("v1", "v2"))]  # fmt: skip
    mesh = meshes.snapshot([*found.config, *entries], MeshConfig())
    shared = Translations(mesh)
    for w in (meshes.Workload("a", "default", {"app": "a"}), meshes.Workload("b", "default", {"app": "b"})):
        for proxy in (meshes.sidecar_proxy(w), meshes.sidecar_proxy(w, [("reviews", 9080)])):
            assert shared.translate(proxy) == translate(proxy, mesh)
