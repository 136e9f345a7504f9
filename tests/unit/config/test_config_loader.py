"""The loader: documents, line map, skipped kinds, stdin, folders, parse problems."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mizzen.config import load_paths, load_text
from mizzen.config.loader import to_resource
from mizzen.config.resource import Origin

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
    - destination:
        host: reviews
        subset: v2
      weight: 10
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
spec:
  replicas: 1
"""


def test_line_map_records_every_field_path() -> None:
    """Each field path maps to the 1-based line where its key is written."""
    res = load_text(VS, "vs.yaml").resources[0]
    lines = res.origin.lines
    assert lines[""] == 1
    assert lines["metadata.name"] == 4
    assert lines["spec.hosts[0]"] == 7
    assert lines["spec.http[0].route[1].weight"] == 17
    assert lines["spec.http[0].route[1].destination.subset"] == 16
    assert res.origin.file == "vs.yaml"


def test_resource_identity_and_defaults() -> None:
    """Kind is canonical, apiVersion as written, namespace defaults to "default"."""
    res = load_text(VS.replace("networking.istio.io/v1", "networking.istio.io/v1alpha3")).resources[0]
    assert (res.kind, res.api_version, res.namespace, res.name) == (
        "VirtualService",
        "networking.istio.io/v1alpha3",
        "default",
        "reviews",
    )
    assert res.spec["http"][0]["route"][1]["weight"] == 10


def test_multi_document_lines_are_per_file() -> None:
    """In a multi-document file, lines count from the top of the file, not the document."""
    text = VS + "---\n" + DEPLOYMENT + "---\n" + VS.replace("name: reviews", "name: other", 1)
    result = load_text(text, "all.yaml")
    assert [r.name for r in result.resources] == ["reviews", "other"]
    second = result.resources[1]
    offset = VS.count("\n") + 1 + DEPLOYMENT.count("\n") + 1
    assert second.origin.lines["metadata.name"] == offset + 4
    assert result.skipped[0].line == VS.count("\n") + 2


def test_unknown_kinds_are_skipped_with_their_line() -> None:
    """A Deployment is reported as skipped (kind, name, file, line) and is not an error."""
    result = load_text(VS + "---\n" + DEPLOYMENT, "mixed.yaml")
    assert result.report.ok
    [skipped] = result.skipped
    assert (skipped.kind, skipped.name, skipped.api_version, skipped.file, skipped.line) == (
        "Deployment",
        "reviews-v1",
        "apps/v1",
        "mixed.yaml",
        19,
    )
    assert "skipped Deployment reviews-v1" in str(skipped)


def test_foreign_kind_with_a_known_name_is_skipped() -> None:
    """A kind named like ours in another API group (Knative's Service) is skipped, not rejected."""
    text = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\n"
    result = load_text(text)
    assert result.report.ok and not result.resources
    assert result.skipped[0].kind == "Service"


def test_empty_documents_are_ignored() -> None:
    """Leading, trailing and repeated '---' separators produce nothing."""
    result = load_text("---\n---\n" + VS + "---\n\n---\n")
    assert len(result.resources) == 1 and result.report.ok and not result.skipped


def test_list_items_are_expanded_with_their_own_lines() -> None:
    """``kind: List`` yields one resource per item; item paths are relative to the item."""
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ServiceAccount\n  metadata:\n"
        "    name: sa1\n- apiVersion: v1\n  kind: ServiceAccount\n  metadata:\n    name: sa2\n"
    )
    result = load_text(text)
    assert [r.name for r in result.resources] == ["sa1", "sa2"]
    assert result.resources[1].origin.lines["metadata.name"] == 11


