"""The walker behind ``mizzen test`` against real Envoy: for generated configs and requests, what the walker
predicts (from the control plane's live config, as ``mizzen test --live`` reads it) is what the request
does through real sidecars and a real ingress gateway.

One mesh for the module: a control plane, echo backends that say who answered (echo v1/v2/v3 in
``default``, ``other`` and ``hidden`` (exportTo ".") in ``team``), two senders (``client`` in
``default``; ``locked`` in ``locked``, whose Sidecar scopes egress and sets REGISTRY_ONLY) and one
``mizzen gateway``. Each test applies config, waits until every proxy ACKed it, walks the requests and
sends them. A prediction is an Envoy-local answer (status, Location, body) or the set of workloads behind
the clusters the route may reach; weights are checked as a split against observed counts.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mizzen.cli.client import ApiClient
from mizzen.cli.test_cmd import read_live
from mizzen.config.kinds import ROUTE_TEST
from mizzen.config.resource import Metadata, Resource
from mizzen.simulate import envoy, expect, inputs, runner
from mizzen.simulate.walker import Result
from mizzen.testing.controlplane import RunningControlPlane, controlplane, free_port
from mizzen.testing.mesh import Mesh, MeshError, Workload
from mizzen.translate.model import MeshConfig, ProxyResources

pytestmark = pytest.mark.e2e

GATEWAY_ID = "istio-ingressgateway.istio-system"
SEED = int(os.environ.get("MIZZEN_FIDELITY_SEED", "1613"))
BASE = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: team}
spec: {selector: {app: other}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hidden, namespace: team, annotations: {networking.istio.io/exportTo: "."}}
spec: {selector: {app: hidden}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: locked}
spec:
  egress: [{hosts: ["default/echo.default.svc.cluster.local", "team/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""
SUBSETS = ("v1", "v2", "v3")


@dataclass
class Env:
    mesh: Mesh
    cp: RunningControlPlane
    senders: dict[str, Workload]
    gateway_ports: tuple[int, int]


def _start_gateway(cp: RunningControlPlane, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "mizzen.cli.main", "gateway", "--address", "127.0.0.1"]
    with open(log, "wb") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **cp.env()}, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home: Path = tmp_path_factory.mktemp("fidelity")
    with controlplane(home) as cp, Mesh(cp) as m:
        m.apply(BASE)
        gateway = _start_gateway(cp, home / "gateway.log")
        try:
            specs = [(f"echo-{v}", {"app": "echo", "version": v}) for v in SUBSETS]
            started = m.run_all([("client", {"app": "client", "version": "v1"}), *specs])
            other = m.run_all([("other-v1", {"app": "other"}), ("hidden-v1", {"app": "hidden"})], namespace="team")
            locked = m.run("locked", {"app": "locked"}, namespace="locked")
            deadline = time.monotonic() + 30
            while m.proxy(GATEWAY_ID) is None:
                if gateway.poll() is not None or time.monotonic() > deadline:
                    raise MeshError(f"the gateway did not connect:\n{(home / 'gateway.log').read_text()}")
                time.sleep(0.1)
            m.wait_synced()
            assert started and other
            yield Env(m, cp, {"client": started[0], "locked": locked}, (free_port(), free_port()))
        finally:
            _stop(gateway)


# --- predictions from the live config, observations from real Envoy --------------------------------


@dataclass(frozen=True)
class Probe:
    """One request from a sender (``client``, ``locked`` or ``gateway``)."""

    sender: str
    host: str
    port: int
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Prediction:
    status: int | None  # an answer Envoy makes itself
    location: str
    body: str | None
    workloads: frozenset[str]  # who may answer a forwarded request
    path: str  # the path the upstream sees


def predict(env: Env, probes: list[Probe]) -> list[tuple[Prediction, Result]]:
    """The walker's answer for each probe, from the control plane's config (``mizzen test --live``)."""
    token = env.cp.headers()["Authorization"].split(" ", 1)[1]
    client = ApiClient(env.cp.address, token)
    try:
        found = read_live(client, inputs.Inputs())
    finally:
        client.close()
    cases = [_case(i, p) for i, p in enumerate(probes)]
    doc = Resource(ROUTE_TEST.preferred_api_version, ROUTE_TEST.kind, Metadata("fidelity"), {"cases": cases})
    plan, report = runner.prepare(found.config, [doc], MeshConfig(), found.workloads)
    assert plan is not None, [str(v) for v in report.errors]
    owners = _endpoint_owners(plan.resources)
    return [(_prediction(r, res, owners), r) for _, r, res in runner.simulate_plan(plan)]


def _case(i: int, p: Probe) -> dict[str, Any]:
    source: dict[str, Any] = {"gateway": "istio-ingressgateway"} if p.sender == "gateway" else {"workload": p.sender}
    if p.sender == "locked":
        source["namespace"] = "locked"
    host = p.host.split(":")[0]
    request = {"host": host, "port": p.port, "path": p.path, "method": p.method, "headers": dict(p.headers)}
    if p.sender == "gateway":
        request["authority"] = p.host  # the Host header sent, as written (curl -H "Host: ...")
    return {"name": f"probe {i}", "from": source, "request": request, "expect": {"fault": "none"}}


def _endpoint_owners(resources: list[Resource]) -> dict[tuple[str, int], str]:
    out = {}
    for r in resources:
        if r.kind == "WorkloadEntry":
            for port in (r.spec.get("ports") or {}).values():
                out[(str(r.spec.get("address")), int(port))] = r.name
    return out


def _prediction(r: Result, res: ProxyResources, owners: Mapping[tuple[str, int], str]) -> Prediction:
    status, _ = expect.outcome_status(r)
    body = r.direct_response[1] if r.direct_response else None
    names = set()
    for up in r.upstreams:
        if up.weight <= 0:
            continue
        assignment: Any = res.endpoints.get(up.cluster) or {}
        for group in assignment.get("endpoints", []):
            for ep in group.get("lb_endpoints", []):
                sock = ep["endpoint"]["address"]["socket_address"]
                names.add(owners.get((sock["address"], sock["port_value"]), "?"))
    prefix = envoy.matched_prefix(r.route.get("match", {}), r.request.path)
    path = envoy.rewritten_path(r.route.get("route", {}), r.request.path, prefix) or r.request.path
    return Prediction(status, r.location, body, frozenset(names), path.partition("?")[0])


@dataclass(frozen=True)
class Observed:
    status: int
    workload: str | None
    location: str
    body: str
    path: str


def send(env: Env, p: Probe) -> Observed:
    """Send the probe through the sender's real Envoy."""
    headers = dict(p.headers)
    if p.sender == "gateway":
        with httpx.Client(trust_env=False, timeout=10.0) as c:
            resp = c.request(p.method, f"http://127.0.0.1:{p.port}{p.path}", headers={"Host": p.host, **headers})
    else:
        with env.senders[p.sender].client(timeout=10.0) as c:
            resp = c.request(p.method, f"http://{p.host}:{p.port}{p.path}", headers=headers)
    workload, path = None, ""
    if resp.status_code == 200 and resp.headers.get("content-type", "").startswith("application/json"):
        body = resp.json()
        workload, path = body.get("workload"), str(body.get("path", ""))
    return Observed(resp.status_code, workload, resp.headers.get("location", ""), resp.text, path)


