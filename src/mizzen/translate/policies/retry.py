"""VirtualService ``retries`` and Istio's default HTTP retry policy."""

from __future__ import annotations

from mizzen.config.models.virtual_service import HTTPRetry
from mizzen.translate import names
from mizzen.translate.common import JSONDict, proto_duration

DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"


def default_retry_policy(hashing: bool = False) -> JSONDict:
    """Istio's default policy (2 retries on connection-level failures; app 5xx is not retried)."""
    policy: JSONDict = {"retry_on": DEFAULT_RETRY_ON, "num_retries": 2}
    if not hashing:
        policy["retry_host_predicate"] = [_previous_hosts()]
    policy["host_selection_retry_max_attempts"] = 5
    return policy


def retry_policy(retries: HTTPRetry | None, hashing: bool = False) -> JSONDict | None:
    """The ``retry_policy`` for a route: default without ``retries``; none for ``attempts: 0``."""
    if retries is None:
        return default_retry_policy(hashing)
    attempts = retries.attempts or 0
    if attempts <= 0:
        return None
    policy = default_retry_policy(hashing or retries.retry_ignore_previous_hosts is False)
    policy["num_retries"] = attempts
    if retries.retry_on:
        policy.update(_retry_on(retries.retry_on))
    per_try = proto_duration(retries.per_try_timeout)
    if per_try is not None:
        policy["per_try_timeout"] = per_try
    if retries.retry_remote_localities:
        policy["retry_priority"] = {
            "name": names.PREVIOUS_PRIORITIES,
            "typed_config": {"@type": names.T_PREVIOUS_PRIORITIES, "update_frequency": 2},
        }
    backoff = proto_duration(retries.backoff)
    if backoff is not None:
        policy["retry_back_off"] = {"base_interval": backoff}
    return policy


def _retry_on(retry_on: str) -> JSONDict:
    """Istio's ``retryOn``: Envoy conditions, with bare status codes moved to ``retriable_status_codes``."""
    conditions: list[str] = []
    codes: list[int] = []
    for part in (p.strip() for p in retry_on.split(",")):
        if part.isdigit():
            codes.append(int(part))
        elif part:
            conditions.append(part)
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    fields: JSONDict = {"retry_on": ",".join(conditions)}
    if codes:
        fields["retriable_status_codes"] = codes
    return fields


def _previous_hosts() -> JSONDict:
    return {"name": names.PREVIOUS_HOSTS, "typed_config": {"@type": names.T_PREVIOUS_HOSTS}}
