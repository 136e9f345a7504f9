"""Fixtures shared by the whole suite: isolation from the user's Mizzen, a real control plane, the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing import samples
from mizzen.testing.controlplane import MizzenCli, RunningControlPlane, cli_runner, start_controlplane
from mizzen.testing.postgres import Cluster, PostgresUnavailable, start_cluster

CLIENT_ENV = ("MIZZEN_HOME", "MIZZEN_ADDRESS", "MIZZEN_TOKEN", "MIZZEN_XDS_ADDRESS")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need Istio's sample files skip with the reason when they are missing; with CI=true, fail."""
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
