"""Checking a case's ``expect`` against what the walker found: one message per key that does not hold.

The checks read the walker's :class:`Result` (Envoy's config for the chosen route) and nothing else.
Statuses are the ones Envoy answers itself: 404 when no route matches, a direct response, a redirect,
an abort injected for every request, 503 when every cluster the request may reach is unknown or has
no healthy endpoint; a request Envoy forwards has no status of its own (the app answers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mizzen.config.schema import duration_seconds
from mizzen.simulate import envoy, spec
from mizzen.simulate.provenance import RouteOrigin
from mizzen.simulate.spec import (
    Expect,
    FaultExpect,
    HeaderOpsExpect,
    MirrorExpect,
    RetriesExpect,
    RewriteExpect,
)
from mizzen.simulate.walker import Result, fault_text, percent
from mizzen.translate.names import parse_outbound_cluster


@dataclass(frozen=True)
class Context:
    """What checks need besides the result: the namespace short host names resolve in."""

    namespace: str
    origin: RouteOrigin | None = None


def outcome_status(r: Result) -> tuple[int | None, str]:
    """(status Envoy answers itself or ``None``, why) for the request."""
    abort = (r.fault or {}).get("abort")
    if abort and "http_status" in abort and percent(abort.get("percentage")) >= 100:
        return int(abort["http_status"]), "fault injection aborts every request"
    if r.status is not None:
        return r.status, _status_reason(r)
    if r.error:
        return None, r.error
    if r.upstreams and all(u.unavailable for u in r.upstreams):
        return 503, "no cluster it may reach has a healthy endpoint (no healthy upstream)"
    return None, "forwarded upstream (the status is the app's)"


def _status_reason(r: Result) -> str:
    if r.error == "no route":
        return "no route matches (404 NR)"
    if r.direct_response is not None:
        return "direct response"
    return f"redirect to {r.location}"


def check(expect: Expect, raw: Mapping[str, Any], r: Result, ctx: Context) -> list[str]:
    """Every expectation in ``expect`` that ``r`` does not meet, as a sentence saying what was found."""
    out: list[str] = []
    for key, fn in _CHECKS:
        if key in raw:
            problem = fn(expect, raw[key], r, ctx)
            if problem:
                out.append(f"{key}: {problem}")
    return out


def _cluster(e: Expect, _raw: Any, r: Result, _ctx: Context) -> str | None:
    if r.clusters == (e.cluster,):
        return None
    return f"expected {e.cluster}, got {_targets(r)}"


def _targets(r: Result) -> str:
    if r.cluster:
        return r.cluster
    if r.weighted_clusters:
        return "a split " + ", ".join(f"{c}={w}" for c, w in r.weighted_clusters)
    status, why = outcome_status(r)
    return f"no cluster ({status if status is not None else r.error or 'no action'}: {why})"


def host_matches(expected: str, actual: str, namespace: str) -> bool:
    """A host as a user writes it (``reviews``, ``reviews.default``, FQDN) against a cluster's FQDN."""
    expected = expected.lower()
    return actual in (
        expected,
        f"{expected}.{namespace}.svc.cluster.local",
        f"{expected}.svc.cluster.local",
        f"{expected}.cluster.local",
    )


def _dest_matches(d: spec.DestinationExpect | MirrorExpect, cluster: str, ns: str) -> bool:
    parsed = parse_outbound_cluster(cluster)
    if parsed is None:
        return False
    port, subset, host = parsed
    return (
        host_matches(d.host, host, ns)
        and (d.subset is None or d.subset == subset)
        and (d.port is None or d.port == port)
    )


def _shares(r: Result) -> list[tuple[str, float]]:
    """(cluster, percent of requests) for each cluster the request may reach."""
    if r.cluster:
        return [(r.cluster, 100.0)]
    total = sum(w for _, w in r.weighted_clusters)
    return [(c, 100.0 * w / total) for c, w in r.weighted_clusters] if total else []


def _destination(e: Expect, _raw: Any, r: Result, ctx: Context) -> str | None:
    d = e.destination
    assert d is not None
    share = sum(p for c, p in _shares(r) if _dest_matches(d, c, ctx.namespace))
    want = float(e.weight if e.weight is not None else 100)
    if abs(share - want) < 0.01:
        return None
    what = f"{d.host}" + (f" subset {d.subset}" if d.subset else "") + (f" port {d.port}" if d.port else "")
    if share == 0:
        return f"expected {what}, got {_targets(r)}"
    return f"expected {want:g}% to {what}, got {share:g}% ({_targets(r)})"


def _weight(_e: Expect, _raw: Any, _r: Result, _ctx: Context) -> str | None:
    return None  # checked together with destination


def _weights(e: Expect, _raw: Any, r: Result, ctx: Context) -> str | None:
    want = dict(e.weights or {})
    got: dict[str, float] = {}
    unmatched: list[str] = []
    for cluster, share in _shares(r):
        key = next((k for k in want if _key_matches(k, cluster, ctx.namespace)), None)
        if key is None:
            unmatched.append(cluster)
        else:
            got[key] = got.get(key, 0.0) + share
    wrong = [k for k, w in want.items() if abs(got.get(k, 0.0) - w) >= 0.01]
    if not wrong and not unmatched:
        return None
    return "expected " + _split_text(want) + ", got " + _targets(r)


