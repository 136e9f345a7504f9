"""The agent's identity helpers: when to renew, whether a given credential fits the workload."""

from __future__ import annotations

from mizzen.agent.certs import rotation_delay
from mizzen.agent.credential import mismatch
from mizzen.agent.spec import WorkloadSpec


def test_renewal_at_half_life() -> None:
    """A certificate is renewed when half of its lifetime has passed (Istio's grace ratio), never in the past."""
    assert rotation_delay(issued_at=100.0, not_after=200.0, now=100.0) == 50.0
    assert rotation_delay(issued_at=100.0, not_after=200.0, now=170.0) == 0.0


def test_a_credential_must_fit_the_workload_exactly() -> None:
    """Type, namespace, name and service account must all match; the message says how to make a fitting one."""
    spec = WorkloadSpec(name="reviews-v1", namespace="default", service_account="reviews")
    me = {"type": "workload", "namespace": "default", "name": "reviews-v1", "serviceAccount": "reviews"}
    assert mismatch(spec, me) is None
    wrong = mismatch(spec, {**me, "name": "ratings-v1"})
    assert wrong is not None and "mizzen token create workload reviews-v1 -n default" in wrong
    assert mismatch(WorkloadSpec(name="reviews-v1", proxy_type="router", service_account="reviews"), me) is not None
