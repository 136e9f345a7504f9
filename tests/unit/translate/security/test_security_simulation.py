"""Policy evaluation pinned end to end without a process: YAML policies -> the builders' filters ->
the evaluator, request and source identity in, allow/deny out. One case per field and form Istio
documents for AuthorizationPolicy and RequestAuthentication."""

from __future__ import annotations

import pytest
from security_fixtures import decide, security_filters

from mizzen.simulate.rbac import Peer, Request, Token, evaluate_listener
from mizzen.translate.security.inbound import inbound_filter_chains, inbound_listener_fields
from mizzen.translate.security.rbac_rules import Context

SLEEP = Peer.spiffe("default", "sleep", ip="10.0.0.5")
OTHER = Peer.spiffe("prod-eu", "web", ip="192.168.1.9")
FOREIGN = Peer(principal="spiffe://other.domain/ns/default/sa/sleep")
PLAIN = Peer(ip="10.0.0.7")
ISS = "testing@secure.istio.io"


def allow(rule: str, *, action: str = "ALLOW", name: str = "p", ns: str = "foo", extra: str = "") -> str:
    """One AuthorizationPolicy selecting httpbin with a single rule written in YAML flow style."""
    return (
        f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
        f"{extra}spec:\n  action: {action}\n  selector: {{matchLabels: {{app: httpbin}}}}\n  rules:\n  - {rule}\n---\n"
    )


def jwt_policy(extra: str = "") -> str:
    return (
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: foo}\n"
        f"spec:\n  jwtRules:\n  - issuer: '{ISS}'\n    jwks: '{{\"keys\": []}}'\n{extra}---\n"
    )


def token(**claims: object) -> Token:
    return Token(claims={"iss": ISS, "sub": ISS, **claims})


GET = Request(method="GET", path="/headers", host="httpbin.foo:8000")
NOTHING = (
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: none, namespace: foo}\nspec: {}\n"
)
EXPLICIT_DENY = (  # Istio's "explicit deny" task: GET from outside foo without x-token: admin
    "{from: [{source: {notNamespaces: [foo]}}], to: [{operation: {methods: [GET]}}],"
    " when: [{key: 'request.headers[x-token]', notValues: [admin]}]}"
)

