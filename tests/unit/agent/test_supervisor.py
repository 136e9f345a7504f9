"""The sans-IO supervisor: events in, actions out."""

from __future__ import annotations

from mizzen.agent import supervisor as sv
from mizzen.agent.supervisor import State, Supervisor


def started(has_app: bool = True, registers: bool = True, policy: sv.Policy | None = None) -> Supervisor:
    machine = Supervisor(has_app=has_app, registers=registers, policy=policy)
    machine.handle(sv.Start(), 0.0)
    machine.handle(sv.EnvoyReady(), 0.05)
    return machine


def running() -> Supervisor:
    machine = started()
    machine.handle(sv.AppReady(), 1.0)
    machine.handle(sv.Registered(), 1.1)
    return machine


def kinds(actions: list[sv.Action]) -> list[type]:
    return [type(a) for a in actions if not isinstance(a, sv.Notify)]


def test_start_spawns_envoy_and_app_and_probes() -> None:
    """Starting a workload starts Envoy and the app and probes both."""
    machine = Supervisor(has_app=True, registers=True)
    assert machine.handle(sv.Start(), 0.0) == [
        sv.StartProcess("envoy"),
        sv.ProbeEnvoy(),
        sv.StartProcess("app"),
        sv.ProbeApp(),
    ]
    assert machine.state is State.WAITING_READY


def test_registration_waits_for_both_app_and_envoy() -> None:
    """The entry is registered only once the app is ready and Envoy's admin answers, in either order."""
    for first, second in ((sv.AppReady(), sv.EnvoyReady()), (sv.EnvoyReady(), sv.AppReady())):
        machine = Supervisor(has_app=True, registers=True)
        machine.handle(sv.Start(), 0.0)
        assert machine.handle(first, 0.1) == []
        assert machine.handle(second, 0.2) == [sv.Register()]


def test_ready_app_is_registered_then_up() -> None:
    """Registration follows readiness; the workload is up once registered."""
    machine = started()
    assert machine.handle(sv.AppReady(), 1.0) == [sv.Register()]
    assert machine.state is State.REGISTERING
    assert kinds(machine.handle(sv.Registered(), 1.1)) == [sv.Up, sv.StartTimer]
    assert machine.state is State.RUNNING and machine.registered


def test_running_workload_rechecks_its_registration_periodically() -> None:
    """Once registered, each refresh timer checks the entry still exists and re-arms itself."""
    machine = running()
    interval = machine.policy.refresh_every
    assert machine.handle(sv.TimerFired(sv.REFRESH_TIMER), 10.0) == [
        sv.EnsureRegistered(),
        sv.StartTimer(sv.REFRESH_TIMER, interval),
    ]
    machine.handle(sv.StopRequested(), 11.0)
    assert machine.handle(sv.TimerFired(sv.REFRESH_TIMER), 12.0) == []


def test_a_reconnect_rechecks_the_registration_at_once_and_after_a_reaper_pass() -> None:
    """The control plane may have reaped the entry during a long outage: the stream's return checks it at once
    and once more later (the reaper may have removed it just after the first check); nothing re-arms."""
    machine = running()
    assert machine.handle(sv.Reconnected(), 20.0) == [
        sv.EnsureRegistered(),
        sv.StartTimer(sv.RECHECK_TIMER, machine.policy.recheck_after),
    ]
    assert machine.handle(sv.TimerFired(sv.RECHECK_TIMER), 22.0) == [sv.EnsureRegistered()]


def test_a_reconnect_before_registration_or_while_stopping_checks_nothing() -> None:
    """Before the first registration there is nothing to re-check; once stopping, nothing may re-create it."""
    machine = started()
    assert machine.handle(sv.Reconnected(), 0.5) == []
    machine = running()
    machine.handle(sv.StopRequested(), 11.0)
    assert machine.handle(sv.Reconnected(), 11.5) == []
    assert machine.handle(sv.TimerFired(sv.RECHECK_TIMER), 12.0) == []


def test_workload_without_ports_is_up_without_registering() -> None:
    """A client-only workload (nothing to register) is up as soon as it is ready."""
    machine = started(registers=False)
    assert machine.handle(sv.AppReady(), 1.0) == [sv.Up()]
    assert machine.state is State.RUNNING


