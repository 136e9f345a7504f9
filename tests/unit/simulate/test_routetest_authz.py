"""RouteTest ``allowed: true|false``: the destination sidecar's generated inbound listener decides, from
the sender's identity as the wire would carry it; a wrong expectation fails and names the deciding policy."""

from __future__ import annotations

from simulate_helpers import Run, route_test

from mizzen.simulate import runner

WORKLOADS = """  workloads:
  - {name: client, labels: {app: client}, serviceAccount: client}
  - {name: other, namespace: other, labels: {app: other}, serviceAccount: web}
  - {name: plain, labels: {app: plain, security.istio.io/tlsMode: disabled}}
  - {name: reviews-v1, labels: {app: reviews, version: v1}, serviceAccount: bookinfo-reviews}
  - {name: reviews-v2, labels: {app: reviews, version: v2}, serviceAccount: bookinfo-reviews}
  - {name: ratings-v1, labels: {app: ratings, version: v1}}
  - {name: db, labels: {app: db}, ports: {tcp: 9000}}
"""
DB = """apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{name: tcp, port: 9000}, {name: tcp-other, port: 9001}]}
"""


def policy(name: str, spec: str, ns: str = "default", annotations: str = "") -> str:
    meta = f"{{name: {name}, namespace: {ns}{', annotations: ' + annotations if annotations else ''}}}"
    return f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {meta}\nspec:\n{spec}---\n"


ALLOW_NOTHING = policy("allow-nothing", "  {}\n")
REVIEWS_VIEWER = policy(  # Istio's "Authorization for HTTP traffic" task, reviews-viewer
    "reviews-viewer",
    "  selector: {matchLabels: {app: reviews}}\n  action: ALLOW\n  rules:\n"
    "  - from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]\n"
    "    to: [{operation: {methods: [GET]}}]\n",
)
DENY_HEADER = policy(
    "deny-header",
    "  selector: {matchLabels: {app: reviews}}\n  action: DENY\n  rules:\n"
    "  - when: [{key: 'request.headers[x-token]', notValues: [admin]}]\n"
    "    to: [{operation: {paths: [/admin*]}}]\n",
)
JWT = """apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  jwtRules: [{issuer: testing@secure.istio.io, jwks: '{"keys": []}'}]
---
"""
REQUIRE_JWT = policy(
    "require-jwt",
    "  selector: {matchLabels: {app: reviews}}\n  rules:\n"
    "  - from: [{source: {requestPrincipals: [testing@secure.istio.io/testing@secure.istio.io]}}]\n"
    "    when: [{key: 'request.auth.claims[groups]', values: [group1]}]\n",
)
TCP_ONLY_9000 = policy(
    "tcp-policy",
    "  selector: {matchLabels: {app: db}}\n  action: ALLOW\n  rules:\n  - to: [{operation: {ports: ['9000']}}]\n",
)


def case(name: str, request: str, allowed: bool, sender: str = "client", ns: str = "default") -> str:
    src = f"{{workload: {sender}, namespace: {ns}}}"
    return (
        f"  - name: {name}\n    from: {src}\n    request: {request}\n    expect: {{allowed: {str(allowed).lower()}}}\n"
    )


def results(run_tests: Run, config: str, *cases: str) -> dict[str, runner.CaseResult]:
    run, report = run_tests(DB + "---\n" + config, route_test("".join(cases), WORKLOADS))
    assert run is not None, [str(v) for v in report.errors]
    return {c.name: c for c in run.cases}


def failures(run_tests: Run, config: str, *cases: str) -> dict[str, list[str]]:
    return {k: list(v.failures) for k, v in results(run_tests, config, *cases).items()}


def test_no_policy_allows_and_a_wrong_expectation_fails(run_tests: Run) -> None:
    """Without an AuthorizationPolicy every request is admitted; expecting a denial fails, per destination."""
    f = failures(
        run_tests,
        "",
        case("ok", "{host: ratings, port: 9080}", True),
        case("wrong", "{host: ratings, port: 9080}", False),
    )
    assert f["ok"] == []
    assert len(f["wrong"]) == 1
    assert f["wrong"][0].startswith("allowed: expected False, default/ratings-v1 allowed it (no policy denies it")


def test_allow_nothing_denies_and_says_no_allow_rule_matched(run_tests: Run) -> None:
    """``spec: {}`` in the namespace denies every request; the failure of ``allowed: true`` names the filter."""
    f = failures(
        run_tests,
        ALLOW_NOTHING,
        case("denied", "{host: ratings, port: 9080}", False),
        case("wrong", "{host: ratings, port: 9080}", True),
    )
    assert f["denied"] == []
    assert "default/ratings-v1 denied it (no ALLOW policy matches in envoy.filters.http.rbac" in f["wrong"][0]


