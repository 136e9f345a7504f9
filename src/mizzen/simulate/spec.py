"""The RouteTest file format (``apiVersion: mizzen.io/v1alpha1``, ``kind: RouteTest``).

A RouteTest describes workloads (so no process needs to run) and cases: who sends (``from``), what is
sent (``request``) and what must happen (``expect``; several keys are ANDed)::

    apiVersion: mizzen.io/v1alpha1
    kind: RouteTest
    metadata: {name: reviews-canary}
    spec:
      workloads:
      - {name: productpage-v1, labels: {app: productpage, version: v1}}
      cases:
      - name: jason sees v2
        from: {workload: productpage-v1}
        request: {host: reviews, port: 9080, headers: {end-user: jason}}
        expect: {destination: {host: reviews, subset: v2}}

The dataclasses below are the schema (validated by :func:`mizzen.config.schema.check`, so problems
carry file:line and field path like config files); fields that also take the word ``none`` are
checked by :func:`problems` by hand.
"""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mizzen.config.codes import violation
from mizzen.config.report import Violation
from mizzen.config.resource import Resource
from mizzen.config.schema import Duration, build, check, duration_problem, fld

NONE = "none"


@dataclass(frozen=True)
class WorkloadDef:
    """A workload of the tested mesh: an endpoint of the Services selecting its labels, and a possible
    ``from``. ``gateway: true`` makes it an ingress gateway (an Envoy router) instead of a sidecar."""

    name: str = fld("", required=True)
    namespace: str | None = fld()
    labels: Mapping[str, str] = fld(dict)
    service_account: str | None = fld()
    address: str | None = fld()
    ports: Mapping[str, int] = fld(dict)  # port name -> number the workload serves (WorkloadEntry ports)
    gateway: bool = fld(False)


@dataclass(frozen=True)
class From:
    """The sending proxy: a described workload by name, any sidecar with these labels, or a gateway."""

    workload: str | None = fld(oneof="source")
    labels: Mapping[str, str] | None = fld(oneof="source")
    gateway: str | None = fld(oneof="source")
    namespace: str | None = fld()


@dataclass(frozen=True)
class JwtSpec:
    """A JWT the client sends, described rather than signed: its claims and whether its signature and
    lifetime verify (``valid: false`` is a forged or expired token). Sent as ``Authorization: Bearer``
    unless ``header``/``prefix`` or a query ``param`` say otherwise."""

    claims: Mapping[str, Any] = fld(dict)
    valid: bool = fld(True)
    header: str | None = fld("authorization")
    prefix: str = fld("Bearer ")
    param: str | None = fld()


@dataclass(frozen=True)
class RequestSpec:
    """One request. ``host`` may carry the port (``reviews:9080``); ``authority`` overrides the Host
    header sent. ``protocol`` tcp/tls/grpc goes through an explicit upstream listener."""

    host: str = fld("", required=True)
    port: int | None = fld()
    path: str = fld("/")
    method: str = fld("GET")
    headers: Mapping[str, str] = fld(dict)
    scheme: Literal["http", "https"] = fld("http")
    protocol: Literal["http", "grpc", "tcp", "tls"] = fld("http")
    sni: str | None = fld()
    authority: str | None = fld()
    jwt: JwtSpec | None = fld()  # for ``allowed``: RequestAuthentication and request principals


@dataclass(frozen=True)
class DestinationExpect:
    """Where the request goes: a host (short name or FQDN), optionally a subset and port."""

    host: str = fld("", required=True)
    subset: str | None = fld()
    port: int | None = fld()


@dataclass(frozen=True)
class FaultExpect:
    """Injected faults: a delay and/or an abort (status), each at a percentage (default 100)."""

    delay: Duration | None = fld()
    delay_percent: float | None = fld()
    abort: int | None = fld()
    abort_percent: float | None = fld()


@dataclass(frozen=True)
class RetriesExpect:
    """The route's retry policy (only the keys given are compared)."""

    attempts: int | None = fld()
    per_try_timeout: Duration | None = fld()
    retry_on: str | None = fld()


@dataclass(frozen=True)
class RewriteExpect:
    """Rewrites: the configured URI prefix/regex replacement, the authority, or the resulting path."""

    uri: str | None = fld()
    authority: str | None = fld()
    path: str | None = fld()


@dataclass(frozen=True)
class HeaderOpsExpect:
    """Header changes in one direction; each listed change must be configured."""

    set: Mapping[str, str] = fld(dict)
    add: Mapping[str, str] = fld(dict)
    remove: tuple[str, ...] = fld(())


@dataclass(frozen=True)
class HeadersExpect:
    """Header changes for the request to the upstream and the response to the client."""

    request: HeaderOpsExpect | None = fld()
    response: HeaderOpsExpect | None = fld()


@dataclass(frozen=True)
class MirrorExpect:
    """A mirror destination and, optionally, the mirrored percentage."""

    host: str = fld("", required=True)
    subset: str | None = fld()
    port: int | None = fld()
    percent: float | None = fld()


