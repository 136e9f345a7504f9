"""Istio's checks on the metadata of its own kinds (annotations it reserves, Gateway names).

These run before the spec rules for every ``networking.istio.io`` and ``security.istio.io`` kind.
"""

from __future__ import annotations

from mizzen.config.codes import violation
from mizzen.config.resource import Resource
from mizzen.config.rules import hosts
from mizzen.config.rules.common import Found

DRY_RUN = "istio.io/dry-run"
ALWAYS_REJECT = "internal.istio.io/webhook-always-reject"
INTERNAL = ("internal.istio.io/parent-namespace", "internal.istio.io/parents")
GATEWAY_SEMANTICS = "internal.istio.io/gateway-semantics"
_GO_BOOLS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})


def check(res: Resource) -> Found:
    """Metadata violations of one Istio resource."""
    out: Found = []
    annotations = res.metadata.annotations
    ref = f"{res.namespace}/{res.name}"
    if DRY_RUN in annotations:
        _dry_run(res, annotations[DRY_RUN], ref, out)
    if ALWAYS_REJECT in annotations:
        out.append(violation("MZ2014", f'"{ALWAYS_REJECT}" annotation found, rejecting', _at(ALWAYS_REJECT)))
    for key in INTERNAL:
        if key in annotations:
            out.append(violation("MZ2014", f'"{key}" annotation found, this may not be set by users', _at(key)))
    if res.kind == "Gateway" and not hosts.is_label(res.name) and annotations.get(GATEWAY_SEMANTICS) != "gateway":
        out.append(violation("MZ2001", f'invalid gateway name: "{res.name}"', "metadata.name"))
    return out


def _at(key: str) -> str:
    return f"metadata.annotations.{key}"


def _dry_run(res: Resource, value: str, ref: str, out: Found) -> None:
    if res.kind != "AuthorizationPolicy":
        out.append(
            violation(
                "MZ2014", f"{ref} has unsupported annotation {DRY_RUN}, please remove the annotation", _at(DRY_RUN)
            )
        )
        return
    action = res.spec.get("action") or "ALLOW"
    if action not in ("ALLOW", "DENY"):
        out.append(
            violation(
                "MZ2014",
                f"the annotation {DRY_RUN} currently only supports action ALLOW/DENY, found action {action} in {ref}",
                _at(DRY_RUN),
            )
        )
    elif value not in _GO_BOOLS:
        out.append(
            violation(
                "MZ2014",
                f'{ref} has annotation {DRY_RUN} with invalid value ({value}): strconv.ParseBool: parsing "{value}": '
                "invalid syntax",
                _at(DRY_RUN),
            )
        )
