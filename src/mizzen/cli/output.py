"""kubectl-style output for ``mizzen get``: tables with per-kind columns, names, YAML and JSON.

The columns follow Istio's CRD printer columns (VirtualService: GATEWAYS, HOSTS, AGE; DestinationRule:
HOST, AGE; ...) and kubectl's for core kinds; list values print as JSON (``["reviews"]``) as kubectl
prints them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mizzen.config.kinds import KindInfo

Obj = Mapping[str, Any]
Column = tuple[str, Callable[[Obj], str]]


def _spec(obj: Obj, *path: str) -> Any:
    value: Any = obj.get("spec", {})
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _json_list(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if value else ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _ports(obj: Obj) -> str:
    ports = _spec(obj, "ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports if isinstance(p, Mapping)) or "<none>"


def _selector(obj: Obj) -> str:
    sel = _spec(obj, "selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) if isinstance(sel, Mapping) and sel else "<none>"


def _labels(obj: Obj) -> str:
    labels = obj.get("metadata", {}).get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _secret_data(obj: Obj) -> str:
    data = {**(_spec(obj, "data") or obj.get("data") or {}), **(obj.get("stringData") or {})}
    return str(len(data))


def _body(obj: Obj, key: str) -> Any:
    """A top-level body field (Endpoints ``subsets``, EndpointSlice ``ports``), wherever the object keeps it."""
    return obj.get(key) if key in obj else _spec(obj, key)


def _first_three(items: Sequence[str]) -> str:
    """kubectl's list of endpoints: the first three, then ``+ N more...``; ``<none>`` when empty."""
    if not items:
        return "<none>"
    more = f" + {len(items) - 3} more..." if len(items) > 3 else ""
    return ",".join(items[:3]) + more


def _endpoints(obj: Obj) -> str:
    subsets = [s for s in _body(obj, "subsets") or () if isinstance(s, Mapping)]
    return _first_three(
        [
            f"{a.get('ip')}:{p.get('port')}"
            for s in subsets
            for a in s.get("addresses") or ()
            for p in s.get("ports") or ()
            if isinstance(a, Mapping) and isinstance(p, Mapping)
        ]
    )


def _slice_ports(obj: Obj) -> str:
    ports = [p for p in _body(obj, "ports") or () if isinstance(p, Mapping)]
    return ",".join(_text(p.get("port")) or "<unset>" for p in ports) or "<unset>"


def _slice_endpoints(obj: Obj) -> str:
    eps = [e for e in _body(obj, "endpoints") or () if isinstance(e, Mapping)]
    return _first_three([str(a) for e in eps for a in e.get("addresses") or ()])


# Kind-specific columns between NAME and AGE (AGE is appended, except where Istio puts it elsewhere).
_COLUMNS: dict[str, list[Column]] = {
    "VirtualService": [
        ("GATEWAYS", lambda o: _json_list(_spec(o, "gateways"))),
        ("HOSTS", lambda o: _json_list(_spec(o, "hosts"))),
    ],
    "DestinationRule": [("HOST", lambda o: _text(_spec(o, "host")))],
    "ServiceEntry": [
        ("HOSTS", lambda o: _json_list(_spec(o, "hosts"))),
        ("LOCATION", lambda o: _text(_spec(o, "location"))),
        ("RESOLUTION", lambda o: _text(_spec(o, "resolution"))),
    ],
    "PeerAuthentication": [("MODE", lambda o: _text(_spec(o, "mtls", "mode")))],
    "AuthorizationPolicy": [("ACTION", lambda o: _text(_spec(o, "action")))],
    "Service": [("TYPE", lambda o: _text(_spec(o, "type") or "ClusterIP")), ("PORT(S)", _ports)],
    "Secret": [("TYPE", lambda o: _text(_spec(o, "type") or o.get("type") or "Opaque")), ("DATA", _secret_data)],
    "Endpoints": [("ENDPOINTS", _endpoints)],
    "EndpointSlice": [
        ("ADDRESSTYPE", lambda o: _text(_body(o, "addressType"))),
        ("PORTS", _slice_ports),
        ("ENDPOINTS", _slice_endpoints),
    ],
}


