"""backendRefs to Istio destinations (Istio's ``buildDestination`` and the weight rules).

An invalid backend (not found, not permitted, unsupported kind) keeps its place in the route, as the
Gateway API requires: requests for it get a 500. Other errors reject the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from mizzen.config.models.gateway_api_routes import BackendObjectReference
from mizzen.gatewayapi.context import Context, kind_of
from mizzen.gatewayapi.model import (
    BACKEND_NOT_FOUND,
    INVALID_DESTINATION,
    INVALID_KIND,
    REF_NOT_PERMITTED,
    SOFT_BACKEND_ERRORS,
    ConfigError,
    JSONDict,
)

_MCS = ("multicluster.x-k8s.io", "ServiceImport")
Ref = TypeVar("Ref", bound=BackendObjectReference)


def destination(
    ctx: Context, ref: BackendObjectReference, namespace: str, route_kind: str, enforce_grants: bool
) -> tuple[JSONDict | None, ConfigError | None]:
    """The Istio ``Destination`` of one backendRef and the error to report; ``None`` with a hard error."""
    kind = kind_of(ref.group, ref.kind)
    target_ns = ref.namespace or namespace
    cross = enforce_grants and ref.namespace and ref.namespace != namespace
    if cross and not ctx.allowed(route_kind, namespace, kind, target_ns, ref.name):
        return {}, ConfigError(
            REF_NOT_PERMITTED,
            f"backendRef {ref.name}/{ref.namespace} not accessible to a {route_kind} in namespace "
            f'"{namespace}" (missing a ReferenceGrant?)',
        )
    soft: ConfigError | None = None
    if kind == "Service" or (ref.group, ref.kind) == _MCS:
        if "." in ref.name:
            return None, ConfigError(
                INVALID_DESTINATION, "service name invalid; the name of the Service must be used, not the hostname."
            )
        host = ctx.service_host(ref.name, target_ns)
        if (target_ns, ref.name) not in ctx.services:
            soft = ConfigError(BACKEND_NOT_FOUND, f"backend({host}) not found")
    elif kind == "Hostname":
        if ref.namespace:
            return None, ConfigError(INVALID_DESTINATION, "namespace may not be set with Hostname type")
        host = ref.name
        if host not in ctx.hostnames:
            soft = ConfigError(BACKEND_NOT_FOUND, f"backend({host}) not found")
    else:
        return {}, ConfigError(
            INVALID_KIND, f'referencing unsupported backendRef: group "{ref.group}" kind "{ref.kind}"'
        )
    if ref.port is None:
        return None, ConfigError(INVALID_DESTINATION, "port is required in backendRef")
    return {"host": host, "port": {"number": ref.port}}, soft


def is_soft(error: ConfigError | None) -> bool:
    """Whether the route is still programmed despite ``error`` (the backend alone is invalid)."""
    return error is not None and error.reason in SOFT_BACKEND_ERRORS


def weights(refs: Sequence[Ref]) -> list[tuple[Ref, int]]:
    """The backends that take traffic with their weights; one backend alone gets weight 0 (all of it)."""
    kept = [(r, int(getattr(r, "weight", 1))) for r in refs if int(getattr(r, "weight", 1)) != 0]
    if len(kept) == 1:
        kept = [(kept[0][0], 0)]
    return kept


def weight_sum(refs: Sequence[BackendObjectReference]) -> int:
    """The total weight (a rule with none answers 500, or refuses TCP connections)."""
    return sum(int(getattr(r, "weight", 1)) for r in refs)