# (id, policies, request, peer, allowed)
CASES = [
    # -- from.source ---------------------------------------------------------------------------
    ("principals", allow("from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]"), GET, SLEEP, True),
    (
        "principals-other",
        allow("from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]"),
        GET,
        OTHER,
        False,
    ),
    ("principals-plaintext", allow("from: [{source: {principals: ['*']}}]"), GET, PLAIN, False),
    ("principals-any-mtls", allow("from: [{source: {principals: ['*']}}]"), GET, OTHER, True),
    ("principals-prefix", allow("from: [{source: {principals: ['cluster.local/ns/default/*']}}]"), GET, SLEEP, True),
    ("principals-suffix", allow("from: [{source: {principals: ['*/sa/web']}}]"), GET, OTHER, True),
    ("principals-suffix-miss", allow("from: [{source: {principals: ['*/sa/web']}}]"), GET, SLEEP, False),
    (
        "notPrincipals",
        allow("from: [{source: {notPrincipals: [cluster.local/ns/default/sa/sleep]}}]"),
        GET,
        SLEEP,
        False,
    ),
    ("notPrincipals-plaintext", allow("from: [{source: {notPrincipals: ['*']}}]"), GET, PLAIN, True),
    ("namespaces", allow("from: [{source: {namespaces: [default]}}]"), GET, SLEEP, True),
    ("namespaces-miss", allow("from: [{source: {namespaces: [default]}}]"), GET, OTHER, False),
    ("namespaces-prefix", allow("from: [{source: {namespaces: ['prod-*']}}]"), GET, OTHER, True),
    ("namespaces-plaintext", allow("from: [{source: {namespaces: ['*']}}]"), GET, PLAIN, False),
    ("notNamespaces", allow("from: [{source: {notNamespaces: [default]}}]"), GET, OTHER, True),
    ("serviceAccounts", allow("from: [{source: {serviceAccounts: [default/sleep]}}]"), GET, SLEEP, True),
    ("serviceAccounts-policy-ns", allow("from: [{source: {serviceAccounts: [sleep]}}]"), GET, SLEEP, False),
    (
        "serviceAccounts-same-ns",
        allow("from: [{source: {serviceAccounts: [sleep]}}]"),
        GET,
        Peer.spiffe("foo", "sleep"),
        True,
    ),
    ("notServiceAccounts", allow("from: [{source: {notServiceAccounts: [default/sleep]}}]"), GET, OTHER, True),
    ("trustDomains", allow("from: [{source: {trustDomains: [cluster.local]}}]"), GET, SLEEP, True),
    ("trustDomains-foreign", allow("from: [{source: {trustDomains: [cluster.local]}}]"), GET, FOREIGN, False),
    ("notTrustDomains", allow("from: [{source: {notTrustDomains: [other.domain]}}]"), GET, FOREIGN, False),
    ("ipBlocks", allow("from: [{source: {ipBlocks: [10.0.0.0/24]}}]"), GET, SLEEP, True),
    ("ipBlocks-miss", allow("from: [{source: {ipBlocks: [10.0.0.0/24]}}]"), GET, OTHER, False),
    ("notIpBlocks", allow("from: [{source: {notIpBlocks: [10.0.0.5]}}]"), GET, SLEEP, False),
    (
        "remoteIpBlocks",
        allow("from: [{source: {remoteIpBlocks: [203.0.113.0/24]}}]"),
        GET,
        Peer(ip="10.0.0.1", remote_ip="203.0.113.7"),
        True,
    ),
    (
        "remoteIpBlocks-direct",
        allow("from: [{source: {remoteIpBlocks: [10.0.0.0/24]}}]"),
        GET,
        Peer(ip="10.0.0.1", remote_ip="203.0.113.7"),
        False,
    ),
    (
        "notRemoteIpBlocks",
        allow("from: [{source: {notRemoteIpBlocks: [203.0.113.7]}}]"),
        GET,
        Peer(remote_ip="203.0.113.7"),
        False,
    ),
    (
        "requestPrincipals",
        allow(f"from: [{{source: {{requestPrincipals: ['{ISS}/{ISS}']}}}}]") + jwt_policy(),
        Request(token=token()),
        None,
        True,
    ),
    (
        "requestPrincipals-missing-token",
        allow("from: [{source: {requestPrincipals: ['*']}}]") + jwt_policy(),
        GET,
        None,
        False,
    ),
    (
        "requestPrincipals-other-sub",
        allow(f"from: [{{source: {{requestPrincipals: ['{ISS}/alice']}}}}]") + jwt_policy(),
        Request(token=token()),
        None,
        False,
    ),
    (
        "requestPrincipals-sub-prefix",
        allow(f"from: [{{source: {{requestPrincipals: ['{ISS}/ali*']}}}}]") + jwt_policy(),
        Request(token=token(sub="alice")),
        None,
        True,
    ),
    ("notRequestPrincipals", allow("from: [{source: {notRequestPrincipals: ['*']}}]") + jwt_policy(), GET, None, True),
    (
        "notRequestPrincipals-with-token",
        allow("from: [{source: {notRequestPrincipals: ['*']}}]") + jwt_policy(),
        Request(token=token()),
        None,
        False,
    ),
    (
        "source-fields-are-anded",
        allow("from: [{source: {namespaces: [default], ipBlocks: [192.168.0.0/16]}}]"),
        GET,
        SLEEP,
        False,
    ),
    (
        "from-entries-are-ored",
        allow("from: [{source: {namespaces: [x]}}, {source: {ipBlocks: [10.0.0.5]}}]"),
        GET,
        SLEEP,
        True,
    ),
    # -- to.operation --------------------------------------------------------------------------
    ("hosts", allow("to: [{operation: {hosts: [httpbin.foo:8000]}}]"), GET, None, True),
    ("hosts-case-insensitive", allow("to: [{operation: {hosts: [HTTPBIN.foo:8000]}}]"), GET, None, True),
    ("hosts-without-port-miss", allow("to: [{operation: {hosts: [httpbin.foo]}}]"), GET, None, False),
    ("hosts-prefix", allow("to: [{operation: {hosts: ['httpbin.*']}}]"), GET, None, True),
    ("hosts-suffix", allow("to: [{operation: {hosts: ['*:8000']}}]"), GET, None, True),
    ("notHosts", allow("to: [{operation: {notHosts: ['httpbin.*']}}]"), GET, None, False),
    ("methods", allow("to: [{operation: {methods: [GET, HEAD]}}]"), GET, None, True),
    ("methods-miss", allow("to: [{operation: {methods: [POST]}}]"), GET, None, False),
    ("notMethods", allow("to: [{operation: {notMethods: [GET]}}]"), Request(method="DELETE"), None, True),
    ("paths-exact", allow("to: [{operation: {paths: [/headers]}}]"), Request(path="/headers?x=1"), None, True),
    ("paths-exact-miss", allow("to: [{operation: {paths: [/headers]}}]"), Request(path="/headers/x"), None, False),
    ("paths-prefix", allow("to: [{operation: {paths: ['/api/*']}}]"), Request(path="/api/v1/x"), None, True),
    ("paths-suffix", allow("to: [{operation: {paths: ['*.png']}}]"), Request(path="/img/a.png"), None, True),
    ("paths-any", allow("to: [{operation: {paths: ['*']}}]"), Request(path="/"), None, True),
    (
        "paths-template-one",
        allow("to: [{operation: {paths: ['/books/{*}/reviews']}}]"),
        Request(path="/books/7/reviews"),
        None,
        True,
    ),
    (
        "paths-template-one-miss",
        allow("to: [{operation: {paths: ['/books/{*}/reviews']}}]"),
        Request(path="/books/7/8/reviews"),
        None,
        False,
    ),
    (
        "paths-template-any",
        allow("to: [{operation: {paths: ['/books/{**}']}}]"),
        Request(path="/books/7/8/reviews"),
        None,
        True,
    ),
    ("notPaths", allow("to: [{operation: {notPaths: ['/admin*']}}]"), Request(path="/admin/users"), None, False),
    ("ports", allow("to: [{operation: {ports: ['8000']}}]"), Request(port=31000), None, True),
    ("ports-miss", allow("to: [{operation: {ports: ['9000']}}]"), Request(port=31000), None, False),
    ("notPorts", allow("to: [{operation: {notPorts: ['8000']}}]"), Request(port=31000), None, False),
    ("operation-fields-are-anded", allow("to: [{operation: {methods: [GET], paths: [/ip]}}]"), GET, None, False),
    # -- when ----------------------------------------------------------------------------------
    (
        "header",
        allow("when: [{key: 'request.headers[X-User]', values: [alice]}]"),
        Request(headers={"x-user": "alice"}),
        None,
        True,
    ),
    ("header-absent", allow("when: [{key: 'request.headers[X-User]', values: ['*']}]"), GET, None, False),
    (
        "header-notValues",
        allow("when: [{key: 'request.headers[x-user]', notValues: [bob]}]"),
        Request(headers={"x-user": "bob"}),
        None,
        False,
    ),
    ("source.ip", allow("when: [{key: source.ip, values: [10.0.0.5]}]"), GET, SLEEP, True),
    (
        "remote.ip",
        allow("when: [{key: remote.ip, values: [198.51.100.0/24]}]"),
        GET,
        Peer(remote_ip="198.51.100.3"),
        True,
    ),
    ("source.namespace", allow("when: [{key: source.namespace, values: [default]}]"), GET, SLEEP, True),
    ("source.namespace-notValues", allow("when: [{key: source.namespace, notValues: [default]}]"), GET, SLEEP, False),
    (
        "source.principal",
        allow("when: [{key: source.principal, values: [cluster.local/ns/prod-eu/sa/web]}]"),
        GET,
        OTHER,
        True,
    ),
    ("source.serviceAccount", allow("when: [{key: source.serviceAccount, values: [default/sleep]}]"), GET, SLEEP, True),
    ("source.trustDomain", allow("when: [{key: source.trustDomain, values: [other.domain]}]"), GET, FOREIGN, True),
    (
        "request.auth.principal",
        allow(f"when: [{{key: request.auth.principal, values: ['{ISS}/*']}}]") + jwt_policy(),
        Request(token=token()),
        None,
        True,
    ),
    (
        "request.auth.audiences",
        allow("when: [{key: request.auth.audiences, values: [web]}]") + jwt_policy(),
        Request(token=token(aud=["app", "web"])),
        None,
        True,
    ),
    (
        "request.auth.audiences-miss",
        allow("when: [{key: request.auth.audiences, values: [web]}]") + jwt_policy(),
        Request(token=token(aud="app")),
        None,
        False,
    ),
    (
        "request.auth.presenter",
        allow("when: [{key: request.auth.presenter, values: [client-*]}]") + jwt_policy(),
        Request(token=token(azp="client-1")),
        None,
        True,
    ),
    (
        "request.auth.claims",
        allow("when: [{key: 'request.auth.claims[groups]', values: [admins]}]") + jwt_policy(),
        Request(token=token(groups=["dev", "admins"])),
        None,
        True,
    ),
    (
        "request.auth.claims-string",
        allow("when: [{key: 'request.auth.claims[group]', values: [admins]}]") + jwt_policy(),
        Request(token=token(group="admins")),
        None,
        True,
    ),
    (
        "request.auth.claims-nested",
        allow("when: [{key: 'request.auth.claims[realm][role]', values: [ops]}]") + jwt_policy(),
        Request(token=token(realm={"role": "ops"})),
        None,
        True,
    ),
    (
        "request.auth.claims-scope-split",
        allow("when: [{key: 'request.auth.claims[scope]', values: [write]}]") + jwt_policy(),
        Request(token=token(scope="read write")),
        None,
        True,
    ),
    (
        "request.auth.claims-no-token",
        allow("when: [{key: 'request.auth.claims[group]', values: [admins]}]") + jwt_policy(),
        GET,
        None,
        False,
    ),
    (
        "destination.ip",
        allow("when: [{key: destination.ip, values: [10.1.0.0/16]}]"),
        Request(destination_ip="10.1.2.3"),
        None,
        True,
    ),
    (
        "destination.ip-miss",
        allow("when: [{key: destination.ip, values: [10.1.0.0/16]}]"),
        Request(destination_ip="10.2.2.3"),
        None,
        False,
    ),
    ("destination.port", allow("when: [{key: destination.port, values: ['8000']}]"), Request(port=31000), None, True),
    (
        "connection.sni",
        allow("when: [{key: connection.sni, values: ['*.foo.svc.cluster.local']}]"),
        Request(sni="outbound_.8000_._.httpbin.foo.svc.cluster.local"),
        None,
        True,
    ),
    (
        "experimental.envoy.filters",
        allow("when: [{key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: ['[update]']}]"),
        Request(metadata={"envoy.filters.network.mysql_proxy": {"db.table": ["insert", "update"]}}),
        None,
        True,
    ),
    (
        "experimental.envoy.filters-miss",
        allow("when: [{key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: ['[update]']}]"),
        GET,
        None,
        False,
    ),
    # -- actions -------------------------------------------------------------------------------
    ("no-allow-policy-allows", allow("from: [{source: {namespaces: [x]}}]", action="DENY"), GET, SLEEP, True),
    (
        "deny-wins-over-allow",
        allow("{}", name="all") + allow("from: [{source: {namespaces: [default]}}]", action="DENY"),
        GET,
        SLEEP,
        False,
    ),
    (
        "allow-nothing",
        NOTHING,
        GET,
        SLEEP,
        False,
    ),
    ("allow-all", allow("{}"), GET, PLAIN, True),
    ("deny-all", allow("{}", action="DENY"), GET, SLEEP, False),
    (
        "allow-policies-are-ored",
        allow("to: [{operation: {paths: [/a]}}]", name="a") + allow("to: [{operation: {paths: [/b]}}]", name="b"),
        Request(path="/b"),
        None,
        True,
    ),
    (
        "root-namespace-policy",
        allow("{}", action="DENY", ns="istio-system").replace("  selector: {matchLabels: {app: httpbin}}\n", ""),
        GET,
        SLEEP,
        False,
    ),
    ("audit-never-denies", allow("{}", action="AUDIT"), GET, SLEEP, True),
    (
        "dry-run-not-enforced",
        allow("{}", action="DENY", extra="  annotations: {istio.io/dry-run: 'true'}\n"),
        GET,
        SLEEP,
        True,
    ),
    (
        "explicit-deny-notValues",
        allow(
            EXPLICIT_DENY,
            action="DENY",
        ),
        Request(headers={"x-token": "guest"}),
        SLEEP,
        False,
    ),
    (
        "explicit-deny-notValues-admin",
        allow(
            EXPLICIT_DENY,
            action="DENY",
        ),
        Request(headers={"x-token": "admin"}),
        SLEEP,
        True,
    ),
]


