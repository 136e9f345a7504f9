"""Two control-plane replicas on one PostgreSQL store share credentials: minted on one, usable and
revocable on the other (the credential index follows the store's change events)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from mizzen.testing.controlplane import start_controlplane
from mizzen.testing.postgres import Cluster


def test_a_credential_minted_on_one_replica_works_and_is_revoked_on_the_other(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    """A workload token minted through replica A authenticates at replica B; revoked through A, B refuses it
    within seconds."""
    database = postgres_cluster.create_database()
    store = ("--store", postgres_cluster.url(database), "--store-password-file", str(postgres_cluster.password_file))
    a = start_controlplane(tmp_path / "a", extra_args=store)
    try:
        b = start_controlplane(tmp_path / "b", extra_args=store)
        try:
            body = {"type": "workload", "name": "shared", "namespace": "default", "serviceAccount": "shared"}
            minted = httpx.post(f"{a.address}/api/mizzen/v1/tokens", json=body, headers=a.headers(), timeout=10)
            assert minted.status_code == 201, minted.text
            auth = {"Authorization": f"Bearer {minted.json()['token']}"}

            def whoami_at_b() -> int:
                return httpx.get(f"{b.address}/api/mizzen/v1/whoami", headers=auth, timeout=5).status_code

            deadline = time.monotonic() + 10
            while whoami_at_b() != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert whoami_at_b() == 200
            cred_id = minted.json()["credential"]["id"]
            httpx.delete(
                f"{a.address}/api/mizzen/v1/tokens/{cred_id}", headers=a.headers(), timeout=10
            ).raise_for_status()
            deadline = time.monotonic() + 10
            while whoami_at_b() != 401 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert whoami_at_b() == 401
        finally:
            b.stop()
    finally:
        a.stop()
