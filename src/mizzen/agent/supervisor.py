"""Sans-IO supervision of one workload: the app, its Envoy, and its registration.

Theory of operation. The :class:`Supervisor` is fed :data:`Event` values (with the current monotonic
time) and answers with :data:`Action` values; it never touches a process, socket or clock, so every
path is unit-testable. A thin asyncio shell (:mod:`mizzen.agent.runner`) performs the actions and
turns what happens into events.

::

    STARTING ──start──► WAITING_READY ──AppReady + EnvoyReady──► REGISTERING ──Registered──► RUNNING
       (a gateway has no app; a gateway or a workload serving no port skips REGISTERING)
    any state ──StopRequested / AppExited / too many Envoy crashes──► STOPPING ──► STOPPED

Envoy dying outside STOPPING is restarted after a backoff (doubling, reset once Envoy has stayed up
for ``stable_after`` seconds); after ``max_quick_restarts`` consecutive short-lived runs the
workload gives up and stops, because the cause (bad config, port taken) will not fix itself.
Registration failures are retried with the same kind of backoff. Once registered, the entry is
re-checked every ``refresh_every`` seconds and re-created if it vanished: the control plane removes
agent entries whose proxy stayed disconnected past its grace period (an Envoy restart backoff can
exceed it, and so can a host's outage), and the endpoint must come back when the proxy does. So the
entry is also re-checked at once when the control plane's stream opens again (:class:`Reconnected`),
and once more ``recheck_after`` seconds later, in case the control plane's reaper removed the entry
in the instant between that check and the proxy's own reconnect (Istio re-creates an auto-registered
WorkloadEntry on the proxy's reconnect too). Stopping deregisters first (so
peers stop sending traffic), then drains (Envoy keeps serving in-flight requests for up to ``drain_s``,
Istio's ``terminationDrainDuration``), then stops the app and Envoy; a second stop request kills them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

Which = Literal["app", "envoy"]


class State(enum.Enum):
    """Where the workload is in its life."""

    STARTING = "starting"
    WAITING_READY = "waiting-ready"
    REGISTERING = "registering"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


# --- events (what happened) ---
@dataclass(frozen=True)
class Start:
    """Begin: start the processes."""


@dataclass(frozen=True)
class ProcessExited:
    """The app or Envoy exited with ``code`` (negative: killed by that signal)."""

    which: Which
    code: int


@dataclass(frozen=True)
class AppReady:
    """The readiness probe succeeded."""


@dataclass(frozen=True)
class EnvoyReady:
    """Envoy's admin endpoint answers (the process is up; it may still wait for its config)."""


@dataclass(frozen=True)
class Registered:
    """The WorkloadEntry was stored by the control plane."""


@dataclass(frozen=True)
class RegistrationFailed:
    """Registering failed (control plane down, refused...)."""

    error: str


@dataclass(frozen=True)
class Deregistered:
    """Deregistration finished (``error`` is set when it failed; stopping goes on regardless)."""

    error: str = ""


@dataclass(frozen=True)
class Drained:
    """The drain after deregistration is over (in-flight requests finished, or the drain duration passed)."""


@dataclass(frozen=True)
class Reconnected:
    """The control plane's stream is open again (after a break, or the first time)."""


@dataclass(frozen=True)
class StopRequested:
    """A signal or the user asked to stop."""

    reason: str = "signal"


@dataclass(frozen=True)
class TimerFired:
    """A timer started by :class:`StartTimer` elapsed."""

    name: str


Event = (
    Start
    | ProcessExited
    | AppReady
    | EnvoyReady
    | Registered
    | RegistrationFailed
    | Deregistered
    | Drained
    | Reconnected
    | StopRequested
    | TimerFired
)


# --- actions (what to do) ---
@dataclass(frozen=True)
class StartProcess:
    """Spawn the app or Envoy."""

    which: Which


@dataclass(frozen=True)
class StopProcess:
    """Ask a process to stop (SIGTERM), or kill it when ``force``."""

    which: Which
    force: bool = False


@dataclass(frozen=True)
class ProbeApp:
    """Start probing the app until it is ready (reported as :class:`AppReady`)."""


@dataclass(frozen=True)
class ProbeEnvoy:
    """Poll Envoy's admin endpoint until it answers (reported as :class:`EnvoyReady`)."""


@dataclass(frozen=True)
class CancelProbe:
    """Stop probing (app and Envoy)."""


@dataclass(frozen=True)
class Register:
    """Create-or-replace the WorkloadEntry."""


