"""Joining a control plane: the advertised xDS address, the endpoint address, and a clear error for each failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mizzen.agent import join as join_module
from mizzen.agent.errors import JoinError
from mizzen.agent.join import join
from mizzen.agent.runner import ControlPlane
from mizzen.agent.spec import WorkloadSpec
from mizzen.testing.controlplane import RunningControlPlane, free_port, start_controlplane

SPEC = WorkloadSpec(name="w1", address="")


@pytest.fixture(scope="module")
def tls_cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    cp = start_controlplane(tmp_path_factory.mktemp("tls-cp"), extra_args=("--tls",))
    yield cp
    cp.stop()


def _client_of(cp: RunningControlPlane, token: str | None = None, roots: bytes | None = None) -> ControlPlane:
    root = roots if roots is not None else (cp.home / "root-cert.pem").read_bytes()
    return ControlPlane(cp.address, ("127.0.0.1", 1), token or cp.token, roots=root, xds_given=False)


def test_the_agent_learns_the_xds_address_and_a_local_endpoint(tls_cp: RunningControlPlane) -> None:
    """Against a loopback control plane the agent takes its advertised xDS address and registers 127.0.0.1."""
    joined = asyncio.run(join(_client_of(tls_cp), SPEC, xds_given=False))
    assert joined.control_plane.xds_address == ("127.0.0.1", tls_cp.xds_port)
    assert joined.spec.address == "127.0.0.1" and joined.advertised == "127.0.0.1"


def test_an_explicit_xds_address_wins(tls_cp: RunningControlPlane) -> None:
    """--xds-address (or MIZZEN_XDS_ADDRESS) is kept as given."""
    joined = asyncio.run(join(_client_of(tls_cp), SPEC, xds_given=True))
    assert joined.control_plane.xds_address == ("127.0.0.1", 1)


def test_a_certificate_the_root_does_not_sign_is_refused(tls_cp: RunningControlPlane, tmp_path: Path) -> None:
    """Another mesh's root: the error says the control plane's certificate is not signed by it."""
    other = start_controlplane(tmp_path / "other", extra_args=("--tls",))
    try:
        wrong_root = (other.home / "root-cert.pem").read_bytes()
    finally:
        other.stop()
    with pytest.raises(JoinError, match=r"not sign.*--root-cert"):
        asyncio.run(join(_client_of(tls_cp, roots=wrong_root), SPEC, xds_given=False))


def test_a_revoked_credential_is_refused_with_the_reason(tls_cp: RunningControlPlane) -> None:
    """A revoked workload token: the error carries the control plane's reason."""
    with tls_cp.client() as http:
        minted = http.post(
            "/api/mizzen/v1/tokens",
            json={"type": "workload", "name": "w1", "namespace": "default", "serviceAccount": "default"},
        ).json()
        http.delete(f"/api/mizzen/v1/tokens/{minted['credential']['id']}").raise_for_status()
    with pytest.raises(JoinError, match=r"refused this agent's credential: .*revoked"):
        asyncio.run(join(_client_of(tls_cp, token=minted["token"]), SPEC, xds_given=False))


def test_an_unreachable_control_plane_is_named_after_the_retry_window(
    tls_cp: RunningControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listening: after the retry window the error names the address and what to check."""
    monkeypatch.setattr(join_module, "START_RETRY_S", 0.5)
    root = (tls_cp.home / "root-cert.pem").read_bytes()
    cp = ControlPlane(f"https://127.0.0.1:{free_port()}", ("127.0.0.1", 1), "t", roots=root, xds_given=False)
    with pytest.raises(JoinError, match=r"cannot reach the control plane at https://127\.0\.0\.1:\d+"):
        asyncio.run(join(cp, SPEC, xds_given=False))


def test_the_api_accepts_a_loopback_entry_from_this_host(tls_cp: RunningControlPlane) -> None:
    """A workload credential registering 127.0.0.1 over loopback is fine: the refusal is for remote peers only
    (pinned across hosts in tests/e2e/multihost)."""
    with tls_cp.client() as http:
        token = http.post(
            "/api/mizzen/v1/tokens",
            json={"type": "workload", "name": "w2", "namespace": "default", "serviceAccount": "default"},
        ).json()["token"]
    entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "w2", "namespace": "default"},
        "spec": {"address": "127.0.0.1", "serviceAccount": "default"},
    }
    path = "/apis/networking.istio.io/v1/namespaces/default/workloadentries/w2"
    resp = httpx.put(
        tls_cp.address + path, json=entry, headers={"Authorization": f"Bearer {token}"}, verify=tls_cp.verify
    )
    assert resp.status_code in (200, 201), resp.text