def _key_matches(key: str, cluster: str, ns: str) -> bool:
    """A weights key: a cluster name, a subset (``v1``), a host, or ``host/subset``."""
    if key == cluster:
        return True
    parsed = parse_outbound_cluster(cluster)
    if parsed is None:
        return False
    _, subset, host = parsed
    if "/" in key:
        h, _, s = key.partition("/")
        return host_matches(h, host, ns) and s == subset
    return key == subset or (host_matches(key, host, ns) and not subset)


def _split_text(split: Mapping[str, float]) -> str:
    return "a split " + ", ".join(f"{k}={v:g}" for k, v in split.items())


def _status(e: Expect, _raw: Any, r: Result, _ctx: Context) -> str | None:
    status, why = outcome_status(r)
    if status == e.status:
        return None
    if status is None:
        return f"expected {e.status}, but Envoy does not answer itself: {why} ({_targets(r)})"
    return f"expected {e.status}, got {status} ({why})"


def _location(e: Expect, _raw: Any, r: Result, _ctx: Context) -> str | None:
    if r.location == e.location:
        return None
    return f"expected {e.location}, got " + (r.location or "no redirect")


def _fault(_e: Expect, raw: Any, r: Result, _ctx: Context) -> str | None:
    want = spec.or_none(raw, FaultExpect)
    got = r.fault or {}
    actual = _fault_text(got)
    if want is None:
        return None if not got else f"expected none, got {actual}"
    delay, abort = got.get("delay") or {}, got.get("abort") or {}
    problems = []
    if want.delay is not None and (
        _seconds(delay.get("fixed_delay")) != duration_seconds(want.delay)
        or percent(delay.get("percentage")) != (want.delay_percent if want.delay_percent is not None else 100.0)
    ):
        problems.append(f"delay {want.delay} ({want.delay_percent or 100:g}%)")
    if want.abort is not None and (
        abort.get("http_status") != want.abort
        or percent(abort.get("percentage")) != (want.abort_percent if want.abort_percent is not None else 100.0)
    ):
        problems.append(f"abort {want.abort} ({want.abort_percent or 100:g}%)")
    return f"expected {', '.join(problems)}, got {actual}" if problems else None


def _fault_text(fault: Mapping[str, Any]) -> str:
    return fault_text(fault) if fault else "no fault"


def _seconds(value: Any) -> float | None:
    return duration_seconds(str(value)) if value is not None else None


def _timeout(_e: Expect, raw: Any, r: Result, _ctx: Context) -> str | None:
    if r.route and "route" not in r.route:
        return f"the route has no upstream timeout ({_targets(r)})"
    got = _seconds(r.timeout) or 0.0  # Envoy: 0s (or Istio's absent timeout) means none
    want = 0.0 if raw == spec.NONE else duration_seconds(str(raw))
    if got == want:
        return None
    return f"expected {raw}, got " + (str(r.timeout) if got else "none")


def _retries(_e: Expect, raw: Any, r: Result, _ctx: Context) -> str | None:
    policy = r.retry_policy or {}
    attempts = int(policy.get("num_retries", 1)) if policy else 0  # Envoy's default num_retries is 1
    actual = (
        f"{attempts} attempts on {policy.get('retry_on', '')}"
        + (f", per try {policy['per_try_timeout']}" if policy.get("per_try_timeout") else "")
        if policy
        else "no retries"
    )
    want = spec.or_none(raw, RetriesExpect)
    if want is None:
        return None if attempts == 0 else f"expected none, got {actual}"
    ok = (
        (want.attempts is None or want.attempts == attempts)
        and (want.retry_on is None or set(want.retry_on.split(",")) == set(str(policy.get("retry_on", "")).split(",")))
        and (
            want.per_try_timeout is None
            or duration_seconds(want.per_try_timeout) == _seconds(policy.get("per_try_timeout"))
        )
    )
    return None if ok else f"expected {_retries_text(want)}, got {actual}"


def _retries_text(w: RetriesExpect) -> str:
    parts = [f"{w.attempts} attempts" if w.attempts is not None else ""]
    parts += [f"on {w.retry_on}" if w.retry_on else "", f"per try {w.per_try_timeout}" if w.per_try_timeout else ""]
    return " ".join(p for p in parts if p)


def _rewrite(_e: Expect, raw: Any, r: Result, _ctx: Context) -> str | None:
    action = r.route.get("route", {})
    prefix = envoy.matched_prefix(r.route.get("match", {}), r.request.path)
    new_path = envoy.rewritten_path(action, r.request.path, prefix) if action else None
    uri = action.get("prefix_rewrite", action.get("regex_rewrite", {}).get("substitution"))
    authority = action.get("host_rewrite_literal")
    actual = f"uri {uri!r}, authority {authority!r}, path {new_path or r.request.path!r}" if action else _targets(r)
    want = spec.or_none(raw, RewriteExpect)
    if want is None:
        return None if uri is None and authority is None else f"expected none, got {actual}"
    ok = (
        (want.uri is None or want.uri == uri)
        and (want.authority is None or want.authority == authority)
        and (want.path is None or want.path == (new_path or r.request.path))
    )
    return None if ok else f"expected {raw}, got {actual}"


