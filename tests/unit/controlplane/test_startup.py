"""The start-up timeline the ``control plane ready`` log line carries."""

from __future__ import annotations

import subprocess
import sys
import time

from mizzen.controlplane.startup import Timeline, since_start


def test_each_phase_is_reported_with_its_own_duration_and_the_total_since_the_process_started() -> None:
    """Phases end at their marks; the summary gives each one's own time and the last mark's total."""
    timeline = Timeline()
    first = timeline.mark("imports")
    time.sleep(0.05)
    second = timeline.mark("xDS listening")
    summary = timeline.summary()
    assert second - first >= 0.05
    assert summary.startswith(f"{second:.2f} s after the process started: imports {first:.2f}, xDS listening ")
    assert float(summary.rsplit(" ", 1)[1]) >= 0.05


def test_the_clock_counts_from_the_process_start_including_the_interpreters_own() -> None:
    """In a fresh interpreter that sleeps before importing the module, the time counts the sleep too."""
    code = "import time; time.sleep(0.3); from mizzen.controlplane.startup import since_start; print(since_start())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert 0.3 <= float(done.stdout) < 30.0
    assert since_start() > 0.0