def test_gateway_has_no_app() -> None:
    """A gateway runs Envoy only and is up at once."""
    machine = Supervisor(has_app=False, registers=False)
    assert machine.handle(sv.Start(), 0.0) == [sv.StartProcess("envoy"), sv.ProbeEnvoy()]
    assert machine.handle(sv.EnvoyReady(), 0.1) == [sv.Up()]
    assert machine.state is State.RUNNING


def test_registration_failure_retries_with_backoff() -> None:
    """Failed registrations are retried after growing delays, on the timer."""
    machine = started()
    machine.handle(sv.AppReady(), 1.0)
    first = [a for a in machine.handle(sv.RegistrationFailed("refused"), 1.1) if isinstance(a, sv.StartTimer)]
    second = [a for a in machine.handle(sv.RegistrationFailed("refused"), 1.7) if isinstance(a, sv.StartTimer)]
    assert first[0].name == sv.REGISTER_TIMER and second[0].delay == 2 * first[0].delay
    assert machine.handle(sv.TimerFired(sv.REGISTER_TIMER), 3.0) == [sv.Register()]


def test_envoy_crash_is_restarted_after_backoff() -> None:
    """Envoy dying while running is restarted when the backoff timer fires; registration is kept."""
    machine = running()
    actions = machine.handle(sv.ProcessExited("envoy", -9), 20.0)
    assert kinds(actions) == [sv.StartTimer]
    assert machine.registered and machine.state is State.RUNNING
    assert machine.handle(sv.TimerFired(sv.RESTART_TIMER), 20.5) == [sv.StartProcess("envoy")]


def test_quick_crashes_back_off_exponentially_and_give_up() -> None:
    """Envoy that keeps dying young is restarted with doubling delays, then the workload stops."""
    machine = started(registers=False, policy=sv.Policy(max_quick_restarts=3, stable_after=10.0))
    machine.handle(sv.AppReady(), 0.1)
    delays = []
    now = 0.2
    for _ in range(2):
        actions = machine.handle(sv.ProcessExited("envoy", 1), now)
        delays += [a.delay for a in actions if isinstance(a, sv.StartTimer)]
        now += 1
        machine.handle(sv.TimerFired(sv.RESTART_TIMER), now)
    assert delays == [0.5, 1.0]
    final = machine.handle(sv.ProcessExited("envoy", 1), now + 0.1)
    assert sv.StopProcess("app") in final and machine.state is State.STOPPING
    assert machine.handle(sv.ProcessExited("app", -15), now + 0.2) == [sv.Exit(1)]


def test_stable_envoy_resets_backoff() -> None:
    """An Envoy that ran longer than stable_after restarts with the initial delay again."""
    machine = running()
    delays = []
    for crash_at in (2.0, 3.0, 100.0):  # two quick crashes, then one after a long, stable run
        actions = machine.handle(sv.ProcessExited("envoy", 1), crash_at)
        delays += [a.delay for a in actions if isinstance(a, sv.StartTimer)]
        machine.handle(sv.TimerFired(sv.RESTART_TIMER), crash_at + 0.5)
    assert delays == [0.5, 1.0, 0.5]


def test_stop_deregisters_then_drains_before_stopping_processes() -> None:
    """On a stop request the WorkloadEntry is deleted first, Envoy drains, then both processes are stopped."""
    machine = running()
    assert kinds(machine.handle(sv.StopRequested("SIGINT"), 5.0)) == [sv.Deregister]
    assert machine.handle(sv.Deregistered(), 5.1) == [sv.Drain(5.0)]
    assert kinds(machine.handle(sv.Drained(), 6.1)) == [sv.StopProcess, sv.StopProcess]
    assert machine.handle(sv.ProcessExited("app", -15), 5.2) == []
    assert machine.handle(sv.ProcessExited("envoy", 0), 5.3) == [sv.Exit(0)]
    assert machine.state is State.STOPPED and not machine.registered


def test_failed_deregistration_still_stops() -> None:
    """A control plane that cannot be reached does not keep the processes alive."""
    machine = running()
    machine.handle(sv.StopRequested(), 5.0)
    actions = machine.handle(sv.Deregistered("connection refused"), 5.1)
    assert any(isinstance(a, sv.Notify) and a.level == "warning" for a in actions)
    assert sv.StopProcess("envoy") in actions