@pytest.mark.parametrize(("policies", "request_", "peer", "allowed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_http_evaluation(policies: str, request_: Request, peer: Peer | None, allowed: bool) -> None:
    """Each field and form allows (or denies) exactly the requests Istio documents."""
    ctx = Context("foo", port_map={8000: 31000})
    d = decide(policies, request_, peer, ctx=ctx)
    assert d.allowed is allowed, d
    assert d.status == (200 if allowed else 403)


def test_the_deciding_policy_is_reported() -> None:
    """A DENY names its rule; a default deny (no ALLOW rule matched) names none."""
    deny = decide(allow("to: [{operation: {paths: [/admin]}}]", action="DENY", name="block"), Request(path="/admin"))
    assert (deny.allowed, deny.policy, deny.reason) == (False, "ns[foo]-policy[block]-rule[0]", "RBAC: access denied")
    miss = decide(allow("to: [{operation: {paths: [/ok]}}]"), Request(path="/other"))
    assert (miss.allowed, miss.policy) == (False, None)


def test_audit_and_dry_run_are_reported() -> None:
    """AUDIT matches are listed as logged; dry-run results as shadow verdicts."""
    docs = allow("{}", action="AUDIT", name="audit") + allow(
        "{}", action="DENY", name="dry", extra="  annotations: {istio.io/dry-run: 'true'}\n"
    )
    d = decide(docs, GET, SLEEP)
    assert d.allowed and d.logged == ("ns[foo]-policy[audit]-rule[0]",)
    assert [(s.action, s.allowed, s.policy) for s in d.shadow] == [("DENY", False, "ns[foo]-policy[dry]-rule[0]")]


TCP_CASES = [
    ("allow-http-only-denies-all", allow("to: [{operation: {methods: [GET]}}]"), Request(port=31000), SLEEP, False),
    (
        "allow-principal-and-port",
        allow("{from: [{source: {principals: ['*']}}], to: [{operation: {ports: ['8000']}}]}"),
        Request(port=31000),
        SLEEP,
        True,
    ),
    (
        "allow-port-plaintext",
        allow("{from: [{source: {principals: ['*']}}], to: [{operation: {ports: ['8000']}}]}"),
        Request(port=31000),
        PLAIN,
        False,
    ),
    (
        "deny-http-only-denies-all",
        allow("to: [{operation: {methods: [GET]}}]", action="DENY"),
        Request(port=31000),
        SLEEP,
        False,
    ),
    (
        "deny-http-when-denies-all",
        allow("when: [{key: 'request.headers[x]', values: [y]}]", action="DENY"),
        Request(port=31000),
        SLEEP,
        False,
    ),
    ("deny-other-port", allow("to: [{operation: {ports: ['9000']}}]", action="DENY"), Request(port=31000), SLEEP, True),
    (
        "allow-sni",
        allow("when: [{key: connection.sni, values: [db.example.com]}]"),
        Request(sni="db.example.com"),
        SLEEP,
        True,
    ),
]


@pytest.mark.parametrize(
    ("policies", "connection", "peer", "allowed"), [c[1:] for c in TCP_CASES], ids=[c[0] for c in TCP_CASES]
)
def test_tcp_evaluation(policies: str, connection: Request, peer: Peer, allowed: bool) -> None:
    """On TCP an ALLOW rule with HTTP-only fields allows nothing; a DENY rule ignores those fields."""
    d = decide(policies, connection, peer, tcp=True, ctx=Context("foo", port_map={8000: 31000}))
    assert d.allowed is allowed, d


JWT = jwt_policy(
    "    audiences: [app]\n    fromHeaders: [{name: x-jwt}, {name: authorization, prefix: 'Bearer '}]\n"
    "    fromParams: [token]\n    fromCookies: [session]\n"
)
JWT_CASES = [
    ("valid", Request(token=token(aud="app")), 200),
    ("invalid-signature", Request(token=Token(claims={"iss": ISS, "aud": "app"}, valid=False)), 401),
    ("unknown-issuer", Request(token=Token(claims={"iss": "other", "aud": "app"})), 401),
    ("wrong-audience", Request(token=token(aud="web")), 401),
    ("missing", Request(), 200),
    ("custom-header", Request(token=Token({"iss": ISS, "aud": "app"}, header="x-jwt", prefix="")), 200),
    ("param", Request(token=Token({"iss": ISS, "aud": "app"}, header=None, param="token")), 200),
    ("cookie", Request(token=Token({"iss": ISS, "aud": "app"}, header=None, cookie="session")), 200),
    ("unread-location-is-missing", Request(token=Token({"iss": ISS}, header="x-other", prefix="", valid=False)), 200),
]


@pytest.mark.parametrize(("request_", "status"), [c[1:] for c in JWT_CASES], ids=[c[0] for c in JWT_CASES])
def test_request_authentication(request_: Request, status: int) -> None:
    """A valid token passes, an invalid one (signature, issuer, audience) gets 401, a missing one passes;
    tokens are read from fromHeaders/fromParams/fromCookies only."""
    assert decide(JWT, request_).status == status


def test_missing_token_is_denied_when_a_principal_is_required() -> None:
    """Istio's "require a JWT": requestPrincipals ['*'] turns a missing token into 403, a valid one into 200."""
    docs = JWT + allow("from: [{source: {requestPrincipals: ['*']}}]")
    assert decide(docs, Request()).status == 403
    assert decide(docs, Request(token=token(aud="app"))).status == 200
    assert decide(docs, Request(token=token(aud="nope"))).status == 401


def test_several_issuers() -> None:
    """With two issuers a token of either verifies; with both missing the request passes."""
    second = jwt_policy().replace("name: jwt", "name: jwt2").replace(ISS, "other@example.com")
    docs = JWT + second
    assert decide(docs, Request(token=Token({"iss": "other@example.com"}))).status == 200
    assert decide(docs, Request(token=token(aud="app"))).status == 200
    assert decide(docs, Request()).status == 200
    assert decide(docs, Request(token=Token({"iss": "third"}))).status == 401


def _listener(mode: str, protocol: str, policies: str) -> dict[str, object]:
    """An inbound listener built like part 2 will: the mode's chains around the security filters."""
    filters = security_filters(policies, tcp=protocol == "TCP")
    if protocol == "HTTP":
        filters = [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {"http_filters": filters}}]
    chains = inbound_filter_chains(mode, protocol, filters, name="l", trust_domains=["cluster.local"])  # type: ignore[arg-type]
    return {"name": "l", **inbound_listener_fields(chains)}


@pytest.mark.parametrize(
    ("mode", "protocol", "peer", "allowed", "reason"),
    [
        ("STRICT", "HTTP", PLAIN, False, "no filter chain matches: connection refused"),
        ("STRICT", "HTTP", SLEEP, True, "allowed"),
        ("STRICT", "HTTP", OTHER, False, "RBAC: access denied"),
        ("PERMISSIVE", "HTTP", PLAIN, False, "RBAC: access denied"),
        ("PERMISSIVE", "HTTP", SLEEP, True, "allowed"),
        ("DISABLE", "HTTP", SLEEP, False, "no filter chain matches: connection refused"),
        ("STRICT", "TCP", PLAIN, False, "no filter chain matches: connection refused"),
        ("PERMISSIVE", "TCP", SLEEP, True, "allowed"),
        ("PERMISSIVE", "TCP", OTHER, False, "RBAC: access denied"),
    ],
)
def test_whole_listener(mode: str, protocol: str, peer: Peer, allowed: bool, reason: str) -> None:
    """The listener's chain choice comes first: plaintext to STRICT and mTLS to DISABLE are refused,
    then the chain's policies decide (here: only the sleep identity is allowed)."""
    policy = allow("from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]")
    d = evaluate_listener(_listener(mode, protocol, policy), GET, peer)
    assert (d.allowed, d.reason) == (allowed, reason)
