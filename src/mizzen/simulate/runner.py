"""Running RouteTests: translate once per sender, walk every case, check it, explain failures.

Theory of operation: :func:`prepare` (from :mod:`mizzen.simulate.plan`) checks the test documents and
collects every problem at once; nothing runs unless all is well. :func:`run` then translates the mesh
for each distinct sender (sharing what sidecars of one scope share, as the control plane does), walks each
case's request through that output and checks its expectations. A failing case says what happened
instead and why: the decision path, the VirtualService rule that built the route and where it is written.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from mizzen.config.report import Report
from mizzen.config.resource import Origin, Resource
from mizzen.node import Proxy
from mizzen.simulate import authz, expect
from mizzen.simulate import mesh as meshes
from mizzen.simulate.mesh import Workload
from mizzen.simulate.plan import Plan, PlannedCase, Target, prepare, target
from mizzen.simulate.provenance import RouteOrigin, config_path_index, route_origin, tag_resources
from mizzen.simulate.walker import Request, Result, Walker
from mizzen.translate import sharing, translate
from mizzen.translate.model import MeshConfig, MeshSnapshot, ProxyResources
from mizzen.translate.scope import Scope, build_scope

__all__ = ["CaseResult", "Plan", "TestRun", "Translations", "explain", "prepare", "run", "simulate_plan", "summary"]


@dataclass(frozen=True)
class CaseResult:
    """The verdict on one case."""

    suite: str  # "namespace/name" of its RouteTest
    name: str
    file: str
    line: int | None
    passed: bool
    failures: tuple[str, ...] = ()
    actual: str = ""  # one line: what the request does
    explanation: tuple[str, ...] = ()  # the decision path and the rule behind it
    seconds: float = 0.0

    @property
    def where(self) -> str:
        """``file:line`` of the case (the file alone when the line is unknown)."""
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class TestRun:
    """Every case's verdict, in file order."""

    cases: tuple[CaseResult, ...]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return all(c.passed for c in self.cases)

    @property
    def failed(self) -> int:
        """How many cases failed."""
        return sum(1 for c in self.cases if not c.passed)


class _Senders:
    """Translation per sender (and the tagged translation for rule provenance), computed on demand."""

    def __init__(self, plan: Plan, upstreams: Mapping[tuple[str, str], list[tuple[str, int]]]) -> None:
        self.plan = plan
        self.upstreams = upstreams
        self._out: dict[tuple[str, str], tuple[Proxy, ProxyResources, Walker]] = {}
        self._translations = Translations(plan.mesh)
        self._tagged: dict[tuple[str, str], ProxyResources] = {}
        tagged, self.vss = tag_resources(plan.resources)
        self._tagged_resources = tagged
        self._tagged_translations: Translations | None = None
        self.find_vs = config_path_index(self.vss)
        self._authorizer: authz.Authorizer | None = None

    def authorize(self, c: PlannedCase, result: Result, request: Request) -> list[authz.Verdict]:
        """Each destination workload's verdict on the case's request (translating destinations on demand)."""
        if self._authorizer is None:
            self._authorizer = authz.Authorizer(self.plan.mesh, self.plan.workloads, self.plan.resources)
        _, res, _ = self.get(c.sender)
        jwt = c.case.request.jwt if c.case.request is not None else None
        return self._authorizer.decide(c.sender, res, request, result, jwt)

    def get(self, w: Workload) -> tuple[Proxy, ProxyResources, Walker]:
        if w.key not in self._out:
            proxy = meshes.gateway_proxy(w) if w.gateway else meshes.sidecar_proxy(w, self.upstreams.get(w.key, []))
            res = self._translations.translate(proxy)
            self._out[w.key] = (proxy, res, Walker(res))
        return self._out[w.key]

    def tagged(self, w: Workload) -> ProxyResources:
        if self._tagged_translations is None:  # only when a case needs rule provenance
            self._tagged_translations = Translations(meshes.snapshot(self._tagged_resources, self.plan.mesh.mesh))
        if w.key not in self._tagged:
            self._tagged[w.key] = self._tagged_translations.translate(self.get(w)[0])
        return self._tagged[w.key]


class Translations:
    """``translate`` for many proxies of one mesh, sharing what sidecars of the same scope share, as the
    control plane does (:mod:`mizzen.translate.sharing`): the result equals ``translate(proxy, mesh)``."""

    def __init__(self, mesh: MeshSnapshot) -> None:
        self.mesh = mesh
        self.selectors = sharing.label_selectors(mesh)
        self.failover_labels = sharing.failover_priority_labels(mesh)
        self._shared: dict[Hashable, tuple[Scope, ProxyResources]] = {}

    def translate(self, proxy: Proxy) -> ProxyResources:
        """The sender's translation, sharing the part alike senders have in common (as the control plane does)."""
        key = sharing.sharing_key(proxy, self.mesh, self.selectors, self.failover_labels)
        if key is None:
            return translate(proxy, self.mesh)
        if key not in self._shared:
            scope = build_scope(proxy, self.mesh)
            self._shared[key] = (scope, sharing.shared_resources(proxy, self.mesh, scope))
        scope, shared = self._shared[key]
        return sharing.merge(shared, sharing.local_resources(proxy, self.mesh, dataclasses.replace(scope, proxy=proxy)))


def _targets(plan: Plan) -> tuple[list[Target], _Senders]:
    upstreams: dict[tuple[str, str], list[tuple[str, int]]] = {}
    targets = []
    for c in plan.cases:
        tgt = target(c.case, c.sender, plan.resources)
        if tgt.upstream is not None and tgt.upstream not in upstreams.setdefault(c.sender.key, []):
            upstreams[c.sender.key].append(tgt.upstream)
        targets.append(tgt)
    return targets, _Senders(plan, upstreams)


