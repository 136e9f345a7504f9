"""VirtualService ``fault`` -> per-route config of ``envoy.filters.http.fault``."""

from __future__ import annotations

from mizzen.config.models.virtual_service import HTTPFaultInjection
from mizzen.translate import names
from mizzen.translate.common import JSONDict, percent, proto_duration

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


def fault_config(fault: HTTPFaultInjection) -> JSONDict | None:
    """An ``HTTPFault`` (with ``@type``) for a fault block; ``None`` when it has neither part.

    Without a ``percentage`` nothing is injected (Istio's documented default), so the fraction is 0.
    """
    out: JSONDict = {"@type": names.T_FAULT}
    delay = fault.delay
    fixed = proto_duration(delay.fixed_delay) if delay is not None else None
    if delay is not None and fixed is not None:
        out["delay"] = {"fixed_delay": fixed, "percentage": percent(delay.percentage, delay.percent).json()}
    abort = fault.abort
    if abort is not None:
        body: JSONDict | None = None
        if abort.http_status is not None and 200 <= abort.http_status < 600:
            body = {"http_status": abort.http_status}
        elif abort.grpc_status is not None:
            body = {"grpc_status": GRPC_CODES.get(abort.grpc_status.upper(), 2)}
        if body is not None:
            body["percentage"] = percent(abort.percentage).json()
            out["abort"] = body
    return out if len(out) > 1 else None
