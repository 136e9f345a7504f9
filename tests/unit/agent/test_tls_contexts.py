"""The agent's TLS client contexts: plain-HTTP clients share one without any CA (so they fail closed on
https and do not each hold a copy of the CA bundle), and an https control plane is trusted through the
mesh root alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mizzen.agent.cpclient import mesh_root_context, plain_http_context, tls_verify
from mizzen.agent.errors import CredentialError
from mizzen.testing.tls import make_certificates


def test_plain_http_clients_share_one_context_without_cas() -> None:
    context = tls_verify("http://127.0.0.1:15014", None)
    assert context is plain_http_context() is tls_verify("http://10.0.0.1:15014", b"ignored")
    assert context.cert_store_stats()["x509_ca"] == 0


def test_an_https_control_plane_is_trusted_through_the_mesh_root_only(tmp_path: Path) -> None:
    root = make_certificates(tmp_path, ["cp.example"]).ca_cert.read_bytes()
    context = tls_verify("https://cp.example:15014", root)
    assert context is mesh_root_context(root)  # one per root, shared by every client of it
    assert context.cert_store_stats()["x509_ca"] == 1  # the mesh root, no system CA
    assert context.check_hostname


def test_an_https_control_plane_without_a_root_is_refused() -> None:
    with pytest.raises(CredentialError, match="no mesh root"):
        tls_verify("https://cp.example:15014", None)
