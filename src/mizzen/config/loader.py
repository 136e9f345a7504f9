"""Read Kubernetes-shaped YAML/JSON documents from files, folders or stdin into :class:`Resource` objects.

Theory of operation: PyYAML *composes* each document into a node tree (which keeps line marks);
we then build plain Python values from the nodes ourselves, so that while walking we can record the
line of every field path (``spec.http[0].route[1].weight``) and catch duplicate keys, which the
standard constructor silently overwrites. Kinds outside the kind table are reported as skipped,
never as errors; everything that is wrong is collected in one :class:`Report`.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mizzen.config.codes import violation
from mizzen.config.kinds import by_kind
from mizzen.config.report import Report, Violation
from mizzen.config.resource import DEFAULT_NAMESPACE, JSON, Metadata, Origin, Resource

# libyaml's parser is ~10x faster and keeps the same marks; fall back to pure Python without it.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STDIN = "<stdin>"
SUFFIXES = (".yaml", ".yml", ".json")
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")
# Kinds whose payload lives beside, not under, ``spec``; it is stored in ``spec`` (see Resource).
BODY_FIELDS: dict[str, tuple[str, ...]] = {
    "Secret": ("type", "data", "stringData", "immutable"),
    "ServiceAccount": ("secrets", "imagePullSecrets", "automountServiceAccountToken"),
}
# ObjectMeta fields a server sets or that Mizzen ignores; accepted so kubectl output round-trips.
IGNORED_METADATA = (
    "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "generateName",
    "selfLink", "finalizers", "ownerReferences", "managedFields", "deletionGracePeriodSeconds",
)


@dataclass(frozen=True)
class Skipped:
    """A document of a kind Mizzen does not run (e.g. a Deployment): reported, never an error."""

    api_version: str
    kind: str
    name: str
    file: str
    line: int | None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: skipped {self.kind} {self.name} ({self.api_version})"


@dataclass
class LoadResult:
    """Everything read from a set of inputs: resources, skipped documents and parse problems."""

    resources: list[Resource] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    report: Report = field(default_factory=Report)

    def merge(self, other: LoadResult) -> None:
        """Append ``other``'s results to this one (input order is kept)."""
        self.resources.extend(other.resources)
        self.skipped.extend(other.skipped)
        self.report.extend(other.report.violations)


def load_paths(paths: Sequence[str], *, recursive: bool = False) -> LoadResult:
    """Load every document from ``paths``: files, folders (``*.yaml``/``*.yml``/``*.json``) or ``-`` (stdin)."""
    result = LoadResult()
    for raw in paths:
        if raw == "-":
            result.merge(load_text(sys.stdin.read(), STDIN))
            continue
        for file in _expand(Path(raw), recursive, result.report):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                result.report.add(_at(violation("MZ0006", f"cannot read {file}: {exc}"), str(file), None))
                continue
            result.merge(load_text(text, str(file)))
    return result


def _expand(path: Path, recursive: bool, report: Report) -> list[Path]:
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        return sorted(p for p in found if p.is_file() and p.suffix.lower() in SUFFIXES)
    if path.is_file():
        return [path]
    report.add(_at(violation("MZ0006", f"the path \"{path}\" does not exist"), str(path), None))
    return []


def load_text(text: str, file: str = STDIN) -> LoadResult:
    """Load all documents of one YAML (or JSON) text; ``file`` names it in locations."""
    result = LoadResult()
    loader = _Loader(text)
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark is not None else None
                msg = f"yaml: {exc.problem or exc}" + (f" {exc.context}" if exc.context and exc.problem else "")
                result.report.add(_at(violation("MZ0001", msg), file, line))
                break
            except yaml.YAMLError as exc:
                result.report.add(_at(violation("MZ0001", f"yaml: {exc}"), file, None))
                break
            if node is not None:
                _load_document(node, _Builder(loader, file), result)
    finally:
        loader.dispose()
    return result