@dataclass(frozen=True)
class VirtualServiceExpect:
    """Which VirtualService built the matched route, and which of its ``http`` rules (index or name)."""

    name: str = fld("", required=True)
    namespace: str | None = fld()
    route: int | str | None = fld()


@dataclass(frozen=True)
class Expect:
    """What must happen; every key given must hold. ``Any`` fields take an object or ``none``."""

    cluster: str | None = fld()
    destination: DestinationExpect | None = fld()
    weight: int | None = fld()
    weights: Mapping[str, int] | None = fld()
    status: int | None = fld()
    location: str | None = fld()
    fault: Any = fld()
    timeout: Any = fld()
    retries: Any = fld()
    rewrite: Any = fld()
    headers: HeadersExpect | None = fld()
    mirror: Any = fld()
    virtual_service: Any = fld()
    allowed: bool | None = fld()


@dataclass(frozen=True)
class Case:
    """One assertion: from, request, expect."""

    name: str = fld("", required=True)
    from_: From | None = fld(json="from", required=True)
    request: RequestSpec | None = fld(required=True)
    expect: Expect | None = fld(required=True)


@dataclass(frozen=True)
class RouteTestSpec:
    """The spec of a RouteTest."""

    workloads: tuple[WorkloadDef, ...] = fld(())
    cases: tuple[Case, ...] = fld(())


# Fields of ``expect`` that take ``none`` or an object of this model.
_OR_NONE: dict[str, type | None] = {
    "fault": FaultExpect,
    "retries": RetriesExpect,
    "rewrite": RewriteExpect,
    "mirror": MirrorExpect,
    "timeout": None,  # a duration string
}


def parse(resource: Resource) -> RouteTestSpec:
    """The typed spec of a RouteTest (call :func:`problems` first: mistyped fields fall back to defaults)."""
    spec: RouteTestSpec = build(RouteTestSpec, resource.spec)
    return spec


def problems(resource: Resource) -> list[Violation]:
    """Every schema and meaning problem of one RouteTest, with field paths under ``spec``."""
    out = check(RouteTestSpec, resource.spec, "spec")
    cases = resource.spec.get("cases")
    if not isinstance(cases, list):
        if not resource.spec.get("workloads"):
            out.append(violation("MZ1003", 'field "cases" is required (or workloads, for a shared file)', "spec"))
        return out
    seen: set[str] = set()
    for i, case in enumerate(cases):
        if not isinstance(case, Mapping):
            continue
        path = f"spec.cases[{i}]"
        name = case.get("name")
        if isinstance(name, str) and name:
            if name in seen:
                out.append(violation("MZ2901", f'case name "{name}" is used twice in this RouteTest', f"{path}.name"))
            seen.add(name)
        out.extend(_case_problems(case, path))
    return out


def _case_problems(case: Mapping[str, Any], path: str) -> list[Violation]:
    out: list[Violation] = []
    source = case.get("from")
    if isinstance(source, Mapping) and source and not any(source.get(k) for k in ("workload", "labels", "gateway")):
        out.append(violation("MZ1003", "one of workload, labels or gateway is required", f"{path}.from"))
    expect = case.get("expect")
    if not isinstance(expect, Mapping):
        return out
    for key, model in _OR_NONE.items():
        if key in expect:
            out.extend(_or_none(expect[key], model, f"{path}.expect.{key}"))
    if "virtualService" in expect:
        out.extend(_vs_problems(expect["virtualService"], f"{path}.expect.virtualService"))
    if "weight" in expect and "destination" not in expect:
        out.append(violation("MZ2901", "weight needs a destination (the destination's share)", f"{path}.expect.weight"))
    if "location" in expect and "status" not in expect:
        out.append(violation("MZ2901", "location needs a status (the redirect's code)", f"{path}.expect.location"))
    return out


def _or_none(value: Any, model: type | None, path: str) -> list[Violation]:
    if value == NONE:
        return []
    if model is None:
        if not isinstance(value, str):
            return [violation("MZ1002", 'must be a duration string such as "1s", or none', path)]
        problem = duration_problem(value, zero_ok=True)
        return [violation("MZ1006", problem, path)] if problem else []
    if not isinstance(value, Mapping):
        return [violation("MZ1002", "must be an object, or none", path)]
    return check(model, value, path)


def _vs_problems(value: Any, path: str) -> list[Violation]:
    if isinstance(value, str):
        return [] if value else [violation("MZ1003", "a VirtualService name is required", path)]
    if isinstance(value, Mapping):
        return check(VirtualServiceExpect, value, path)
    return [violation("MZ1002", "must be a VirtualService name (or namespace/name), or an object", path)]


def virtual_service_expect(value: Any) -> VirtualServiceExpect:
    """``reviews``, ``default/reviews`` or ``{name, namespace, route}`` as one model."""
    if isinstance(value, str):
        ns, _, name = value.rpartition("/")
        return VirtualServiceExpect(name=name, namespace=ns or None)
    out: VirtualServiceExpect = build(VirtualServiceExpect, value)
    return out


def or_none(value: Any, model: type) -> Any:
    """``None`` for ``none``, else the model built from ``value``."""
    return None if value == NONE else build(model, value)
