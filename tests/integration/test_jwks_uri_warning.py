"""A RequestAuthentication ``jwksUri`` whose host and port no Service or ServiceEntry defines (MZ2783) is
reported by ``validate``, ``apply`` (against what is stored) and ``analyze`` (files and ``--live``)."""

from __future__ import annotations

from pathlib import Path

from mizzen.testing.controlplane import MizzenCli

POLICY = """\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt-example
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: testing@secure.istio.io
    jwksUri: http://jwks.foo.svc.cluster.local:8000/jwks.json
"""

JWKS_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: jwks
  namespace: foo
spec:
  ports:
  - name: http
    port: 8000
  selector:
    app: jwks
"""

WARNING = "warning MZ2783 RequestAuthentication foo/jwt-example: spec.jwtRules[0].jwksUri: no "


def test_validate_warns_when_no_input_serves_the_jwks_host(tmp_path: Path, mizzen: MizzenCli) -> None:
    """Offline, the files are the mesh: a policy alone warns at its jwksUri line (exit 1 under --strict);
    with the Service serving jwks.foo:8000 beside it the files are clean."""
    alone = tmp_path / "ra.yaml"
    alone.write_text(POLICY)
    r = mizzen("validate", "-f", str(alone))
    assert r.exit_code == 0, r.stderr
    assert f"{alone}:12: {WARNING}Service or ServiceEntry in the input serves jwks.foo.svc.cluster.local:8000" in (
        r.stderr
    )
    assert "rejected with 401" in r.stderr
    assert mizzen("validate", "--strict", "-f", str(alone)).exit_code == 1
    served = tmp_path / "both.yaml"
    served.write_text(POLICY + "---\n" + JWKS_SERVICE)
    r = mizzen("validate", "--strict", "-f", str(served))
    assert r.exit_code == 0 and "MZ2783" not in r.stderr, r.stderr


def test_apply_weighs_the_stored_services(tmp_path: Path, mizzen: MizzenCli) -> None:
    """apply warns while nothing stored serves the host, --strict then refuses and stores nothing; once the
    Service is stored the same policy applies under --strict without a warning."""
    path = tmp_path / "ra.yaml"
    path.write_text(POLICY)
    r = mizzen("apply", "--strict", "-f", str(path))
    assert r.exit_code == 1 and WARNING in r.stderr and "nothing was applied" in r.stderr, r.stderr
    assert mizzen("get", "requestauthentication", "jwt-example", "-n", "foo").exit_code == 1
    r = mizzen("apply", "-f", str(path))
    assert r.exit_code == 0 and f"Warning: {path}:12: {WARNING}mesh service" in r.stderr, r.stderr
    assert mizzen("apply", "-f", "-", input=JWKS_SERVICE).exit_code == 0
    r = mizzen("apply", "--strict", "-f", str(path))
    assert r.exit_code == 0 and "MZ2783" not in r.stderr, r.stderr


def test_analyze_notes_an_unserved_jwks_host_in_files_and_live(tmp_path: Path, mizzen: MizzenCli) -> None:
    """analyze prints a note naming file:line and the consequence; --live counts the stored Service."""
    path = tmp_path / "ra.yaml"
    path.write_text(POLICY)
    r = mizzen("analyze", "-n", "foo", "-f", str(path))
    assert f"note: {path}:12: {WARNING}Service or ServiceEntry in the input serves" in r.stderr, r.stderr
    assert "MZ2783" not in mizzen("analyze", "-n", "default", "-f", str(path)).stderr  # another namespace's
    r = mizzen("analyze", "-n", "foo", "--live", "-f", str(path))
    assert f"{WARNING}mesh service or ServiceEntry serves" in r.stderr, r.stderr
    assert mizzen("apply", "-f", "-", input=JWKS_SERVICE).exit_code == 0
    r = mizzen("analyze", "-n", "foo", "--live", "-f", str(path))
    assert "MZ2783" not in r.stderr, r.stderr
