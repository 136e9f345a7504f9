"""The throwaway PostgreSQL harness: unprivileged, private, and gone without a trace afterwards."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from mizzen.testing.postgres import PG_USER, PostgresUnavailable, find_bin_dir, running_cluster


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


# Each test asks for the session cluster only for its skip (or CI error) where PostgreSQL cannot run.
def test_cluster_runs_unprivileged_and_leaves_nothing_behind(postgres_cluster: object) -> None:
    """A cluster runs as a non-root user on its own port and socket; after it, no process or folder remains."""
    with running_cluster() as pg:
        family = pg.processes()
        assert len(family) >= 2  # the postmaster and its background workers
        expected = pwd.getpwnam(PG_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
        assert {_uid_of(pid) for pid in family} == {expected} != {0}
        assert (pg.socket_dir / f".s.PGSQL.{pg.port}").exists()
        assert pg.sql("postgres", "SHOW listen_addresses") == "127.0.0.1"
        assert pg.sql("postgres", "SHOW data_directory") == str(pg.data_dir)
        root = pg.root
    assert not [pid for pid in family if Path(f"/proc/{pid}").exists() and _running(pid)]
    assert not root.exists()


def test_killed_cluster_can_start_again(postgres_cluster: object) -> None:
    """After SIGKILL of every server process (a crash), the cluster restarts with its data intact."""
    with running_cluster() as pg:
        db = pg.create_database()
        pg.sql(db, "CREATE TABLE kept (v integer); INSERT INTO kept VALUES (7)")
        family = pg.processes()
        pg.kill()
        assert not [pid for pid in family if _running(pid)]
        pg.start()
        assert pg.sql(db, "SELECT v FROM kept") == "7"


def test_missing_postgresql_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no PostgreSQL binaries anywhere, the harness says what is missing and how set-up installs it."""
    monkeypatch.setenv("MIZZEN_PG_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("mizzen.testing.postgres.DEBIAN_ROOT", tmp_path / "none")
    with pytest.raises(PostgresUnavailable, match=r"PostgreSQL is not installed.*tools/dev.py setup"):
        find_bin_dir()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
