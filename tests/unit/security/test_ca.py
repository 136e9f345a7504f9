"""The mesh CA: created on first start, plugged in from Istio's four files, signing exactly one identity."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import pytest

from mizzen.security import ca as mesh_ca
from mizzen.security import x509
from mizzen.security.errors import CAError, CertificateError
from mizzen.security.spiffe import SpiffeId

ID = SpiffeId("cluster.local", "default", "bookinfo-reviews")


def test_created_ca_is_private_and_reloads_the_same(tmp_path: Path) -> None:
    """First start creates a root whose key is 0600 in a 0700 folder; a second load uses the same root."""
    folder = tmp_path / "ca"
    first = mesh_ca.MeshCA.load_or_create(folder, "cluster.local")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "ca-key.pem").st_mode) == 0o600
    again = mesh_ca.MeshCA.load_or_create(folder, "cluster.local")
    assert again.roots_pem == first.roots_pem
    assert "O=cluster.local" in x509.cert_info(first.roots_pem).subject


def test_workload_certificate_carries_only_the_identity(tmp_path: Path) -> None:
    """A signed workload certificate has the SPIFFE ID as its only SAN, chains to the root, lasts the TTL."""
    authority = mesh_ca.MeshCA.load_or_create(tmp_path / "ca", "cluster.local")
    key = x509.generate_key()
    issued = authority.sign_workload(x509.make_csr(key), ID, datetime.timedelta(minutes=10))
    leaf = x509.cert_info(issued.chain[0])
    assert leaf.uris == (ID.uri,) and leaf.dns_names == () and not leaf.is_ca
    assert x509.key_matches_cert(key, issued.chain[0])
    x509.verify_chain(issued.chain[0], issued.chain[1:], authority.roots_pem)
    lifetime = leaf.not_after - leaf.not_before
    assert datetime.timedelta(minutes=10) <= lifetime <= datetime.timedelta(minutes=12)


def test_csr_asking_for_another_identity_is_refused(tmp_path: Path) -> None:
    """A CSR whose URI SAN is not the caller's identity gets no certificate."""
    authority = mesh_ca.MeshCA.load_or_create(tmp_path / "ca", "cluster.local")
    other = x509.make_csr(x509.generate_key(), ["spiffe://cluster.local/ns/default/sa/admin"])
    with pytest.raises(CertificateError, match=r"asks for spiffe://cluster.local/ns/default/sa/admin"):
        authority.sign_workload(other, ID)


def test_ttl_is_capped(tmp_path: Path) -> None:
    """A lifetime above the CA's maximum is cut to the maximum (Istio's MAX_WORKLOAD_CERT_TTL)."""
    authority = mesh_ca.MeshCA.load_or_create(tmp_path / "ca", "cluster.local", max_ttl=datetime.timedelta(hours=1))
    issued = authority.sign_workload(x509.make_csr(x509.generate_key()), ID, datetime.timedelta(days=30))
    leaf = x509.cert_info(issued.chain[0])
    assert leaf.not_after - leaf.not_before <= datetime.timedelta(hours=1, minutes=2)


def _plugin_folder(tmp_path: Path) -> tuple[Path, bytes]:
    root_key = x509.generate_key()
    root = x509.create_root("Example Root", root_key)
    ca_key = x509.generate_key()
    intermediate = x509.create_intermediate(root, root_key, ca_key, "Example Intermediate")
    folder = tmp_path / "cacerts"
    folder.mkdir()
    (folder / "ca-cert.pem").write_bytes(intermediate)
    (folder / "ca-key.pem").write_bytes(ca_key)
    (folder / "root-cert.pem").write_bytes(root)
    (folder / "cert-chain.pem").write_bytes(intermediate + root)
    return folder, root


def test_plugged_in_intermediate_signs_with_its_chain(tmp_path: Path) -> None:
    """With Istio's plug-in files, workloads get leaf + intermediate and trust the plugged root."""
    folder, root = _plugin_folder(tmp_path)
    authority = mesh_ca.MeshCA.plugged(folder)
    issued = authority.sign_workload(x509.make_csr(x509.generate_key()), ID)
    assert len(issued.chain) == 2
    assert x509.cert_info(issued.chain[1]).subject == "O=Example Intermediate"
    assert authority.roots_pem == x509.split_pem_chain(root)[0]
    x509.verify_chain(issued.chain[0], issued.chain[1:], authority.roots_pem)


def test_plugged_in_folder_problems_are_named(tmp_path: Path) -> None:
    """A missing file, or a key that is not the CA certificate's, is a clear error naming the file."""
    folder, _ = _plugin_folder(tmp_path)
    (folder / "ca-key.pem").write_bytes(x509.generate_key())
    with pytest.raises(CAError, match=r"ca-key.pem in .* is not the private key of ca-cert.pem"):
        mesh_ca.MeshCA.plugged(folder)
    (folder / "cert-chain.pem").unlink()
    with pytest.raises(CAError, match=r"lacks cert-chain\.pem"):
        mesh_ca.MeshCA.plugged(folder)


def test_server_certificate_names(tmp_path: Path) -> None:
    """The control plane's serving certificate carries the DNS names and IPs asked for."""
    authority = mesh_ca.MeshCA.load_or_create(tmp_path / "ca", "cluster.local")
    issued, key = authority.issue_server(["localhost", "cp.example"], ["127.0.0.1", "::1"])
    info = x509.cert_info(issued.chain[0])
    assert info.dns_names == ("localhost", "cp.example") and info.ip_addresses == ("127.0.0.1", "::1")
    assert x509.key_matches_cert(key, issued.chain[0])


def test_bad_csr_is_refused(tmp_path: Path) -> None:
    """Garbage instead of a CSR is a CertificateError, not a crash."""
    authority = mesh_ca.MeshCA.load_or_create(tmp_path / "ca", "cluster.local")
    with pytest.raises(CertificateError, match="not a PEM certificate signing request"):
        authority.sign_workload(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", ID)
