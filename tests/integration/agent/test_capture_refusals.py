"""`mizzen run --capture` refuses clearly before it starts anything: without root, with --upstream, in the
host agent; and `mizzen run` names the annotations it will not act on (seen here on the way to the refusal)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUN = [sys.executable, "-m", "mizzen.cli.main", "run", "--capture", "--name", "x", "--port", "http=9080"]


def _run(
    argv: list[str], home: Path, *, as_nobody: bool, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MIZZEN_HOME": str(home), "HOME": str(home)}
    env.pop("MIZZEN_HOST_AGENT", None)  # these are the per-workload agent's refusals, unless `extra` sets it
    env.update(extra or {})
    if as_nobody:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False, cwd=home)


def test_without_root_capture_is_refused_and_names_the_alternative(tmp_path: Path) -> None:
    """A non-root `run --capture` exits non-zero saying it needs root and that HTTP-proxy mode needs none."""
    as_nobody = os.geteuid() == 0
    if as_nobody and shutil.which("setpriv") is None:
        pytest.skip("running as root and no setpriv to drop to an unprivileged user")
    tmp_path.chmod(0o777)
    proc = _run([*RUN, "--", "true"], tmp_path, as_nobody=as_nobody)
    assert proc.returncode != 0
    assert "--capture needs root" in proc.stderr and "HTTP_PROXY" in proc.stderr, proc.stderr
    assert not (tmp_path / "capture").exists()  # nothing was recorded or created


def test_upstream_ports_are_refused_with_capture(tmp_path: Path) -> None:
    """--upstream with --capture is a usage error naming both options, before any privilege check."""
    proc = _run([*RUN, "--upstream", "db:5432", "--", "true"], tmp_path, as_nobody=False)
    assert proc.returncode == 2 and "--upstream does not go with --capture" in proc.stderr, proc.stderr


def test_capture_is_refused_in_the_host_agent(tmp_path: Path) -> None:
    """With MIZZEN_HOST_AGENT=1, --capture is a usage error saying how to run it, and no host agent starts."""
    proc = _run([*RUN, "--", "true"], tmp_path, as_nobody=False, extra={"MIZZEN_HOST_AGENT": "1"})
    assert proc.returncode == 2 and "--capture does not run in the host agent yet" in proc.stderr, proc.stderr
    assert not (tmp_path / "host").exists()


def test_annotations_without_effect_are_named_on_stderr(tmp_path: Path) -> None:
    """An Istio sidecar annotation passed to `mizzen run` is not accepted silently: a warning names it (and
    not the prometheus.io one it does read). The non-root capture refusal stops the run before it starts."""
    as_nobody = os.geteuid() == 0
    if as_nobody and shutil.which("setpriv") is None:
        pytest.skip("running as root and no setpriv to drop to an unprivileged user")
    tmp_path.chmod(0o777)
    notes = ["--annotation", "sidecar.istio.io/inject=false", "--annotation", "prometheus.io/scrape=true"]
    proc = _run([*RUN, *notes, "--", "true"], tmp_path, as_nobody=as_nobody)
    assert "Warning: annotation 'sidecar.istio.io/inject' has no effect in Mizzen" in proc.stderr, proc.stderr
    assert "prometheus.io/scrape' has no effect" not in proc.stderr
