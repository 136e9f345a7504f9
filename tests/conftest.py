"""Fixtures shared by the whole suite: isolation from the user's Mizzen, a real control plane, the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mizzen.testing.controlplane import RunningControlPlane, start_controlplane

CLIENT_ENV = ("MIZZEN_HOME", "MIZZEN_ADDRESS", "MIZZEN_TOKEN", "MIZZEN_XDS_ADDRESS")


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


@dataclass
class CliResult:
    """What one ``mizzen`` invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str


MizzenCli = Callable[..., CliResult]


@pytest.fixture
def mizzen(controlplane: RunningControlPlane) -> MizzenCli:
    """Run ``mizzen ARGS`` (in-process, click's runner) against the test's control plane over HTTP."""
    return cli_runner(controlplane.env())


def cli_runner(env: dict[str, str]) -> MizzenCli:
    """A ``mizzen`` invoker with ``env`` added to the environment."""
    from mizzen.cli.main import cli

    def run(*args: str, input: str | None = None, extra_env: dict[str, str] | None = None) -> CliResult:
        result = CliRunner().invoke(cli, list(args), input=input, env={**env, **(extra_env or {})},
                                    prog_name="mizzen")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run
