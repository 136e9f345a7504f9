"""Bounded input in the loader and the YAML adapter: alias expansion, depth, object and annotation sizes."""

from __future__ import annotations

import time

import pytest

from mizzen import limits
from mizzen.config import load_text, yamlsafe

# The classic "billion laughs": nine levels of nine aliases, 10^9 strings once expanded (~550 bytes).
BILLION_LAUGHS = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  annotations: {annotations}
spec:
  hosts: [reviews]
  http:
  - route: [{{destination: {{host: reviews}}}}]
    headers: {{request: {{set: {{x-big: "{big}"}}}}}}
"""


def vs(name: str = "reviews", *, big: str = "", annotations: str = "{}") -> str:
    return VS.format(name=name, big=big, annotations=annotations)


def errors(text: str, file: str = "in.yaml") -> list[tuple[str, int | None, str, str]]:
    return [(v.code, v.line, v.path, v.message) for v in load_text(text, file).report.errors]


def test_billion_laughs_is_refused_before_it_is_built() -> None:
    """The 550-byte file fails with a clear aliasing error on its line, in far less than a second."""
    assert len(BILLION_LAUGHS.encode()) < 600
    started = time.perf_counter()
    found = errors(BILLION_LAUGHS, "lol.yaml")
    assert time.perf_counter() - started < 1.0
    [(code, line, _, message)] = found
    assert (code, line) == ("MZ0091", 1)
    assert "expands through YAML aliases to more than 1.5 MiB" in message and "billion laughs" in message


def test_later_documents_are_still_checked_after_a_refused_one() -> None:
    """A refused document does not hide the problems of the documents after it."""
    text = BILLION_LAUGHS + "---\nkind: VirtualService\napiVersion: networking.istio.io/v1\nmetadata: {name: a, x: 1}\n"
    assert [(c, line) for c, line, *_ in errors(text)] == [("MZ0091", 1), ("MZ1001", 13)]


def test_modest_aliases_still_work() -> None:
    """Anchors and aliases within the limits load as usual (Kubernetes accepts them)."""
    text = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: &l {app: reviews}}
  - {name: v2, labels: *l}
"""
    result = load_text(text)
    assert result.report.ok and result.resources[0].spec["subsets"][1]["labels"] == {"app": "reviews"}


def test_an_alias_inside_itself_is_refused() -> None:
    """A recursive anchor (which PyYAML composes) would expand forever: an error, not a hang."""
    [(code, _, _, message)] = errors("a: &a [1, *a]\n")
    assert code == "MZ0091" and "contains it" in message


def test_deep_nesting_is_refused() -> None:
    """A document nesting past the depth limit is an error (MZ0092), not a RecursionError."""
    depth = limits.MAX_NESTING_DEPTH + 5
    [(code, _, _, message)] = errors("a: " + "[" * depth + "]" * depth + "\n")
    assert code == "MZ0092" and f"limit is {limits.MAX_NESTING_DEPTH}" in message


def test_an_object_over_one_and_a_half_mib_is_refused_naming_it() -> None:
    """An object over Kubernetes' 1.5 MiB is MZ0093, with the file, the line and the object."""
    result = load_text("---\n" + vs(big="x" * (limits.MAX_OBJECT_BYTES + 10)), "big.yaml")
    [v] = result.report.errors
    assert (v.code, v.file, v.line, v.resource) == ("MZ0093", "big.yaml", 2, "VirtualService default/reviews")
    assert "1.5 MiB" in v.message and not result.resources


def test_an_object_just_under_the_limit_loads() -> None:
    """The limit is Kubernetes' number, not lower: a 1.4 MiB object is fine."""
    result = load_text(vs(big="x" * (limits.MAX_OBJECT_BYTES - 100 * limits.KIB)))
    assert result.report.ok and result.resources


def test_annotations_over_256_kib_are_refused_at_their_path() -> None:
    """Annotations totalling more than 256 KiB (keys and values) are MZ0094 at metadata.annotations."""
    half = "v" * (limits.MAX_ANNOTATIONS_BYTES // 2)
    [(code, line, path, message)] = errors(vs(annotations=f"{{a: {half}, b: {half}}}"))
    assert (code, line, path) == ("MZ0094", 5, "metadata.annotations") and "256 KiB" in message


def test_yamlsafe_load_reads_plain_yaml_and_refuses_the_laughs() -> None:
    """The adapter other readers use (mesh.yaml, run --from) loads normal YAML and names the source on refusal."""
    assert yamlsafe.load("a: {b: [1, 2]}\n", "mesh.yaml") == {"a": {"b": [1, 2]}}
    assert yamlsafe.load_all("a: 1\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]
    with pytest.raises(yamlsafe.YamlLimitError, match=r"^mesh\.yaml:1: the document expands"):
        yamlsafe.load(BILLION_LAUGHS, "mesh.yaml")