def test_stdin_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path "-" reads standard input and names it <stdin>."""
    monkeypatch.setattr("sys.stdin", io.StringIO(VS))
    result = load_paths(["-"])
    assert result.resources[0].origin.file == "<stdin>"


def test_folders_sorted_and_recursive(tmp_path: Path) -> None:
    """Folders yield *.yaml/*.yml/*.json sorted by name; subfolders only when recursive."""
    (tmp_path / "b.yaml").write_text(VS.replace("name: reviews", "name: b", 1))
    (tmp_path / "a.yml").write_text(VS.replace("name: reviews", "name: a", 1))
    (tmp_path / "notes.txt").write_text("not config")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.json").write_text(
        '{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "c"}}'
    )
    assert [r.name for r in load_paths([str(tmp_path)]).resources] == ["a", "b"]
    assert [r.name for r in load_paths([str(tmp_path)], recursive=True).resources] == ["a", "b", "c"]


def test_missing_path_is_reported(tmp_path: Path) -> None:
    """A path that does not exist is an MZ0006 error naming it."""
    result = load_paths([str(tmp_path / "nope.yaml")])
    [v] = result.report.errors
    assert v.code == "MZ0006" and "nope.yaml" in v.message


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n", "MZ0001", 5),
        ("- 1\n- 2\n", "MZ0003", 1),
        ("kind: ServiceAccount\nmetadata:\n  name: x\n", "MZ0004", 1),
        ("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  namespace: x\n", "MZ0004", 3),
        ("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  name: b\n", "MZ0002", 5),
        ("apiVersion: networking.istio.io/v9\nkind: Gateway\nmetadata:\n  name: g\n", "MZ0005", 1),
    ],
    ids=["syntax", "not-a-mapping", "no-apiversion", "no-name", "duplicate-key", "bad-version"],
)
def test_parse_problems(text: str, code: str, line: int) -> None:
    """Parse problems are errors with their code and line."""
    result = load_text(text, "x.yaml")
    assert [(v.code, v.line, v.file) for v in result.report.errors] == [(code, line, "x.yaml")]


def test_documents_before_a_syntax_error_still_load() -> None:
    """A syntax error is reported while the documents before it are kept."""
    result = load_text(VS + "---\nkind: [\n")
    assert len(result.resources) == 1 and result.report.errors[0].code == "MZ0001"


def test_secret_body_fields_are_kept_in_spec() -> None:
    """A Secret's top-level type/data are stored in spec (Resource keeps one payload field)."""
    text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: kubernetes.io/tls\ndata:\n  tls.crt: eA==\n"
    res = load_text(text).resources[0]
    assert res.spec == {"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}


def test_timestamps_stay_text() -> None:
    """YAML timestamps are kept as the text written, so documents stay JSON-shaped."""
    text = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s\n  creationTimestamp: 2024-01-02T03:04:05Z\n"
    assert load_text(text).report.ok


def test_to_resource_accepts_api_json() -> None:
    """``to_resource`` converts a JSON document (as the API receives it) with a given origin."""
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "g", "namespace": "ns"},
        "spec": {"servers": []},
    }
    conv = to_resource(doc, Origin("api.json", {"": 3}))
    assert conv.resource is not None and conv.resource.key == ("Gateway", "ns", "g")
    assert not conv.violations


def test_top_level_and_metadata_typos_get_suggestions() -> None:
    """A misspelt top-level or metadata key is an unknown field with a suggestion."""
    text = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  lables: {}\nsepc: {}\n"
    messages = {(v.path, v.message) for v in load_text(text).report}
    assert messages == {
        ("metadata.lables", 'unknown field "lables"; did you mean "labels"?'),
        ("sepc", 'unknown field "sepc"; did you mean "spec"?'),
    }


def test_flow_scalars_with_colons_read_as_kubectl_reads_them() -> None:
    """An IPv6 prefix ending in "::" inside [...] is one string (go-yaml), not a YAML error, on its own line."""
    text = (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: v6}\n"
        "spec:\n  hosts: [db.example.com]\n  addresses: [2001:db8::, 'fd00::/8', fe80::]\n"
        "  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: STATIC\n"
        "  endpoints: [{address: 'it''s'}]\n"
    )
    loaded = load_text(text, "v6.yaml")
    assert not loaded.report.errors
    [se] = loaded.resources
    assert se.spec["addresses"] == ["2001:db8::", "fd00::/8", "fe80::"]
    assert se.origin.line_of("spec.addresses") == 6


def test_other_yaml_errors_are_still_reported() -> None:
    """A real syntax error is still MZ0001 at its line after the flow-colon retry."""
    loaded = load_text("a: [b::]\nc: [d\n", "bad.yaml")
    assert [v.code for v in loaded.report.errors] == ["MZ0001"]
