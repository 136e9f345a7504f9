"""kubectl habits of the CLI against a real control plane: ``apply``/``delete -f`` with ``-n`` and
``create secret generic``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from mizzen.testing.controlplane import MizzenCli

UNNAMESPACED = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
"""

OTHER_NAMESPACE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: details
  namespace: prod
spec:
  host: details
"""


def test_apply_n_puts_documents_without_a_namespace_there(mizzen: MizzenCli) -> None:
    """`apply -n team` stores a document naming no namespace in team (not default), as kubectl does."""
    r = mizzen("apply", "-n", "team", "-f", "-", input=UNNAMESPACED)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "destinationrule.networking.istio.io/reviews created"
    assert mizzen("get", "dr", "reviews", "-n", "team").exit_code == 0
    assert mizzen("get", "dr", "reviews").exit_code == 1


def test_apply_n_refuses_a_document_in_another_namespace_and_applies_nothing(mizzen: MizzenCli, tmp_path: Path) -> None:
    """A document naming a namespace other than -n's is an error with file and line; nothing is stored."""
    path = tmp_path / "drs.yaml"
    path.write_text(OTHER_NAMESPACE)
    r = mizzen("apply", "-n", "team", "-f", str(path))
    assert r.exit_code == 1
    assert f"{path}:12: error MZ0008" in r.stderr and 'does not match the namespace "team"' in r.stderr
    assert "nothing was applied" in r.stderr
    assert mizzen("get", "dr", "-A", "-o", "name").stdout.strip() == ""
    assert mizzen("apply", "-n", "prod", "-f", str(path)).exit_code == 0
    assert mizzen("get", "dr", "ratings", "details", "-n", "prod").exit_code == 0


def test_delete_f_with_n_deletes_in_that_namespace(mizzen: MizzenCli, tmp_path: Path) -> None:
    """`delete -n team -f FILE` deletes the file's objects from team, where `apply -n team` put them."""
    path = tmp_path / "dr.yaml"
    path.write_text(UNNAMESPACED)
    mizzen("apply", "-n", "team", "-f", str(path))
    mizzen("apply", "-f", str(path))
    r = mizzen("delete", "-n", "team", "-f", str(path))
    assert r.exit_code == 0 and 'destinationrule.networking.istio.io "reviews" deleted' in r.stdout
    assert mizzen("get", "dr", "reviews", "-n", "team").exit_code == 1
    assert mizzen("get", "dr", "reviews").exit_code == 0


def test_create_secret_generic_from_files_and_literals(mizzen: MizzenCli, tmp_path: Path) -> None:
    """`create secret generic` stores an Opaque Secret keyed as kubectl keys --from-file/--from-literal."""
    (tmp_path / "client.key").write_text("KEY")
    (tmp_path / "client.crt").write_text("CERT")
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "extra.txt").write_text("EXTRA")
    r = mizzen(
        "create", "secret", "generic", "client-credential", "-n", "istio-system",
        f"--from-file=tls.key={tmp_path / 'client.key'}", f"--from-file={tmp_path / 'client.crt'}",
        f"--from-file={folder}", "--from-literal=mode=strict",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "secret/client-credential created"
    got = json.loads(mizzen("get", "secret", "client-credential", "-n", "istio-system", "-o", "json").stdout)
    assert got["type"] == "Opaque"
    decoded = {k: base64.b64decode(v).decode() for k, v in got["data"].items()}
    assert decoded == {"tls.key": "KEY", "client.crt": "CERT", "extra.txt": "EXTRA", "mode": "strict"}
    again = mizzen("create", "secret", "generic", "client-credential", "-n", "istio-system", "--from-literal=a=b")
    assert again.exit_code != 0 and "already exists" in again.stderr


def test_create_secret_generic_rejects_bad_sources_and_creates_nothing(mizzen: MizzenCli, tmp_path: Path) -> None:
    """A missing file, a duplicate key or a malformed literal is an error and no Secret is stored."""
    (tmp_path / "a").write_text("A")
    cases = [
        ("--from-file=" + str(tmp_path / "missing"), "cannot read"),
        ("--from-literal=novalue", "expected key=value"),
        ("--from-literal=bad/key=1", "not a valid key name"),
    ]
    for arg, message in cases:
        r = mizzen("create", "secret", "generic", "s", arg)
        assert r.exit_code != 0 and message in r.stderr, (arg, r.stderr)
    dup = mizzen("create", "secret", "generic", "s", f"--from-file=a={tmp_path / 'a'}", "--from-literal=a=x")
    assert dup.exit_code != 0 and 'cannot add key "a"' in dup.stderr
    assert mizzen("get", "secret", "s").exit_code == 1
