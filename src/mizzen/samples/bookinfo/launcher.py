"""Processes the demo starts: launching with a log file, recording them in ``demo.json``, stopping by PID.

Every process is started in its own session, so a Ctrl-C in the terminal reaches only ``mizzen demo``,
which then stops the others in order (workloads and gateway first, the control plane last). Each record
keeps the process start time from ``/proc``, so a PID reused by an unrelated process after a crash is
never signalled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE_FILE = "demo.json"


class DemoError(Exception):
    """A demo step failed; the message names the step and where its log is."""


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (``/proc/<pid>/stat`` field 22), or None when unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it start past the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


@dataclass
class ProcessRecord:
    """One process the demo started."""

    name: str
    pid: int
    log: str
    argv: list[str]
    start_time: str | None = None

    def alive(self) -> bool:
        """True while this very process (same PID and start time) exists and is not a zombie."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        current = process_start_time(self.pid)
        if self.start_time is not None and current is not None and current != self.start_time:
            return False  # the PID now belongs to another process
        return not _is_zombie(self.pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] == "Z"


@dataclass
class DemoState:
    """What ``demo.json`` records: how the demo runs and the processes it owns, in start order."""

    mode: str  # "foreground" or "detached"
    demo_pid: int
    started: str
    processes: list[ProcessRecord] = field(default_factory=list)
    reused_controlplane: bool = False
    product_page: str = ""  # where this demo's product page answers (its gateway port)

    @staticmethod
    def path(home: Path) -> Path:
        """``$MIZZEN_HOME/demo.json``."""
        return home / STATE_FILE

    def save(self, home: Path) -> None:
        """Write the state atomically (a reader never sees half a file)."""
        target = self.path(home)
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)

    @classmethod
    def load(cls, home: Path) -> DemoState | None:
        """The recorded state, or None when there is none (or it is unreadable, which is logged)."""
        try:
            raw: dict[str, Any] = json.loads(cls.path(home).read_text(encoding="utf-8"))
            procs = [ProcessRecord(**p) for p in raw.pop("processes", [])]
            return cls(processes=procs, **raw)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            log.warning("ignoring unreadable %s: %s", cls.path(home), exc)
            return None

    def live(self) -> list[ProcessRecord]:
        """The recorded processes still running."""
        return [p for p in self.processes if p.alive()]

    def demo_alive(self) -> bool:
        """True while the ``mizzen demo`` process that wrote this (foreground mode) still runs."""
        if self.mode != "foreground" or self.demo_pid == os.getpid():
            return False
        try:
            os.kill(self.demo_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _is_zombie(self.demo_pid)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on ``host:port`` (SO_REUSEADDR ignores leftover TIME_WAIT sockets)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class Launched:
    """A started child process and its record."""

    record: ProcessRecord
    popen: subprocess.Popen[bytes]


def launch(name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str]) -> Launched:
    """Start ``argv`` in its own session with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_fh:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    record = ProcessRecord(
        name=name, pid=popen.pid, log=str(log_path), argv=list(argv), start_time=process_start_time(popen.pid)
    )
    return Launched(record, popen)


def _wait_gone(record: ProcessRecord, popen: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if popen is not None:
        try:
            popen.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not record.alive():
            return True
        time.sleep(0.05)
    return not record.alive()


def _terminate(record: ProcessRecord, popen: subprocess.Popen[bytes] | None) -> bool:
    """Send SIGTERM; False when the process is already gone (and reaped)."""
    if not record.alive():
        if popen is not None:
            popen.poll()  # reap it
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    return True


def _finish(record: ProcessRecord, popen: subprocess.Popen[bytes] | None, deadline: float) -> None:
    """Wait for a terminated process until ``deadline``, then kill it.

    The process group is the session the demo created for it (its PID), so the group signals reach the
    app and Envoy a ``mizzen run`` started if that agent exited without stopping them.
    """
    if _wait_gone(record, popen, max(0.0, deadline - time.monotonic())):
        _kill_group(record.pid, signal.SIGTERM)
        return
    log.warning("%s (pid %d) did not stop in time; killing it", record.name, record.pid)
    _kill_group(record.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    _wait_gone(record, popen, 5.0)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # the group is already empty
    except PermissionError as exc:
        log.warning("cannot signal process group %d: %s", pgid, exc)


def stop_all(
    records: Sequence[ProcessRecord],
    popens: Mapping[int, subprocess.Popen[bytes]] | None = None,
    report: Callable[[str], None] = lambda _s: None,
    timeout: float = 15.0,
    last: Sequence[str] = ("controlplane",),
) -> None:
    """Stop ``records``: all but those named in ``last`` together, then those (the control plane last).

    The first wave is signalled at once and waited for with one shared deadline, so stopping seven
    proxies takes as long as the slowest, not the sum.
    """
    popens = popens or {}
    first = [r for r in records if r.name not in last]
    final = [r for r in records if r.name in last]
    for wave in (first, final):
        deadline = time.monotonic() + timeout
        stopping = []
        for record in reversed(wave):
            if record.alive():
                report(f"stopping {record.name} (pid {record.pid})")
            if _terminate(record, popens.get(record.pid)):
                stopping.append(record)
        for record in stopping:
            _finish(record, popens.get(record.pid), deadline)


def tail(path: str | Path, lines: int = 12) -> str:
    """The last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