def agrees(pred: Prediction, obs: Observed) -> bool:
    """The prediction holds: Envoy's own answer, or an answer from one of the predicted workloads."""
    if pred.status is not None:
        same_body = pred.body is None or obs.body == pred.body
        return obs.status == pred.status and obs.location == pred.location and same_body and obs.workload is None
    return obs.status == 200 and obs.workload in pred.workloads and obs.path == pred.path


def check_probes(env: Env, probes: list[Probe]) -> None:
    """Every probe: the walker's prediction agrees with what real Envoy did."""
    wrong = []
    for probe, (pred, result) in zip(probes, predict(env, probes), strict=True):
        obs = send(env, probe)
        if not agrees(pred, obs):
            wrong.append(f"{probe}\n  predicted {pred}\n  observed {obs}\n  " + "\n  ".join(result.steps))
    assert not wrong, f"seed {SEED}: {len(wrong)} of {len(probes)} disagree:\n" + "\n".join(wrong)


def apply(env: Env, *docs: Mapping[str, Any]) -> None:
    env.mesh.apply(yaml.safe_dump_all(list(docs), sort_keys=False))
    env.mesh.wait_synced()


def delete_vs(env: Env, *names: str, namespace: str = "default") -> None:
    for name in names:
        path = f"/apis/networking.istio.io/v1/namespaces/{namespace}/virtualservices/{name}"
        if env.mesh.http.get(path).status_code == 200:
            env.mesh.delete(path)
    env.mesh.wait_synced()


