"""Planning a run: check the RouteTests, resolve every ``from``, and build the tested mesh.

:func:`prepare` collects every problem at once, with file:line and field path (schema, meaning, senders
that cannot be found); nothing runs unless all is well. :func:`target` says where a case's request enters
its sender's Envoy (the HTTP-proxy listener, an explicit upstream listener, or a gateway port).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mizzen.config.codes import violation
from mizzen.config.report import Report
from mizzen.config.resource import Origin, Resource
from mizzen.config.validate import locate
from mizzen.simulate import mesh as meshes
from mizzen.simulate import spec
from mizzen.simulate.mesh import Workload
from mizzen.simulate.walker import Request
from mizzen.translate.model import MeshConfig, MeshSnapshot


@dataclass(frozen=True)
class PlannedCase:
    """A checked case, its sender resolved."""

    suite: Resource
    index: int
    case: spec.Case
    raw_expect: Mapping[str, object]
    sender: Workload

    @property
    def path(self) -> str:
        """The case's field path in its RouteTest (for error locations)."""
        return f"spec.cases[{self.index}]"


@dataclass
class Plan:
    """Everything a run needs, checked."""

    resources: list[Resource]  # config + described workloads' WorkloadEntries (+ gateway Services)
    mesh: MeshSnapshot
    cases: list[PlannedCase]
    workloads: dict[tuple[str, str], Workload] = field(default_factory=dict)


def prepare(
    config: Sequence[Resource],
    tests: Sequence[Resource],
    mesh_config: MeshConfig,
    extra_workloads: Iterable[Workload] = (),
) -> tuple[Plan | None, Report]:
    """Check the RouteTests in ``tests`` against ``config``; a Plan only when there is no error."""
    report = Report()
    suites: list[tuple[Resource, spec.RouteTestSpec]] = []
    broken: set[tuple[int, int]] = set()  # (test, case) with problems: no sender lookup for those
    for n, t in enumerate(tests):
        found = spec.problems(t)
        suites.append((t, spec.parse(t)))
        broken |= {(n, int(m.group(1))) for v in found if (m := _CASE_PATH.match(v.path))}
        report.extend(locate(t, found))
    world = _world(config, suites, extra_workloads, report)
    cases: list[PlannedCase] = []
    for n, (t, parsed) in enumerate(suites):
        for i, case in enumerate(parsed.cases):
            if (n, i) in broken:
                continue
            raw = t.spec.get("cases", [])[i]
            sender = _sender(case, t, world)
            if isinstance(sender, str):
                report.extend(locate(t, [violation("MZ2902", sender, f"spec.cases[{i}].from")]))
                continue
            cases.append(PlannedCase(t, i, case, dict(raw.get("expect") or {}), sender))
    if not report.ok:
        return None, report
    needed = [w for w in world.values() if not w.gateway] + _gateways(cases)
    resources = _mesh_resources(config, needed)
    plan = Plan(resources, meshes.snapshot(resources, mesh_config), cases, world)
    return plan, report


_CASE_PATH = re.compile(r"^spec\.cases\[(\d+)\]")


def _world(
    config: Sequence[Resource],
    suites: Sequence[tuple[Resource, spec.RouteTestSpec]],
    extra: Iterable[Workload],
    report: Report,
) -> dict[tuple[str, str], Workload]:
    """Every workload a case may name: WorkloadEntries, live proxies, and those the tests describe."""
    world: dict[tuple[str, str], Workload] = {}
    for r in config:
        if r.kind == "WorkloadEntry":
            labels = {str(k): str(v) for k, v in (r.spec.get("labels") or {}).items()}
            sa = str(r.spec.get("serviceAccount") or "default")
            world[(r.namespace, r.name)] = Workload(r.name, r.namespace, labels, sa, origin=r.origin, registered=True)
    for w in extra:  # a live proxy: its labels and kind from the proxy, its account from its WorkloadEntry
        entry = world.get(w.key)
        world[w.key] = w if entry is None else dataclasses.replace(w, service_account=entry.service_account)
    for t, parsed in suites:
        for i, wd in enumerate(parsed.workloads):
            w = _described(t, i, wd)
            first = world.get(w.key)
            if first is not None and first.origin.file and not first.registered:
                msg = f"workload {w.namespace}/{w.name} is described twice (first at {first.origin.where()})"
                report.extend(locate(t, [violation("MZ2904", msg, f"spec.workloads[{i}].name")]))
                continue
            world[w.key] = w
    return world