class _Builder:
    """Turns a composed node into plain values, recording path -> line and duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file

    def build(self, node: yaml.Node, path: str, lines: dict[str, int], problems: list[Violation]) -> JSON:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolve YAML merge keys (<<) as PyYAML would
            out: dict[str, JSON] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                name = str(key)
                sub = f"{path}.{name}" if path else name
                if name in out:
                    problems.append(_at(violation("MZ0002", f"duplicate key \"{name}\"", sub),
                                        self.file, key_node.start_mark.line + 1))
                lines[sub] = key_node.start_mark.line + 1
                out[name] = self.build(value_node, sub, lines, problems)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{path}[{i}]", lines, problems) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            # Non-scalar keys are not valid in Kubernetes documents; their text form is good enough.
            return str(node)
        value = self.loader.construct_object(node, deep=True)
        # Keep documents JSON-shaped: timestamps and !!binary stay the text the user wrote.
        if isinstance(value, datetime.date | bytes):
            return str(node.value)
        return value


def _load_document(node: yaml.Node, builder: _Builder, result: LoadResult) -> None:
    lines: dict[str, int] = {}
    problems: list[Violation] = []
    doc = builder.build(node, "", lines, problems)
    result.report.extend(problems)
    if doc is None:
        return  # an empty document (e.g. a trailing '---') is not an error
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for i, item_node in enumerate(_items_nodes(node)):
            item_lines: dict[str, int] = {}
            item = builder.build(item_node, "", item_lines, [])  # duplicates already reported above
            _add(to_resource(item, Origin(builder.file, item_lines)), result, f"items[{i}]")
        return
    _add(to_resource(doc, Origin(builder.file, lines)), result, "")


def _items_nodes(node: yaml.Node) -> Iterator[yaml.Node]:
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == "items" and isinstance(value_node, yaml.SequenceNode):
            yield from value_node.value


@dataclass
class Converted:
    """The outcome of turning one document into a resource: at most one of resource/skipped."""

    resource: Resource | None = None
    skipped: Skipped | None = None
    violations: list[Violation] = field(default_factory=list)


def _add(conv: Converted, result: LoadResult, prefix: str) -> None:
    if conv.resource is not None:
        result.resources.append(conv.resource)
    if conv.skipped is not None:
        result.skipped.append(conv.skipped)
    result.report.extend(conv.violations)


def to_resource(doc: JSON, origin: Origin) -> Converted:
    """Turn one decoded document (from YAML or the API's JSON) into a Resource, a Skipped, or problems."""
    conv = Converted()
    line = origin.line_of("")

    def problem(code: str, message: str, path: str = "", ref: str = "") -> None:
        v = _at(violation(code, message, path), origin.file, origin.line_of(path))
        conv.violations.append(Violation(**{**v.__dict__, "resource": ref}))

    if not isinstance(doc, dict):
        problem("MZ0003", f"document must be a mapping, got {_type_name(doc)}")
        return conv
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    for key, value in (("apiVersion", api_version), ("kind", kind)):
        if not isinstance(value, str) or not value:
            problem("MZ0004", f"{key} not set", key)
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return conv
    info = by_kind(kind)
    if info is None or (info.group and not api_version.startswith(info.group + "/")) or (
        not info.group and "/" in api_version
    ):
        conv.skipped = Skipped(api_version, kind, name if isinstance(name, str) else "", origin.file, line)
        return conv
    ref_ns = meta.get("namespace") if isinstance(meta, dict) else None
    ref = f"{kind} {ref_ns if isinstance(ref_ns, str) and ref_ns else DEFAULT_NAMESPACE}/{name or ''}"
    if api_version not in info.api_versions:
        problem("MZ0005", f"{kind} is not served as {api_version}; use one of "
                          f"{', '.join(info.api_versions)}", "apiVersion", ref)
        return conv
    metadata = _metadata(meta, problem, ref)
    body_fields = BODY_FIELDS.get(kind, ())
    for key in doc:
        if key not in TOP_LEVEL and key not in body_fields:
            problem("MZ1001", f"unknown field \"{key}\"", key, ref)
    spec = doc.get("spec", {})
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        problem("MZ1002", f"spec must be a mapping, got {_type_name(spec)}", "spec", ref)
        spec = {}
    if body_fields:
        spec = {**spec, **{k: doc[k] for k in body_fields if k in doc}}
    if metadata is None:
        return conv
    conv.resource = Resource(api_version, info.kind, metadata, spec, origin)
    return conv


def _metadata(meta: JSON, problem: Any, ref: str) -> Metadata | None:
    if not isinstance(meta, dict):
        problem("MZ0004", "metadata.name not set", "metadata", ref)
        return None
    name, namespace = meta.get("name"), meta.get("namespace")
    ok = True
    if not isinstance(name, str) or not name:
        problem("MZ0004", "metadata.name not set", "metadata.name", ref)
        ok = False
    if namespace is not None and not isinstance(namespace, str):
        problem("MZ0007", f"metadata.namespace must be a string, got {_type_name(namespace)}",
                "metadata.namespace", ref)
        ok = False
    maps: dict[str, Mapping[str, str]] = {}
    for key in ("labels", "annotations"):
        value = meta.get(key)
        maps[key] = _string_map(value, f"metadata.{key}", problem, ref)
    for key in meta:
        if key not in ("name", "namespace", "labels", "annotations", *IGNORED_METADATA):
            problem("MZ1001", f"unknown field \"{key}\"", f"metadata.{key}", ref)
    if not ok:
        return None
    return Metadata(name=str(name), namespace=namespace or DEFAULT_NAMESPACE,
                    labels=maps["labels"], annotations=maps["annotations"])


def _string_map(value: JSON, path: str, problem: Any, ref: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem("MZ0007", f"{path.rsplit('.', 1)[-1]} must be a map of strings, got {_type_name(value)}", path, ref)
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, str):
            out[k] = v
        else:
            # Kubernetes rejects `version: 1`; the value must be quoted.
            problem("MZ0007", f"value of \"{k}\" must be a string, got {_type_name(v)} (quote it)",
                    f"{path}.{k}", ref)
    return out


def _type_name(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def _at(v: Violation, file: str, line: int | None) -> Violation:
    return Violation(code=v.code, message=v.message, path=v.path, level=v.level, file=file, line=line,
                     resource=v.resource)