def run(plan: Plan) -> TestRun:
    """Walk and check every planned case."""
    started = time.perf_counter()
    targets, senders = _targets(plan)
    results = tuple(_run_case(plan, senders, c, t) for c, t in zip(plan.cases, targets, strict=True))
    return TestRun(results, time.perf_counter() - started)


def simulate_plan(plan: Plan) -> list[tuple[PlannedCase, Result, ProxyResources]]:
    """Each case's walk without checking it: (case, result, the sender's resources). For tools and for
    cross-checking the walker against real Envoy."""
    targets, senders = _targets(plan)
    return [
        (c, walk_case(plan, senders, c, t), senders.get(c.sender)[1]) for c, t in zip(plan.cases, targets, strict=True)
    ]


def walk_case(plan: Plan, senders: _Senders, c: PlannedCase, tgt: Target) -> Result:
    """Walk one case's request through its sender's Envoy config."""
    proxy, _, walker = senders.get(c.sender)
    port = tgt.listener_port
    if tgt.upstream is not None:
        port = next(u.listen_port for u in proxy.upstreams if (u.host, u.port) == tgt.upstream)
    return walker.walk(port, tgt.request)


def _run_case(plan: Plan, senders: _Senders, c: PlannedCase, tgt: Target) -> CaseResult:
    started = time.perf_counter()
    result = walk_case(plan, senders, c, tgt)
    origin: RouteOrigin | None = None
    needs_origin = "virtualService" in c.raw_expect
    if needs_origin:
        origin = _origin(senders, c.sender, result)
    ctx = expect.Context(c.suite.namespace, origin)  # short hosts in expect resolve in the test's namespace
    assert c.case.expect is not None
    failures = expect.check(c.case.expect, c.raw_expect, result, ctx)
    verdicts: list[authz.Verdict] = []
    if "allowed" in c.raw_expect:
        verdicts = senders.authorize(c, result, tgt.request)
        failures += authz.check(verdicts, bool(c.case.expect.allowed))
    explanation: tuple[str, ...] = ()
    if failures:
        origin = origin or _origin(senders, c.sender, result)
        explanation = explain_lines(result, origin, senders.get(c.sender)[0], verdicts)
    line = c.suite.origin.line_of(c.path)
    return CaseResult(
        suite=f"{c.suite.namespace}/{c.suite.name}",
        name=c.case.name,
        file=c.suite.origin.file,
        line=line,
        passed=not failures,
        failures=tuple(failures),
        actual=summary(result),
        explanation=explanation,
        seconds=time.perf_counter() - started,
    )


def _origin(senders: _Senders, w: Workload, result: Result) -> RouteOrigin | None:
    return route_origin(result, senders.tagged(w), senders.vss, senders.find_vs)


def summary(r: Result) -> str:
    """One line: what the request does."""
    status, why = expect.outcome_status(r)
    if r.tcp:
        return f"TCP to {', '.join(r.clusters) or 'nowhere'}"
    if status is not None:
        return f"{status} from Envoy ({why})"
    if r.error:
        return r.error
    return (
        "forwarded to " + ", ".join(f"{c} ({w})" for c, w in r.weighted_clusters)
        if not r.cluster
        else f"forwarded to {r.cluster}"
    )


def explain_lines(
    r: Result, origin: RouteOrigin | None, proxy: Proxy, verdicts: Sequence[authz.Verdict] = ()
) -> tuple[str, ...]:
    """The decision path, which config built the route, then each destination's authorization."""
    lines = [f"proxy {proxy.id} ({proxy.type})", *r.steps]
    if origin is not None:
        lines.append("built from " + origin.describe())
    elif not r.error:
        lines.append("built from " + expect.describe_route(r))
    lines += [f"authorization at {v.arrival.address}:{v.arrival.port}: {v.text()}" for v in verdicts]
    return tuple(lines)


# --- explain --------------------------------------------------------------------------------------

EXPLAIN_FILE = "<command line>"


def explain(
    config: Sequence[Resource],
    tests: Sequence[Resource],
    mesh_config: MeshConfig,
    source: Mapping[str, object],
    request: Mapping[str, object],
    extra_workloads: Iterable[Workload] = (),
) -> tuple[tuple[str, ...], Report]:
    """The decision path of one request given on the command line (``tests`` may describe workloads)."""
    from mizzen.config.kinds import ROUTE_TEST
    from mizzen.config.resource import Metadata

    # A one-case RouteTest whose expectation is never checked: it only reuses the checks and lookups.
    case = {"name": "explain", "from": dict(source), "request": dict(request), "expect": {"status": 0}}
    doc = Resource(ROUTE_TEST.preferred_api_version, ROUTE_TEST.kind, Metadata("explain"), {"cases": [case]})
    doc = dataclasses.replace(doc, origin=Origin(EXPLAIN_FILE))
    plan, report = prepare(config, [*tests, doc], mesh_config, extra_workloads)
    if plan is None:
        return (), report
    planned = plan.cases[-1]
    tgt = target(planned.case, planned.sender, plan.resources)
    senders = _Senders(plan, {planned.sender.key: [tgt.upstream]} if tgt.upstream else {})
    result = walk_case(plan, senders, planned, tgt)
    proxy = senders.get(planned.sender)[0]
    verdicts = senders.authorize(planned, result, tgt.request)
    lines = explain_lines(result, _origin(senders, planned.sender, result), proxy, verdicts)
    return (*lines, "result: " + summary(result)), report