def _condition(obj: Obj, kind: str) -> str:
    """A status condition's status (``True``/``False``/``Unknown``), as the Gateway API CRDs print it."""
    for c in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(c, Mapping) and c.get("type") == kind:
            return _text(c.get("status"))
    return ""


def _address(obj: Obj) -> str:
    addresses = (obj.get("status") or {}).get("addresses") or []
    return _text(addresses[0].get("value")) if addresses and isinstance(addresses[0], Mapping) else ""


# The Gateway API CRDs' printer columns.
_COLUMNS.update(
    {
        "GatewayClass": [
            ("CONTROLLER", lambda o: _text(_spec(o, "controllerName"))),
            ("ACCEPTED", lambda o: _condition(o, "Accepted")),
        ],
        "KubernetesGateway": [
            ("CLASS", lambda o: _text(_spec(o, "gatewayClassName"))),
            ("ADDRESS", _address),
            ("PROGRAMMED", lambda o: _condition(o, "Programmed")),
        ],
        "HTTPRoute": [("HOSTNAMES", lambda o: _json_list(_spec(o, "hostnames")))],
        "GRPCRoute": [("HOSTNAMES", lambda o: _json_list(_spec(o, "hostnames")))],
        "TLSRoute": [("HOSTNAMES", lambda o: _json_list(_spec(o, "hostnames")))],
    }
)
_AFTER_AGE: dict[str, list[Column]] = {
    "WorkloadEntry": [("ADDRESS", lambda o: _text(_spec(o, "address")))],
}
_WIDE: dict[str, list[Column]] = {
    "Service": [("SELECTOR", _selector)],
    "WorkloadEntry": [
        ("LABELS", lambda o: ",".join(f"{k}={v}" for k, v in sorted((_spec(o, "labels") or {}).items())) or "<none>"),
        ("SERVICE-ACCOUNT", lambda o: _text(_spec(o, "serviceAccount"))),
    ],
    "WorkloadGroup": [("LABELS", _labels)],
}


def age(created: str, now: datetime | None = None) -> str:
    """kubectl's short age (``45s``, ``3m12s``, ``5h``, ``12d``) of an RFC 3339 timestamp."""
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    secs = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    mins, hours, days = secs // 60, secs // 3600, secs // 86400
    if secs < 120:
        return f"{secs}s"
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if hours < 3:
        return f"{mins}m"
    if hours < 8:
        return f"{hours}h{mins % 60}m" if mins % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def columns(info: KindInfo, *, all_namespaces: bool, wide: bool) -> list[Column]:
    """The table columns for one kind."""
    cols: list[Column] = []
    if all_namespaces:
        cols.append(("NAMESPACE", lambda o: _text(o.get("metadata", {}).get("namespace"))))
    cols.append(("NAME", lambda o: _text(o.get("metadata", {}).get("name"))))
    cols.extend(_COLUMNS.get(info.kind, []))
    cols.append(("AGE", lambda o: age(str(o.get("metadata", {}).get("creationTimestamp", "")))))
    cols.extend(_AFTER_AGE.get(info.kind, []))
    if wide:
        cols.extend(_WIDE.get(info.kind, []))
    return cols


def table(info: KindInfo, objects: Sequence[Obj], *, all_namespaces: bool, wide: bool, qualify: bool) -> str:
    """A kubectl table; ``qualify`` prefixes names with ``<kind>.<group>/`` (several kinds at once)."""
    cols = columns(info, all_namespaces=all_namespaces, wide=wide)
    rows = [[fn(o) for _, fn in cols] for o in objects]
    if qualify:
        at = 1 if all_namespaces else 0
        for row in rows:
            row[at] = f"{info.qualified}/{row[at]}"
    return render([c for c, _ in cols], rows)


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces, as kubectl prints them."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *rows]
    ]
    return "\n".join(lines)