def test_principals_come_from_the_senders_mtls_identity(run_tests: Run) -> None:
    """The reviews-viewer rule admits the client's SPIFFE ID over auto mTLS; other identities and
    plaintext senders (no sidecar, so no certificate) are denied; methods are checked too."""
    f = failures(
        run_tests,
        REVIEWS_VIEWER,
        case("client GET", "{host: reviews, port: 9080}", True),
        case("client POST", "{host: reviews, port: 9080, method: POST}", False),
        case("other sa", "{host: reviews.default, port: 9080}", False, sender="other", ns="other"),
        case("plaintext", "{host: reviews, port: 9080}", False, sender="plain"),
    )
    assert f == {"client GET": [], "client POST": [], "other sa": [], "plaintext": []}


def test_a_failure_names_the_identity_and_each_destination(run_tests: Run) -> None:
    """Expecting the other namespace's request to pass fails once per reviews endpoint, with who was seen."""
    f = failures(run_tests, REVIEWS_VIEWER, case("x", "{host: reviews.default, port: 9080}", True, "other", "other"))
    assert len(f["x"]) == 2
    assert {m.split(",")[1].split()[0] for m in f["x"]} == {"default/reviews-v1", "default/reviews-v2"}
    assert all("mTLS as spiffe://cluster.local/ns/other/sa/web" in m for m in f["x"])


def test_deny_by_path_and_header_not_values(run_tests: Run) -> None:
    """DENY matches /admin* without ``x-token: admin``; the token, or another path, passes."""
    f = failures(
        run_tests,
        DENY_HEADER,
        case("no token", "{host: reviews, port: 9080, path: /admin/x}", False),
        case("token", "{host: reviews, port: 9080, path: /admin/x, headers: {x-token: admin}}", True),
        case("other path", "{host: reviews, port: 9080, path: /reviews/1}", True),
    )
    assert f == {"no token": [], "token": [], "other path": []}
    wrong = failures(run_tests, DENY_HEADER, case("w", "{host: reviews, port: 9080, path: /admin}", True))["w"]
    assert "denied by ns[default]-policy[deny-header]-rule[0]" in wrong[0]


def test_jwt_valid_invalid_missing_and_claims(run_tests: Run) -> None:
    """A valid token with the group claim passes; a bad token is 401; a missing one is denied by the
    requestPrincipals rule (403); a valid token without the claim is denied."""
    good = "{claims: {iss: testing@secure.istio.io, sub: testing@secure.istio.io, groups: [group1]}}"
    no_group = "{claims: {iss: testing@secure.istio.io, sub: testing@secure.istio.io}}"
    bad = "{claims: {iss: testing@secure.istio.io, sub: testing@secure.istio.io}, valid: false}"
    r = results(
        run_tests,
        JWT + REQUIRE_JWT,
        case("valid", f"{{host: reviews, port: 9080, jwt: {good}}}", True),
        case("invalid", f"{{host: reviews, port: 9080, jwt: {bad}}}", True),
        case("missing", "{host: reviews, port: 9080}", True),
        case("no claim", f"{{host: reviews, port: 9080, jwt: {no_group}}}", False),
    )
    assert r["valid"].passed and r["no claim"].passed
    assert "Jwt verification fails, 401 from envoy.filters.http.jwt_authn" in r["invalid"].failures[0]
    assert "no ALLOW policy matches" in r["missing"].failures[0]


def test_tcp_ports_decide_a_connection(run_tests: Run) -> None:
    """A TCP service: the network RBAC filter admits port 9000 only (Istio's TCP task)."""
    f = failures(
        run_tests,
        TCP_ONLY_9000,
        case("port 9000", "{host: db, port: 9000, protocol: tcp}", True),
        case("port 9001", "{host: db, port: 9001, protocol: tcp}", False),
    )
    assert f == {"port 9000": [], "port 9001": []}


def test_dry_run_is_reported_not_enforced(run_tests: Run) -> None:
    """An ``istio.io/dry-run`` DENY policy admits the request; the failure text says what it would do."""
    dry = policy(
        "deny-all",
        "  selector: {matchLabels: {app: reviews}}\n  action: DENY\n  rules: [{}]\n",
        annotations='{"istio.io/dry-run": "true"}',
    )
    f = failures(
        run_tests,
        dry,
        case("admitted", "{host: reviews, port: 9080}", True),
        case("w", "{host: reviews, port: 9080}", False),
    )
    assert f["admitted"] == []
    assert "dry-run DENY policy ns[default]-policy[deny-all]-rule[0] would deny" in f["w"][0]


def test_explanation_lists_each_destinations_decision(run_tests: Run) -> None:
    """A failing case's explanation ends with the authorization at every endpoint, with its address."""
    r = results(run_tests, ALLOW_NOTHING, case("x", "{host: reviews, port: 9080}", True))["x"]
    auth = [line for line in r.explanation if line.startswith("authorization at ")]
    assert len(auth) == 2 and all("denied it" in line for line in auth)
