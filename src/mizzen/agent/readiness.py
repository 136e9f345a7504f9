"""Readiness all the time, not only at start: Kubernetes' probe thresholds as a sans-IO tracker.

After the workload is up, the agent probes its app every ``period`` seconds (HTTP ``--ready-path``, else a
TCP connect to its port; each attempt bounded by ``timeout``). ``failure_threshold`` failures in a row make
it unready, ``success_threshold`` successes in a row ready again, as a Kubernetes readiness probe. The
agent then rewrites its WorkloadEntry with :data:`HEALTH_ANNOTATION` (Mizzen's stand-in for the ``Healthy``
status condition Istio's health-checked WorkloadEntries carry, since Mizzen stores no status), and the
control plane sends the endpoint as ``UNHEALTHY`` in EDS, so peers stop sending to it until it is ready.
"""

from __future__ import annotations

from dataclasses import dataclass

from mizzen.registry.annotations import HEALTH_ANNOTATION

__all__ = ["HEALTH_ANNOTATION", "ProbePolicy", "ReadinessTracker"]


@dataclass(frozen=True)
class ProbePolicy:
    """Kubernetes' probe knobs (defaults tuned for a quick reaction; Kubernetes': 10 s, 1 s, 3, 1) and what to
    probe, as a WorkloadGroup's ``probe`` says: ``http_path`` (httpGet), ``exec_command`` (exec), else a TCP
    connect; ``port`` None means the app's first port, a service port number means the app's port for it."""

    period_s: float = 2.0
    timeout_s: float = 1.0
    failure_threshold: int = 1
    success_threshold: int = 1
    initial_delay_s: float = 0.0
    http_path: str | None = None
    port: int | None = None
    host: str = "127.0.0.1"
    headers: tuple[tuple[str, str], ...] = ()
    exec_command: tuple[str, ...] = ()


class ReadinessTracker:
    """Feed each probe result to :meth:`observe`; it returns the new readiness when it changes, else None."""

    def __init__(self, policy: ProbePolicy, *, ready: bool = True) -> None:
        """Start ``ready`` (or not) and count consecutive results against ``policy``'s thresholds."""
        self.policy = policy
        self.ready = ready
        self._streak = 0  # consecutive results that disagree with the current readiness

    def observe(self, ok: bool) -> bool | None:
        """One probe result; the new readiness if it flipped."""
        if ok == self.ready:
            self._streak = 0
            return None
        self._streak += 1
        needed = self.policy.success_threshold if ok else self.policy.failure_threshold
        if self._streak < needed:
            return None
        self.ready, self._streak = ok, 0
        return ok
