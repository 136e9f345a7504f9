"""--store / MIZZEN_STORE on `mizzen up` and `mizzen controlplane`: PostgreSQL by URL, never a password in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mizzen.store import StoreError
from mizzen.store.factory import check_spec, open_store
from mizzen.testing.controlplane import cli_runner, free_port, start_controlplane
from mizzen.testing.postgres import Cluster

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
"""


@pytest.mark.parametrize("command", ["controlplane", "up"])
def test_url_with_password_is_refused_before_starting(command: str, tmp_path: Path) -> None:
    """A password in the store URL is refused with a clear message that does not repeat it; nothing starts."""
    run = cli_runner({"MIZZEN_HOME": str(tmp_path / "home")})
    result = run(command, "--port", str(free_port()), "--store", "postgresql://mizzen:hunter2pw@127.0.0.1/db")
    assert result.exit_code == 2
    assert "must not contain a password" in result.stderr and "hunter2pw" not in result.stderr
    assert not (tmp_path / "home" / "controlplane.pid").exists()


def test_unknown_store_scheme_is_refused(tmp_path: Path) -> None:
    """A URL of a store Mizzen does not have is an error naming the accepted forms."""
    run = cli_runner({"MIZZEN_HOME": str(tmp_path / "home"), "MIZZEN_STORE": "mysql://root@db/mesh"})
    result = run("up", "--port", str(free_port()))
    assert result.exit_code == 2 and 'unsupported store "mysql://..."' in result.stderr


def test_spec_forms(tmp_path: Path) -> None:
    """No value is the home's SQLite file; sqlite:PATH and a bare path are SQLite files elsewhere."""
    assert check_spec(None, tmp_path / "m.db") == f"sqlite {tmp_path / 'm.db'}"
    assert check_spec(f"sqlite:{tmp_path}/x.db") == f"sqlite {tmp_path}/x.db"
    assert check_spec("postgresql://u@h:5433/mesh") == "postgresql://u@h:5433/mesh"
    store = open_store(str(tmp_path / "other.db"), tmp_path / "unused.db")
    store.close()
    assert (tmp_path / "other.db").exists() and not (tmp_path / "unused.db").exists()
    with pytest.raises(StoreError, match="only to a PostgreSQL store"):
        open_store(None, tmp_path / "m.db", password_file=tmp_path / "pw")


def test_up_with_mizzen_store_and_pgpassfile(postgres_cluster: Cluster, tmp_path: Path) -> None:
    """`mizzen up` with MIZZEN_STORE and PGPASSFILE runs on PostgreSQL: a second home sees the same objects."""
    url = postgres_cluster.url(postgres_cluster.create_database())
    env = {"MIZZEN_STORE": url, "PGPASSFILE": str(postgres_cluster.pgpass_file)}
    (tmp_path / "vs.yaml").write_text(VS)
    run = cli_runner({**env, "MIZZEN_HOME": str(tmp_path / "home-a")})
    up = run("up", "--port", str(free_port()), "--xds-port", str(free_port()), "--timeout", "120")
    try:
        assert up.exit_code == 0, up.stderr
        assert run("apply", "-f", str(tmp_path / "vs.yaml")).exit_code == 0
        log = (tmp_path / "home-a" / "controlplane.log").read_text()
        assert f"store {url}" in log
    finally:
        assert run("down").exit_code == 0
    assert not (tmp_path / "home-a" / "mizzen.db").exists()
    other = start_controlplane(
        tmp_path / "home-b", extra_args=["--store", url, "--store-password-file", str(postgres_cluster.password_file)]
    )
    try:
        got = cli_runner(other.env())("get", "vs", "reviews", "-o", "name")
        assert got.exit_code == 0 and "reviews" in got.stdout
    finally:
        other.stop()


def test_unreachable_database_fails_start_clearly(tmp_path: Path) -> None:
    """A control plane whose database cannot be reached exits with a message naming the store."""
    url = f"postgresql://mizzen@127.0.0.1:{free_port()}/mesh"
    with pytest.raises(RuntimeError) as err:
        start_controlplane(tmp_path / "home", extra_args=["--store", url], timeout=60)
    assert "cannot open the store" in str(err.value) and url in str(err.value)