def _described(t: Resource, i: int, wd: spec.WorkloadDef) -> Workload:
    line = t.origin.line_of(f"spec.workloads[{i}]")
    origin = Origin(t.origin.file, {"": line} if line is not None else {})
    return Workload(
        wd.name,
        wd.namespace or t.namespace,
        dict(wd.labels),
        wd.service_account or "default",
        wd.address or "",
        dict(wd.ports),
        wd.gateway,
        origin,
    )


def _sender(case: spec.Case, t: Resource, world: Mapping[tuple[str, str], Workload]) -> Workload | str:
    """The sending workload of a case, or why it cannot be found."""
    src = case.from_ or spec.From()
    if src.labels is not None:
        return meshes.anonymous(src.labels, src.namespace or t.namespace)
    if src.gateway:
        ns = src.namespace or meshes.GATEWAY_NAMESPACE
        gw = world.get((ns, src.gateway))
        if gw is not None and gw.gateway:
            return gw
        if src.gateway == meshes.DEFAULT_GATEWAY:
            return meshes.default_gateway(ns)
        return f'no gateway "{ns}/{src.gateway}": describe it in spec.workloads with gateway: true and its labels'
    name = src.workload or ""
    ns = src.namespace or t.namespace
    w = world.get((ns, name))
    if w is None and src.namespace is None:
        named = [x for x in world.values() if x.name == name]
        w = named[0] if len(named) == 1 else None
    if w is None:
        return f'no workload "{ns}/{name}": describe it in spec.workloads, or give from.labels'
    if w.gateway:
        return f'"{ns}/{name}" is a gateway: use from.gateway'
    return w


def _gateways(cases: Sequence[PlannedCase]) -> list[Workload]:
    seen: dict[tuple[str, str], Workload] = {}
    for c in cases:
        if c.sender.gateway:
            seen.setdefault(c.sender.key, c.sender)
    return list(seen.values())


def _mesh_resources(config: Sequence[Resource], workloads: Sequence[Workload]) -> list[Resource]:
    out = list(config)
    index = 0
    for w in workloads:
        if w.gateway:
            if not any(meshes.selects(s, w) for s in out):
                out.append(meshes.gateway_service(w))
        elif not w.registered:
            out.append(meshes.workload_entry(w, index))
            index += 1
    return out


@dataclass(frozen=True)
class Target:
    """Where a case's request enters its sender's Envoy."""

    listener_port: int
    request: Request
    upstream: tuple[str, int] | None = None  # the explicit upstream listener it needs (TCP/TLS/gRPC)


def target(case: spec.Case, sender: Workload, config: Sequence[Resource]) -> Target:
    """The listener port and the request as the sender's Envoy receives it."""
    req = case.request or spec.RequestSpec()
    host, port = _host_port(req)
    tls = req.protocol == "tls" or req.scheme == "https"
    default_port = 443 if req.scheme == "https" else 80
    authority = req.authority or (host if port == default_port else f"{host}:{port}")
    request = Request(
        authority=authority,
        path=req.path or "/",
        method=req.method.upper(),
        headers={k.lower(): v for k, v in req.headers.items()},
        scheme=req.scheme,
        sni=req.sni or (host if tls else ""),
        tls=tls,
    )
    if sender.gateway:
        return Target(meshes.gateway_listen_port(config, sender, port), request)
    if req.protocol in ("tcp", "tls", "grpc"):
        return Target(0, request, (host, port))
    return Target(meshes.SIDECAR_HTTP_PROXY_PORT, request)


def _host_port(req: spec.RequestSpec) -> tuple[str, int]:
    host = req.host
    port = req.port
    if port is None and ":" in host and not host.endswith("]"):
        host, _, text = host.rpartition(":")
        port = int(text) if text.isdigit() else None
    return host.lower(), port or (443 if req.scheme == "https" else 80)