@dataclass(frozen=True)
class EnsureRegistered:
    """Check the WorkloadEntry still exists and re-create it if not (e.g. the control plane dropped
    it while Envoy was down, or lost it); failures are only logged."""


@dataclass(frozen=True)
class Deregister:
    """Delete the WorkloadEntry."""


@dataclass(frozen=True)
class Drain:
    """Keep Envoy serving in-flight requests for at most ``seconds`` (reported as :class:`Drained`)."""

    seconds: float


@dataclass(frozen=True)
class StartTimer:
    """Report :class:`TimerFired` ``name`` after ``delay`` seconds."""

    name: str
    delay: float


@dataclass(frozen=True)
class Notify:
    """Tell the user something (``level`` is a logging level name)."""

    message: str
    level: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class Up:
    """The workload is fully up (print the allocated ports)."""


@dataclass(frozen=True)
class Exit:
    """Supervision is over; exit with ``code``."""

    code: int


Action = (
    StartProcess
    | StopProcess
    | ProbeApp
    | ProbeEnvoy
    | CancelProbe
    | Register
    | EnsureRegistered
    | Deregister
    | Drain
    | StartTimer
    | Notify
    | Up
    | Exit
)

RESTART_TIMER = "restart-envoy"
REGISTER_TIMER = "retry-register"
REFRESH_TIMER = "refresh-registration"
RECHECK_TIMER = "recheck-registration"


@dataclass(frozen=True)
class Policy:
    """Timing knobs of supervision."""

    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    stable_after: float = 10.0  # an Envoy that lived this long is "stable": backoff resets
    max_quick_restarts: int = 5
    refresh_every: float = 5.0  # how often a running workload checks its WorkloadEntry still exists
    recheck_after: float = 2.0  # the second check after a reconnect: beyond a reaper pass (1 s)
    drain_s: float = 5.0  # Istio's terminationDrainDuration: serve in-flight requests after deregistering


