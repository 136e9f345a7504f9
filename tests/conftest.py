"""Fixtures and rules shared by the whole suite.

- Isolation: no test reads the developer's ``~/.mizzen`` or ``MIZZEN_*`` settings.
- A test that starts Envoy is ``e2e``, wherever it lives: everything under ``tests/e2e`` is marked so
  automatically, and every Envoy start is recorded (``$MIZZEN_ENVOY`` points at a small shim that notes
  the test that started it, then execs the real Envoy): a test not marked ``e2e`` that starts one fails,
  saying so. Mark its module with ``pytestmark = pytest.mark.e2e``.
- Tests needing Istio's sample files skip with the reason when they are missing; with ``CI=true``, fail.
- Fixtures: a real control-plane process (per test or per module), the CLI against it, a throwaway
  PostgreSQL cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from mizzen.agent.envoy import find_envoy
from mizzen.testing import samples
from mizzen.testing.controlplane import MizzenCli, RunningControlPlane, cli_runner, start_controlplane
from mizzen.testing.postgres import Cluster, PostgresUnavailable, start_cluster

# gRPC's fork handlers restart its threads in a forked child; the egress tests' sandbox forks the test
# process and must be single-threaded to create a user namespace. Read when grpc is first imported,
# which is after this module (nothing above imports it).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

CLIENT_ENV = ("MIZZEN_HOME", "MIZZEN_ADDRESS", "MIZZEN_TOKEN", "MIZZEN_XDS_ADDRESS")
E2E_DIR = Path(__file__).parent / "e2e"
STARTS_ENV = "MIZZEN_TEST_ENVOY_STARTS"  # the shim appends "<pid>\t<test id>\t<args>" here
TEST_ID_ENV = "MIZZEN_TEST_NODEID"  # the running test, inherited by every process it starts
SHIM = """#!/bin/sh
# Written by tests/conftest.py: note which test started this Envoy, then become the real Envoy.
case " $* " in *" --version "*) ;; *) printf '%s\\t%s\\t%s\\n' "$$" "${{{test_id}:-?}}" "$*" >> "{starts}" ;; esac
exec "{envoy}" "$@"
"""


def pytest_configure(config: pytest.Config) -> None:
    """Route every Envoy start of this run through the recording shim."""
    workdir = Path(tempfile.mkdtemp(prefix="mizzen-envoy-shim-"))
    starts = workdir / "starts.tsv"
    starts.touch()
    shim = workdir / "envoy"
    shim.write_text(SHIM.format(test_id=TEST_ID_ENV, starts=starts, envoy=find_envoy()))
    shim.chmod(0o755)
    config.stash[_SHIM_KEY] = (workdir, starts)
    os.environ["MIZZEN_ENVOY"] = str(shim)
    os.environ[STARTS_ENV] = str(starts)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the shim's folder."""
    workdir, _ = config.stash.get(_SHIM_KEY, (None, None))
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


_SHIM_KEY = pytest.StashKey[tuple[Path, Path]]()


@pytest.hookimpl(tryfirst=True)  # before `-m "not e2e"` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e as e2e; skip (or, with CI=true, fail) tests lacking Istio's samples."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR) and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.e2e)
    needing = [i for i in items if i.get_closest_marker("istio_samples") or "istio_samples" in _fixtures(i)]
    if not needing or samples.istio_samples_dir() is not None:
        return
    if samples.required():
        raise pytest.UsageError(f"CI=true and {len(needing)} tests need them: {samples.missing_reason()}")
    skip = pytest.mark.skip(reason=samples.missing_reason())
    for item in needing:
        item.add_marker(skip, append=False)  # first, so this reason is the one reported


def _fixtures(item: pytest.Item) -> tuple[str, ...]:
    return tuple(getattr(item, "fixturenames", ()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Processes started while this test runs (setup included) carry its id to the Envoy shim."""
    os.environ[TEST_ID_ENV] = item.nodeid
    try:
        return (yield)
    finally:
        os.environ.pop(TEST_ID_ENV, None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """After teardown, fail a test that started Envoy without the e2e marker."""
    report = yield
    if call.when == "teardown" and not item.get_closest_marker("e2e"):
        started = _envoy_starts(item)
        if started and isinstance(report, pytest.TestReport):
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} started Envoy ({started[0]}) but is not marked e2e: a test that starts Envoy "
                "is e2e wherever it lives (add `pytestmark = pytest.mark.e2e` to its module)"
            )
    return report


def _envoy_starts(item: pytest.Item) -> list[str]:
    _, starts = item.config.stash[_SHIM_KEY]
    lines = starts.read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 2)[2] for line in lines if line.count("\t") >= 2 and line.split("\t")[1] == item.nodeid]


@pytest.fixture
def istio_samples() -> Path:
    """The folder of Istio's own Bookinfo sample files (tests using it skip, or fail under CI, without it)."""
    found = samples.istio_samples_dir()
    assert found is not None, samples.missing_reason()  # unreachable: collection skipped the test
    return found


@pytest.fixture(autouse=True)
def _isolated_mizzen_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads or writes the developer's ~/.mizzen or follows their MIZZEN_* settings."""
    for key in CLIENT_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MIZZEN_HOME", str(tmp_path_factory.mktemp("mizzen-home")))


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test (to fill a disk on purpose); skipped where mounting is not allowed."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)


@pytest.fixture
def controlplane(tmp_path: Path) -> Iterator[RunningControlPlane]:
    """A real control-plane subprocess on free ports with its own MIZZEN_HOME; stopped by pid afterwards."""
    cp = start_controlplane(tmp_path / "cp-home")
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def shared_controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    """One control-plane process for a whole test module (starting one costs about a second)."""
    cp = start_controlplane(tmp_path_factory.mktemp("shared-cp-home"))
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def cp(shared_controlplane: RunningControlPlane) -> RunningControlPlane:
    """The module's shared control plane, emptied of all objects before the test."""
    shared_controlplane.wipe()
    return shared_controlplane


@pytest.fixture
def mizzen(cp: RunningControlPlane) -> MizzenCli:
    """Run ``mizzen ARGS`` (in-process, click's runner) against a real control plane over HTTP."""
    return cli_runner(cp.env())


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster per session; skipped where it cannot run (an error with CI=true)."""
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required with CI=true: {exc}")
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()
