"""mizzen backup / restore through real control planes: a mesh moves from SQLite to PostgreSQL intact."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import yaml

from mizzen.cli.backup_cmds import SERVER_FIELDS
from mizzen.config.kinds import KINDS
from mizzen.testing.controlplane import RunningControlPlane, cli_runner, start_controlplane
from mizzen.testing.postgres import Cluster
from mizzen.testing.tls import make_certificates

MESH = """\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop, labels: {app: reviews}}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop, annotations: {owner: team-a}}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}, weight: 100}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin-ext}
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  location: MESH_EXTERNAL
"""


def everything(cp: RunningControlPlane) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every object the control plane serves, keyed by (kind, namespace, name), without server metadata."""
    import httpx

    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    with httpx.Client(base_url=cp.address, headers=cp.headers(), timeout=30) as client:
        for info in KINDS:
            base = f"/apis/{info.group}/{info.versions[0]}" if info.group else f"/api/{info.versions[0]}"
            for item in client.get(f"{base}/{info.plural}").raise_for_status().json()["items"]:
                meta = item["metadata"]
                for field in SERVER_FIELDS:
                    meta.pop(field, None)
                out[(item["kind"], meta["namespace"], meta["name"])] = item
    return out


def test_mesh_moves_from_sqlite_to_postgresql(postgres_cluster: Cluster, tmp_path: Path) -> None:
    """A backup of a SQLite control plane restored on a PostgreSQL one reproduces every object, Secrets too."""
    (tmp_path / "mesh.yaml").write_text(MESH)
    tls = make_certificates(tmp_path / "tls", ["bookinfo.example.com"])
    sqlite_cp = start_controlplane(tmp_path / "home-sqlite")
    try:
        run = cli_runner(sqlite_cp.env())
        assert run("apply", "-f", str(tmp_path / "mesh.yaml")).exit_code == 0
        made = run("create", "secret", "tls", "gw-cert", "--cert", str(tls.cert), "--key", str(tls.key))
        assert made.exit_code == 0, made.stderr
        before = everything(sqlite_cp)
        out = run("backup", "-o", str(tmp_path / "mesh-backup.yaml"))
        assert out.exit_code == 0, out.stderr
        assert "backed up 5 objects" in out.stdout
    finally:
        sqlite_cp.stop()
    backup_file = tmp_path / "mesh-backup.yaml"
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600  # it holds a private key
    docs = [d for d in yaml.safe_load_all(backup_file.read_text()) if d]
    assert len(docs) == 5 and not any(set(SERVER_FIELDS) & set(d["metadata"]) for d in docs)

    url = postgres_cluster.url(postgres_cluster.create_database())
    store_args = ["--store", url, "--store-password-file", str(postgres_cluster.password_file)]
    pg_cp = start_controlplane(tmp_path / "home-pg", extra_args=store_args)
    try:
        run = cli_runner(pg_cp.env())
        restored = run("restore", str(backup_file))
        assert restored.exit_code == 0, restored.stderr
        assert "restored 5 objects (5 created)" in restored.stdout
        assert everything(pg_cp) == before
        again = run("restore", str(backup_file))
        assert again.exit_code == 0 and "(5 unchanged)" in again.stdout
        as_json = run("backup", "--format", "json")
        assert as_json.exit_code == 0, as_json.stderr
        listed = json.loads(as_json.stdout)
        assert listed["kind"] == "List" and listed["items"] == docs
    finally:
        pg_cp.stop()
    assert not (tmp_path / "home-pg" / "mizzen.db").exists()  # the PostgreSQL control plane used no SQLite file


def test_restore_of_a_bad_file_changes_nothing(controlplane: RunningControlPlane, tmp_path: Path) -> None:
    """A backup with one invalid object restores nothing and names the file, line and field."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(MESH + "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n")
    run = cli_runner(controlplane.env())
    result = run("restore", str(bad))
    assert result.exit_code == 1 and "nothing was restored" in result.stderr
    assert f"{bad}:" in result.stderr
    assert everything(controlplane) == {}


def test_restore_refuses_a_file_that_is_not_a_backup(controlplane: RunningControlPlane, tmp_path: Path) -> None:
    """Kinds Mizzen never stores (a Deployment) mean the file is not a Mizzen backup: nothing is applied."""
    other = tmp_path / "deploy.yaml"
    other.write_text(MESH + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n")
    result = cli_runner(controlplane.env())("restore", str(other))
    assert result.exit_code == 1 and "Deployment" in result.stderr and "Mizzen backup" in result.stderr
    assert everything(controlplane) == {}
