"""A Sidecar ingress ``tls`` on a port whose PeerAuthentication mode is not DISABLE (MZ2785: Istio keeps mesh
mTLS there and never uses the certificate) is reported by ``validate``, ``apply`` (against the stored
PeerAuthentications) and ``analyze``."""

from __future__ import annotations

from pathlib import Path

from mizzen.testing.controlplane import MizzenCli

SIDECAR = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: ingress-sidecar
  namespace: test
spec:
  workloadSelector:
    labels:
      app: httpbin
  ingress:
  - port:
      number: 9080
      protocol: HTTPS
      name: external
    defaultEndpoint: 0.0.0.0:80
    tls:
      mode: SIMPLE
      privateKey: /certs/tls.key
      serverCertificate: /certs/tls.crt
"""
DISABLE_9080 = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: disable-9080
  namespace: test
spec:
  selector:
    matchLabels:
      app: httpbin
  mtls:
    mode: STRICT
  portLevelMtls:
    9080:
      mode: DISABLE
"""
WARNING = "warning MZ2785 Sidecar test/ingress-sidecar: spec.ingress[0].tls: tls on ingress port 9080 is not applied"


def test_validate_warns_unless_the_files_disable_the_port(tmp_path: Path, mizzen: MizzenCli) -> None:
    """Offline, the files are the mesh: the Sidecar alone warns at its tls line (PERMISSIVE by default);
    beside the task's port-level DISABLE it is clean under --strict."""
    alone = tmp_path / "sc.yaml"
    alone.write_text(SIDECAR)
    r = mizzen("validate", "-f", str(alone))
    assert r.exit_code == 0 and f"{alone}:16: {WARNING}: the port's PeerAuthentication mode is PERMISSIVE" in (
        r.stderr
    ), r.stderr
    both = tmp_path / "both.yaml"
    both.write_text(DISABLE_9080 + "---\n" + SIDECAR)
    r = mizzen("validate", "--strict", "-f", str(both))
    assert r.exit_code == 0 and "MZ2785" not in r.stderr, r.stderr


def test_apply_weighs_the_stored_peer_authentications(tmp_path: Path, mizzen: MizzenCli) -> None:
    """apply warns while nothing stored disables the port; once the PeerAuthentication is stored the same
    Sidecar applies under --strict without a warning."""
    path = tmp_path / "sc.yaml"
    path.write_text(SIDECAR)
    r = mizzen("apply", "-f", str(path))
    assert r.exit_code == 0 and f"Warning: {path}:16: {WARNING}" in r.stderr, r.stderr
    assert mizzen("apply", "-f", "-", input=DISABLE_9080).exit_code == 0
    r = mizzen("apply", "--strict", "-f", str(path))
    assert r.exit_code == 0 and "MZ2785" not in r.stderr, r.stderr


def test_analyze_notes_it_in_files(tmp_path: Path, mizzen: MizzenCli) -> None:
    """analyze prints a note naming file:line; with the DISABLE beside it, none."""
    path = tmp_path / "sc.yaml"
    path.write_text(SIDECAR)
    r = mizzen("analyze", "-n", "test", "-f", str(path))
    assert f"note: {path}:16: {WARNING}" in r.stderr, r.stderr
    path.write_text(DISABLE_9080 + "---\n" + SIDECAR)
    assert "MZ2785" not in mizzen("analyze", "-n", "test", "-f", str(path)).stderr