def _headers(e: Expect, _raw: Any, r: Result, _ctx: Context) -> str | None:
    assert e.headers is not None
    problems = []
    for direction, want in (("request", e.headers.request), ("response", e.headers.response)):
        if want is not None:
            problems += _header_problems(direction, want, header_ops(r, direction))
    return "; ".join(problems) or None


def header_ops(r: Result, direction: str) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """(set, add, remove) for ``direction`` from the route, its virtual host and (one) cluster weight."""
    sources: list[Mapping[str, Any]] = [r.vhost_config, r.route]
    if r.cluster == "" and len(r.weighted_clusters) == 1:
        sources += r.route.get("route", {}).get("weighted_clusters", {}).get("clusters", [])
    sets: dict[str, str] = {}
    adds: dict[str, str] = {}
    removes: set[str] = set()
    for src in sources:
        for op in src.get(f"{direction}_headers_to_add", []):
            header = op.get("header", {})
            target = adds if op.get("append_action") == "APPEND_IF_EXISTS_OR_ADD" else sets
            target[str(header.get("key", "")).lower()] = str(header.get("value", ""))
        removes |= {str(h).lower() for h in src.get(f"{direction}_headers_to_remove", [])}
    return sets, adds, removes


def _header_problems(
    direction: str, want: HeaderOpsExpect, got: tuple[dict[str, str], dict[str, str], set[str]]
) -> list[str]:
    sets, adds, removes = got
    out = []
    for verb, expected, actual in (("set", want.set, sets), ("add", want.add, adds)):
        for k, v in expected.items():
            if actual.get(k.lower()) != v:
                found = actual.get(k.lower())
                out.append(
                    f"{direction} {verb} {k}={v} expected, "
                    + (f"got {k}={found}" if found is not None else "not configured")
                )
    for k in want.remove:
        if k.lower() not in removes:
            out.append(f"{direction} remove {k} expected, not configured")
    return out


def _mirror(_e: Expect, raw: Any, r: Result, ctx: Context) -> str | None:
    mirrors = r.route.get("route", {}).get("request_mirror_policies", [])
    actual = (
        ", ".join(
            f"{m.get('cluster')} ({percent(m.get('runtime_fraction', {}).get('default_value')):g}%)" for m in mirrors
        )
        or "no mirror"
    )
    want = spec.or_none(raw, MirrorExpect)
    if want is None:
        return None if not mirrors else f"expected none, got {actual}"
    for m in mirrors:
        pct = percent(m.get("runtime_fraction", {}).get("default_value"))
        if _dest_matches(want, str(m.get("cluster", "")), ctx.namespace) and (
            want.percent is None or abs(want.percent - pct) < 0.01
        ):
            return None
    return f"expected a mirror to {want.host}" + (f" subset {want.subset}" if want.subset else "") + f", got {actual}"


def _virtual_service(_e: Expect, raw: Any, r: Result, ctx: Context) -> str | None:
    want = spec.virtual_service_expect(raw)
    origin = ctx.origin
    if origin is None:
        return f"expected VirtualService {want.name}, but the route was not built from one ({describe_route(r)})"
    vs = origin.vs
    if vs.name != want.name or (want.namespace is not None and vs.namespace != want.namespace):
        return f"expected VirtualService {want.name}, got {origin.describe()}"
    if want.route is None:
        return None
    if isinstance(want.route, int) and origin.rule == want.route:
        return None
    if isinstance(want.route, str) and origin.rule_name == want.route:
        return None
    return f"expected route {want.route!r} of {vs.namespace}/{vs.name}, got {origin.describe()}"


def describe_route(r: Result) -> str:
    """A short description of the chosen route when no VirtualService built it."""
    if r.error:
        return r.error
    if r.route_name == "block_all":
        return "the catch-all for hosts outside the registry (REGISTRY_ONLY)"
    if r.route_name == "allow_any":
        return "the passthrough for hosts outside the registry (ALLOW_ANY)"
    if r.route_name == "default":
        return "Istio's default route for the service (no VirtualService)"
    return f"route {r.route_name or '#' + str(r.route_index)} in {r.vhost}"


def _allowed(_e: Expect, _raw: Any, _r: Result, _ctx: Context) -> str | None:
    return None  # decided by the authorization evaluator in the runner


_CHECKS: Sequence[tuple[str, Any]] = (
    ("cluster", _cluster),
    ("destination", _destination),
    ("weight", _weight),
    ("weights", _weights),
    ("status", _status),
    ("location", _location),
    ("fault", _fault),
    ("timeout", _timeout),
    ("retries", _retries),
    ("rewrite", _rewrite),
    ("headers", _headers),
    ("mirror", _mirror),
    ("virtualService", _virtual_service),
    ("allowed", _allowed),
)