class Supervisor:
    """The workload's state machine. Call :meth:`handle` with each event; perform what it returns."""

    def __init__(self, *, has_app: bool, registers: bool, policy: Policy | None = None) -> None:
        """A workload with or without an app, registering its endpoint or not (gateways, tests)."""
        self.has_app = has_app
        self.registers = registers
        self.policy = policy or Policy()
        self.state = State.STARTING
        self.running: set[Which] = set()
        self.registered = False
        self.exit_code = 0
        self._deregistering = False
        self._draining = False
        self._forced = False
        self._app_ready = False
        self._envoy_ready = False
        self._envoy_started_at = 0.0
        self._quick_crashes = 0
        self._register_backoff = self.policy.initial_backoff

    def handle(self, event: Event, now: float) -> list[Action]:
        """Advance on ``event`` (at monotonic time ``now``) and return the actions to perform."""
        if self.state is State.STOPPED:
            return []
        match event:
            case Start():
                return self._start(now)
            case ProcessExited(which=which, code=code):
                return self._exited(which, code, now)
            case StopRequested(reason=reason):
                return self._stop_requested(reason)
            case TimerFired(name=name):
                return self._timer(name, now)
        return self._progress(event)

    def _progress(self, event: Event) -> list[Action]:
        """Events that count only in the state that awaits them (anything else is ignored)."""
        match event:
            case AppReady() if self.state is State.WAITING_READY:
                self._app_ready = True
                return self._ready()
            case EnvoyReady() if self.state is State.WAITING_READY:
                self._envoy_ready = True
                return self._ready()
            case Registered() if self.state is State.REGISTERING:
                return self._registered()
            case RegistrationFailed(error=error) if self.state is State.REGISTERING:
                return self._registration_failed(error)
            case Deregistered(error=error) if self._deregistering:
                return self._deregistered(error)
            case Reconnected() if self.state is State.RUNNING and self.registered:
                return [EnsureRegistered(), StartTimer(RECHECK_TIMER, self.policy.recheck_after)]
            case Drained() if self._draining:
                self._draining = False
                return self._stop_processes(force=False) + self._maybe_done()
        return []

    def _registered(self) -> list[Action]:
        self.registered = True
        self.state = State.RUNNING
        return [Notify("registered WorkloadEntry"), Up(), StartTimer(REFRESH_TIMER, self.policy.refresh_every)]

    def _registration_failed(self, error: str) -> list[Action]:
        delay, self._register_backoff = self._register_backoff, self._next(self._register_backoff)
        return [
            Notify(f"registration failed ({error}); retrying in {delay:g}s", "warning"),
            StartTimer(REGISTER_TIMER, delay),
        ]

    def _deregistered(self, error: str) -> list[Action]:
        """The endpoint is withdrawn: drain Envoy first when it may still carry requests, then stop."""
        self._deregistering = False
        self.registered = False
        note: list[Action] = [Notify(f"deregistration failed: {error}", "warning")] if error else []
        if not error and self._worth_draining():
            self._draining = True
            return [*note, Drain(self.policy.drain_s)]
        return note + self._stop_processes(force=False) + self._maybe_done()

    def _start(self, now: float) -> list[Action]:
        self._envoy_started_at = now
        self.running.add("envoy")
        self.state = State.WAITING_READY
        if not self.has_app:
            return [StartProcess("envoy"), ProbeEnvoy()]
        self.running.add("app")
        return [StartProcess("envoy"), ProbeEnvoy(), StartProcess("app"), ProbeApp()]

    def _ready(self) -> list[Action]:
        if not self._envoy_ready or (self.has_app and not self._app_ready):
            return []
        if not self.registers:
            self.state = State.RUNNING
            return [Up()]
        self.state = State.REGISTERING
        return [Register()]

    def _exited(self, which: Which, code: int, now: float) -> list[Action]:
        self.running.discard(which)
        if self.state is State.STOPPING:
            return self._maybe_done()
        if which == "app":
            self.exit_code = code if code > 0 else (0 if code == 0 else 128 - code)
            return self._begin_stop(f"app exited with code {code}", "warning" if code else "info")
        uptime = now - self._envoy_started_at
        self._quick_crashes = 0 if uptime >= self.policy.stable_after else self._quick_crashes + 1
        if self._quick_crashes >= self.policy.max_quick_restarts:
            self.exit_code = 1
            return self._begin_stop(
                f"Envoy exited with code {code} {self._quick_crashes} times in a row; giving up (see its log)", "error"
            )
        delay = min(self.policy.max_backoff, self.policy.initial_backoff * 2 ** max(0, self._quick_crashes - 1))
        return [
            Notify(f"Envoy exited with code {code}; restarting in {delay:g}s", "warning"),
            StartTimer(RESTART_TIMER, delay),
        ]

    def _timer(self, name: str, now: float) -> list[Action]:
        if name == RESTART_TIMER and self.state is not State.STOPPING and "envoy" not in self.running:
            self._envoy_started_at = now
            self.running.add("envoy")
            return [StartProcess("envoy")]
        if name == REGISTER_TIMER and self.state is State.REGISTERING:
            return [Register()]
        if name == REFRESH_TIMER and self.state is State.RUNNING and self.registered:
            return [EnsureRegistered(), StartTimer(REFRESH_TIMER, self.policy.refresh_every)]
        if name == RECHECK_TIMER and self.state is State.RUNNING and self.registered:
            return [EnsureRegistered()]
        return []

    def _stop_requested(self, reason: str) -> list[Action]:
        if self.state is State.STOPPING:
            # A second request: the user is impatient; do not wait for graceful exits (nor the drain).
            self._forced, self._draining = True, False
            return [Notify("stopping now"), *self._stop_processes(force=True)]
        return self._begin_stop(f"stopping ({reason})", "info")

    def _begin_stop(self, message: str, level: Literal["info", "warning", "error"]) -> list[Action]:
        was = self.state
        self.state = State.STOPPING
        actions: list[Action] = [Notify(message, level)]
        if was is State.WAITING_READY:
            actions.append(CancelProbe())
        if self.registers and was in (State.REGISTERING, State.RUNNING):
            # Deregister before stopping so that peers stop routing here while we still answer.
            self._deregistering = True
            return [*actions, Deregister()]
        return actions + self._stop_processes(force=False) + self._maybe_done()

    def _worth_draining(self) -> bool:
        """Drain only a withdrawn endpoint whose Envoy and app still serve (an exited app answers nothing)."""
        serving = "envoy" in self.running and (not self.has_app or "app" in self.running)
        return self.policy.drain_s > 0 and serving and not self._forced

    def _stop_processes(self, *, force: bool) -> list[Action]:
        return [StopProcess(which, force) for which in ("app", "envoy") if which in self.running]

    def _maybe_done(self) -> list[Action]:
        if self.running or self._deregistering or self._draining:
            return []
        self.state = State.STOPPED
        return [Exit(self.exit_code)]

    def _next(self, delay: float) -> float:
        return min(self.policy.max_backoff, delay * 2)
