"""The control plane's start-up timeline: how long each phase took since the process was started.

After a restart every proxy waits for the xDS port, so the start-up is on the resync's critical path
(issue 15, ``bench/resync.py``). The ``control plane ready`` log line carries this breakdown, so a slow
start is visible without a profiler. Times count from the process's start as the kernel recorded it
(``/proc/self/stat``), so the interpreter's own start and the ``mizzen controlplane`` exec are included;
without ``/proc`` they count from this module's import.
"""

from __future__ import annotations

import os
import time

_IMPORTED = time.monotonic()


def _process_age() -> float | None:
    """Seconds since this process started (``/proc/self/stat`` field 22, against CLOCK_BOOTTIME)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22; fields[0] is field 3
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError):
        return None


_AGE_AT_IMPORT = _process_age()
_ORIGIN = _IMPORTED - (_AGE_AT_IMPORT or 0.0)


def since_start() -> float:
    """Seconds since the process started (or since this module's import without ``/proc``)."""
    return time.monotonic() - _ORIGIN


class Timeline:
    """Named phases of the start-up, each ending at a :meth:`mark`; :meth:`summary` for the log."""

    def __init__(self) -> None:
        self._marks: list[tuple[str, float]] = []

    @property
    def marks(self) -> tuple[tuple[str, float], ...]:
        """``(phase, seconds since the process started)`` in the order they were marked."""
        return tuple(self._marks)

    def mark(self, phase: str) -> float:
        """End ``phase`` now; return the seconds since the process started."""
        at = since_start()
        self._marks.append((phase, at))
        return at

    def summary(self) -> str:
        """``"1.23 s after the process started: imports 0.80, identity 0.05, ..."`` (each phase's own time)."""
        if not self._marks:
            return f"{since_start():.2f} s after the process started"
        parts, previous = [], 0.0
        for phase, at in self._marks:
            parts.append(f"{phase} {at - previous:.2f}")
            previous = at
        return f"{self._marks[-1][1]:.2f} s after the process started: " + ", ".join(parts)
