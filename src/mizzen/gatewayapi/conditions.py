"""Status conditions as istiod writes them (``conditions.go``, ``SetListenerConditions``): one condition
per type, success reason/message unless an error replaces them and inverts the status; route
statuses merged per parentRef with the most severe error reported.

Conditions carry ``observedGeneration`` but no ``lastTransitionTime``: status is computed when read,
and Mizzen does not record when a condition last changed (it will not invent a time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mizzen.gatewayapi.model import (
    CONTROLLER,
    NO_MATCHING_LISTENER_HOSTNAME,
    NO_MATCHING_PARENT,
    NOT_ALLOWED_BY_LISTENERS,
    Cond,
    ConfigError,
    JSONDict,
    RouteParent,
    parent_ref_json,
    parent_ref_key,
)

_INVERT = {"True": "False", "False": "True", "Unknown": "Unknown"}
# Lower is more severe... inverted: istiod keeps the *least* severe result per parentRef, so one
# accepted section makes the parentRef Accepted.
_RANK = {None: 0, NOT_ALLOWED_BY_LISTENERS: 1, NO_MATCHING_LISTENER_HOSTNAME: 2, "ParentRefConflict": 3}


def conditions(generation: int, conds: Mapping[str, Cond]) -> list[JSONDict]:
    """Kubernetes conditions, sorted by type."""
    out = []
    for kind in sorted(conds):
        c = conds[kind]
        if c.error is not None:
            status, reason, message = _INVERT[c.status], c.error.reason, c.error.message
        else:
            status, reason, message = c.status, c.reason, c.message
        out.append(
            {"type": kind, "status": status, "reason": reason, "message": message, "observedGeneration": generation}
        )
    return out


def pending(generation: int) -> list[JSONDict]:
    """The CRD's default status: no controller has acted on the object."""
    waiting = Cond("Pending", "Waiting for controller", status="Unknown")
    return conditions(generation, {"Accepted": waiting, "Programmed": waiting})


def _rank(parent: RouteParent) -> int:
    return _RANK.get(parent.denied.reason if parent.denied else None, 4)


def route_status(
    parents: Sequence[RouteParent],
    errors: Mapping[bool, ConfigError | None],
    namespace: str,
    generation: int,
) -> JSONDict:
    """A route's ``status.parents``: one entry per parentRef (Istio's ``createRouteStatus``).

    ``errors`` is the route conversion error for mesh (``True``) and gateway (``False``) parents.
    """
    seen: dict[str, list[RouteParent]] = {}
    for p in parents:
        seen.setdefault(parent_ref_key(p.original, namespace), []).append(p)
    entries = []
    for key, results in seen.items():
        report = results[0]
        denied = report.denied
        for other in results[1:]:
            if _rank(other) < _rank(report):
                report, denied = other, other.denied
            elif _rank(other) == _rank(report) and other.denied is not None:
                denied = (
                    other.denied
                    if denied is None
                    else ConfigError(denied.reason, f"{denied.message}; {other.denied.message}")
                )
        successes = sum(1 for r in results if r.denied is None)
        msg = "Route was valid" if successes <= 1 else f"Route was valid, bound to {successes} parents"
        conds = {
            "Accepted": Cond("Accepted", msg, error=denied),
            "ResolvedRefs": Cond("ResolvedRefs", "All references resolved", error=errors.get(report.is_mesh)),
        }
        entry = {
            "parentRef": parent_ref_json(report.original),
            "controllerName": CONTROLLER,
            "conditions": conditions(generation, conds),
        }
        entries.append((key, entry))
    # istiod appends new entries sorted by parentRef key, descending.
    entries.sort(key=lambda e: e[0], reverse=True)
    return {"parents": [e for _, e in entries]}


def not_found(parent: RouteParent, message: str) -> RouteParent:
    """A parentRef that resolves to nothing Mizzen runs, reported rather than ignored."""
    parent.denied = ConfigError(NO_MATCHING_PARENT, message)
    return parent