def vs(name: str, hosts: list[str], http: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": extra.pop("namespace", "default")}
    spec = {"hosts": hosts, **extra, "http": http} if hosts else {**extra, "http": http}
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": meta, "spec": spec}


def to(subset: str) -> list[dict[str, Any]]:
    return [{"destination": {"host": "echo", "subset": subset}}]


# --- generated HTTP rules ---------------------------------------------------------------------------


_Condition = Callable[[str, random.Random], tuple[dict[str, Any], dict[str, Any]]]
# Per HTTP match kind: (Istio match fragment, request fields that satisfy it), from a random word.
CONDITIONS: dict[str, _Condition] = {
    "exact": lambda w, r: ({"uri": {"exact": f"/{w}"}}, {"path": f"/{w}"}),
    "prefix": lambda w, r: ({"uri": {"prefix": f"/{w}/"}}, {"path": f"/{w}/{r.randint(1, 9)}"}),
    "regex": lambda w, r: ({"uri": {"regex": f"/{w}/[0-9]+"}}, {"path": f"/{w}/{r.randint(10, 99)}"}),
    "icase": lambda w, r: ({"uri": {"prefix": f"/{w.upper()}"}, "ignoreUriCase": True}, {"path": f"/{w}x"}),
    "header": lambda w, r: ({"headers": {"x-user": {"exact": w}}}, {"headers": {"x-user": w}}),
    "hprefix": lambda w, r: ({"headers": {"x-tier": {"prefix": w[:2]}}}, {"headers": {"x-tier": w}}),
    "hregex": lambda w, r: ({"headers": {"x-id": {"regex": "[a-c]+[0-9]"}}}, {"headers": {"x-id": "abc7"}}),
    "without": lambda w, r: ({"withoutHeaders": {"x-skip": {"exact": "1"}}}, {"headers": {"x-skip": "0"}}),
    "query": lambda w, r: ({"queryParams": {"v": {"exact": w}}}, {"query": f"v={w}"}),
    "qregex": lambda w, r: ({"queryParams": {"n": {"regex": "[0-9]{2}"}}}, {"query": "n=42"}),
    "method": lambda w, r: ({"method": {"exact": "POST"}}, {"method": "POST"}),
    "authority": lambda w, r: ({"authority": {"prefix": "echo"}}, {}),
    "scheme": lambda w, r: ({"scheme": {"exact": "http"}}, {}),
    "port": lambda w, r: ({"port": 9080}, {}),
    "source": lambda w, r: ({"sourceLabels": {"app": "locked"}}, {"sender": "locked"}),
    "srcns": lambda w, r: ({"sourceNamespace": "locked"}, {"sender": "locked"}),
}
MATCH_KINDS = tuple(CONDITIONS)
ACTIONS = ("route", "split", "direct", "redirect", "abort", "rewrite")


class Generator:
    """Random VirtualService rules over every HTTP match kind and action, and requests that hit or miss them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: Counter[str] = Counter()  # kinds that made it into a rule
        self._turn: Counter[tuple[str, ...]] = Counter()

    def _next(self, kinds: tuple[str, ...]) -> str:
        """Kinds in turn, so every kind is generated within a few configs."""
        self._turn[kinds] += 1
        return kinds[self._turn[kinds] % len(kinds)]

    def condition(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(kind, Istio match fragment, request fields that satisfy it)."""
        kind = self._next(MATCH_KINDS)
        return (kind, *self._condition(kind))

    def _condition(self, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
        word = self.rng.choice(["alpha", "beta", "gamma"])
        return CONDITIONS[kind](word, self.rng)

    def action(self, kind: str) -> dict[str, Any]:
        r = self.rng
        if kind == "route":
            return {"route": to(r.choice(SUBSETS))}
        if kind == "split":
            a, b = r.sample(SUBSETS, 2)
            w = r.choice([20, 50, 80])
            return {"route": [{**to(a)[0], "weight": w}, {**to(b)[0], "weight": 100 - w}]}
        if kind == "direct":
            return {"directResponse": {"status": r.choice([200, 418, 503]), "body": {"string": "from the rule"}}}
        if kind == "redirect":
            redirect: dict[str, Any] = {"uri": "/moved", "redirectCode": r.choice([301, 302, 307])}
            if r.random() < 0.5:
                redirect["authority"] = "elsewhere.example.com"
            return {"redirect": redirect}
        if kind == "abort":
            return {"fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}}, "route": to("v1")}
        return {"rewrite": {"uri": "/rewritten/"}, "route": to(r.choice(SUBSETS))}

    def rules(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(http rules, request field sets that satisfy one match of each rule)."""
        rules, hits = [], []
        for _ in range(self.rng.randint(2, 4)):
            matches, wants = [], []
            for _ in range(self.rng.randint(1, 2)):
                match: dict[str, Any] = {}
                want: dict[str, Any] = {}
                for _ in range(self.rng.randint(1, 2)):
                    kind, m, w = self.condition()
                    if any(k in match for k in m) or any(k in want for k in w):
                        continue
                    match.update(m)
                    want.update(w)
                    self.used[kind] += 1
                matches.append(match)
                wants.append(want)
            action = self._next(ACTIONS)
            self.used[action] += 1
            rules.append({"match": matches, **self.action(action)})
            hits.append(self.rng.choice(wants))
        if self.rng.random() < 0.7:
            rules.append({"route": to(self.rng.choice(SUBSETS))})
        return rules, hits

    def probe(self, want: Mapping[str, Any]) -> Probe:
        path = str(want.get("path", self.rng.choice(["/", "/alpha", "/beta/3", "/other"])))
        query = want.get("query") or (self.rng.choice(["", "v=beta", "n=7"]))
        headers = {**want.get("headers", {})}
        if self.rng.random() < 0.3:
            headers[self.rng.choice(["x-user", "x-tier", "x-skip"])] = self.rng.choice(["alpha", "1", "zz"])
        return Probe(
            want.get("sender", self.rng.choice(["client", "client", "locked"])),
            "echo",
            9080,
            path + (f"?{query}" if query else ""),
            str(want.get("method", self.rng.choice(["GET", "GET", "POST"]))),
            tuple(sorted(headers.items())),
        )


def test_generated_http_rules_match_real_envoy(env: Env) -> None:
    """Generated VirtualServices (every HTTP match kind; routes, splits, direct responses, redirects,
    aborts, rewrites): each request's predicted answer is what real Envoy answers."""
    rng = random.Random(SEED)
    gen = Generator(rng)
    try:
        for _ in range(10):
            rules, hits = gen.rules()
            apply(env, vs("echo", ["echo"], rules))
            probes = [gen.probe(h) for h in hits] + [gen.probe({}) for _ in range(12)]
            check_probes(env, probes)
        assert set(gen.used) == {*MATCH_KINDS, *ACTIONS}, gen.used
    finally:
        delete_vs(env, "echo")


def test_weights_are_the_observed_split(env: Env) -> None:
    """The walker's weighted clusters are the split real Envoy makes (counts within 4.5 sigma)."""
    split = [{**to("v1")[0], "weight": 70}, {**to("v2")[0], "weight": 20}, {**to("v3")[0], "weight": 10}]
    apply(env, vs("echo", ["echo"], [{"route": split}]))
    try:
        probe = Probe("client", "echo", 9080, "/split")
        [(_, result)] = predict(env, [probe])
        weights = {c.split("|")[2]: w / 100 for c, w in result.weighted_clusters}
        assert weights == {"v1": 0.7, "v2": 0.2, "v3": 0.1}
        n = 300
        with env.senders["client"].client() as c:
            seen = Counter(c.get("http://echo:9080/split").json()["workload"] for _ in range(n))
        for subset, p in weights.items():
            got = seen[f"echo-{subset}"] / n
            assert abs(got - p) <= 4.5 * math.sqrt(p * (1 - p) / n), (subset, got, p, seen)
        assert sum(seen.values()) == n
    finally:
        delete_vs(env, "echo")


def test_gateway_host_and_port_selection(env: Env) -> None:
    """Gateway servers on two ports with exact and wildcard hosts: listener by port, vhost by Host."""
    pa, pb = env.gateway_ports
    ga = gateway("ga", pa, ["a.example.com"])
    gb = gateway("gb", pb, ["*.b.example.com", "b.example.com"])
    va = vs("va", ["a.example.com"], [{"route": to("v1")}], gateways=["istio-system/ga"])
    vb = vs("vb", ["*.b.example.com"], [{"match": [{"uri": {"prefix": "/x"}}], "route": to("v3")}, {"route": to("v2")}],
            gateways=["istio-system/gb"])  # fmt: skip
    vb2 = vs("vb2", ["b.example.com"], [{"route": to("v1")}], gateways=["istio-system/gb"])
    apply(env, ga, gb, va, vb, vb2)
    try:
        probes = [
            Probe("gateway", "a.example.com", pa),
            Probe("gateway", f"a.example.com:{pa}", pa, "/y"),
            Probe("gateway", "b.example.com", pa),
            Probe("gateway", "x.b.example.com", pb, "/x/1"),
            Probe("gateway", "deep.x.b.example.com", pb, "/z"),
            Probe("gateway", "b.example.com", pb),
            Probe("gateway", "a.example.com", pb),
        ]
        _wait_listening(pa, pb)
        check_probes(env, probes)
    finally:
        delete_vs(env, "va", "vb", "vb2")
        for name in ("ga", "gb"):
            env.mesh.delete(f"/apis/networking.istio.io/v1/namespaces/istio-system/gateways/{name}")
        env.mesh.wait_synced()


def gateway(name: str, port: int, hosts: list[str]) -> dict[str, Any]:
    """A Gateway for the ingress gateway with one HTTP server."""
    server = {"port": {"number": port, "name": f"http-{name}", "protocol": "HTTP"}, "hosts": hosts}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "istio-system"},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": [server]},
    }


def _wait_listening(*ports: int) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def test_delegates(env: Env) -> None:
    """A root VirtualService delegating a prefix to a child: merged matches route as in Envoy."""
    root = vs("echo", ["echo"], [
        {"match": [{"uri": {"prefix": "/d"}}], "delegate": {"name": "echo-child", "namespace": "default"}},
        {"route": to("v1")},
    ])  # fmt: skip
    child = vs("echo-child", [], [
        {"match": [{"uri": {"prefix": "/d/two"}}], "route": to("v2")},
        {"match": [{"headers": {"x-user": {"exact": "alpha"}}}], "directResponse": {"status": 418}},
        {"route": to("v3")},
    ])  # fmt: skip
    apply(env, child, root)
    try:
        probes = [
            Probe("client", "echo", 9080, "/d/two/x"),
            Probe("client", "echo", 9080, "/d/x", headers=(("x-user", "alpha"),)),
            Probe("client", "echo", 9080, "/d/x"),
            Probe("client", "echo", 9080, "/e"),
        ]
        check_probes(env, probes)
    finally:
        delete_vs(env, "echo", "echo-child")


def test_registry_only_egress_scoping_and_export_to(env: Env) -> None:
    """REGISTRY_ONLY (502), Sidecar egress hosts, Service exportTo and VirtualService exportTo."""
    team_only = vs("other-team-only", ["other.team.svc.cluster.local"], [{"directResponse": {"status": 418}}],
                   namespace="team", exportTo=["."])  # fmt: skip
    apply(env, team_only)
    try:
        probes = [
            Probe("locked", "echo", 9080),  # in the Sidecar's egress hosts
            Probe("locked", "echo.default.svc.cluster.local", 9080),
            Probe("locked", "other.team", 9080),  # team/* is in egress; the team-only VS does not apply
            Probe("locked", "hidden.team", 9080),  # exportTo ".": not visible -> REGISTRY_ONLY 502
            Probe("locked", "unknown.example.com", 80),
            Probe("client", "other.team", 9080),
            Probe("client", "other.team.svc.cluster.local", 9080),
        ]
        check_probes(env, probes)
    finally:
        delete_vs(env, "other-team-only", namespace="team")
