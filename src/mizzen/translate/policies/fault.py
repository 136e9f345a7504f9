"""VirtualService ``fault`` -> per-route config of ``envoy.filters.http.fault``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.translate import names
from mizzen.translate.common import JSONDict, as_int, as_map, duration, percent_of

# gRPC status names Istio accepts for ``abort.grpcStatus``.
GRPC_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}


def fault_config(fault: Mapping[str, Any]) -> JSONDict | None:
    """An ``HTTPFault`` (with ``@type``) for a fault block; ``None`` when it has neither part.

    Without a ``percentage`` nothing is injected (Istio's documented default), so the fraction is 0.
    """
    out: JSONDict = {"@type": names.T_FAULT}
    delay = as_map(fault.get("delay"))
    fixed = duration(delay.get("fixedDelay")) if delay else None
    if fixed is not None:
        out["delay"] = {"fixed_delay": fixed, "percentage": percent_of(delay)}
    abort = as_map(fault.get("abort"))
    if abort:
        body: JSONDict | None = None
        status = as_int(abort.get("httpStatus"))
        if "httpStatus" in abort and 200 <= status < 600:
            body = {"http_status": status}
        elif "grpcStatus" in abort:
            grpc = abort.get("grpcStatus")
            code = GRPC_CODES.get(str(grpc).upper()) if not isinstance(grpc, int) else max(0, grpc)
            body = {"grpc_status": code if code is not None else 2}
        if body is not None:
            body["percentage"] = percent_of(abort)
            out["abort"] = body
    return out if len(out) > 1 else None