def test_app_exit_stops_everything_with_its_code() -> None:
    """When the app exits on its own, the workload deregisters, stops Envoy and exits with the app's code."""
    machine = running()
    assert kinds(machine.handle(sv.ProcessExited("app", 3), 9.0)) == [sv.Deregister]
    assert machine.handle(sv.Deregistered(), 9.1) == [sv.StopProcess("envoy")]
    assert machine.handle(sv.ProcessExited("envoy", 0), 9.2) == [sv.Exit(3)]


def test_app_dying_before_ready_cancels_probe_and_skips_deregistration() -> None:
    """An app that dies during start-up was never registered: stop Envoy and exit."""
    machine = started()
    actions = machine.handle(sv.ProcessExited("app", 1), 0.5)
    assert kinds(actions) == [sv.CancelProbe, sv.StopProcess]
    assert machine.handle(sv.ProcessExited("envoy", 0), 0.6) == [sv.Exit(1)]


def test_stop_while_registering_deregisters() -> None:
    """A stop during an in-flight registration still deletes the entry (it may have been stored)."""
    machine = started()
    machine.handle(sv.AppReady(), 1.0)
    assert kinds(machine.handle(sv.StopRequested(), 1.05)) == [sv.Deregister]


def test_second_stop_request_kills() -> None:
    """A second Ctrl-C while stopping kills what is still running."""
    machine = running()
    machine.handle(sv.StopRequested(), 5.0)
    machine.handle(sv.Deregistered(), 5.1)
    assert kinds(machine.handle(sv.StopRequested(), 6.0)) == [sv.StopProcess, sv.StopProcess]
    assert all(a.force for a in machine.handle(sv.StopRequested(), 6.1) if isinstance(a, sv.StopProcess))


def test_envoy_exit_while_stopping_is_not_restarted() -> None:
    """Envoy exiting because we stopped it is not a crash."""
    machine = running()
    machine.handle(sv.StopRequested(), 5.0)
    machine.handle(sv.Deregistered(), 5.1)
    assert machine.handle(sv.ProcessExited("envoy", 0), 5.2) == []
    assert machine.handle(sv.TimerFired(sv.RESTART_TIMER), 5.3) == []


def test_app_killed_by_signal_maps_to_shell_exit_code() -> None:
    """An app killed by signal N (before any stop request) exits the agent with 128+N."""
    machine = started(registers=False)
    machine.handle(sv.AppReady(), 0.1)
    machine.handle(sv.ProcessExited("app", -9), 1.0)
    assert machine.handle(sv.ProcessExited("envoy", 0), 1.1) == [sv.Exit(137)]


def test_stale_events_are_ignored() -> None:
    """Late readiness or registration answers after stopping change nothing."""
    machine = running()
    machine.handle(sv.StopRequested(), 5.0)
    assert machine.handle(sv.AppReady(), 5.01) == []
    assert machine.handle(sv.Registered(), 5.02) == []
    assert machine.handle(sv.TimerFired(sv.REGISTER_TIMER), 5.03) == []


def test_a_second_stop_request_skips_the_drain() -> None:
    """Ctrl-C twice: processes are killed at once and the end of a drain starts nothing more."""
    machine = running()
    machine.handle(sv.StopRequested("SIGINT"), 5.0)
    machine.handle(sv.Deregistered(), 5.1)
    assert kinds(machine.handle(sv.StopRequested("SIGINT"), 5.2)) == [sv.StopProcess, sv.StopProcess]
    assert machine.handle(sv.Drained(), 5.3) == []
    machine.handle(sv.ProcessExited("app", -9), 5.4)
    assert machine.handle(sv.ProcessExited("envoy", -9), 5.5) == [sv.Exit(0)]


def test_no_drain_when_the_duration_is_zero() -> None:
    """terminationDrainDuration 0: deregistering is followed by stopping at once."""
    machine = started(policy=sv.Policy(drain_s=0.0))
    machine.handle(sv.AppReady(), 1.0)
    machine.handle(sv.Registered(), 1.1)
    machine.handle(sv.StopRequested("SIGTERM"), 2.0)
    assert kinds(machine.handle(sv.Deregistered(), 2.1)) == [sv.StopProcess, sv.StopProcess]
