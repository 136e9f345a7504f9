"""Read Kubernetes-shaped YAML/JSON documents from files, folders or stdin into :class:`Resource` objects.

Theory of operation: PyYAML *composes* each document into a node tree (which keeps line marks);
we then build plain Python values from the nodes ourselves, so that while walking we can record the
line of every field path (``spec.http[0].route[1].weight``) and catch duplicate keys, which the
standard constructor silently overwrites. Kinds outside the kind table are reported as skipped,
never as errors; everything that is wrong is collected in one :class:`Report`.

Input is bounded (:mod:`mizzen.limits`): each composed document is measured first
(:func:`mizzen.config.yamlsafe.check_node`: alias expansion and depth), so a "billion laughs" file is
refused before it is built, and every object is checked against Kubernetes' object and annotation sizes.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from mizzen import limits
from mizzen.config import yamlsafe
from mizzen.config.codes import violation
from mizzen.config.kinds import KindInfo, by_group_kind, group_of
from mizzen.config.report import Report, Violation
from mizzen.config.resource import DEFAULT_NAMESPACE, JSON, Metadata, Origin, Resource
from mizzen.config.schema import type_name, unknown_field

_Loader = yamlsafe.SafeLoader

STDIN = "<stdin>"
# API groups of the Gateway API (standard, experimental, inference): Istio acts on their other kinds too.
GATEWAY_API_GROUPS = frozenset(
    {"gateway.networking.k8s.io", "gateway.networking.x-k8s.io", "inference.networking.k8s.io"}
)
SUFFIXES = (".yaml", ".yml", ".json")
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")
# Kinds whose payload lives beside, not under, ``spec``; it is stored in ``spec`` (see Resource).
BODY_FIELDS: dict[str, tuple[str, ...]] = {
    "Secret": ("type", "data", "stringData", "immutable"),
    "ServiceAccount": ("secrets", "imagePullSecrets", "automountServiceAccountToken"),
    "Endpoints": ("subsets",),
    "EndpointSlice": ("addressType", "endpoints", "ports"),
}
# ObjectMeta fields a server sets or that Mizzen ignores; accepted so kubectl output round-trips.
IGNORED_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "generateName",
    "selfLink",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "deletionGracePeriodSeconds",
)
METADATA_FIELDS = ("name", "namespace", "labels", "annotations", *IGNORED_METADATA)


@dataclass(frozen=True)
class Skipped:
    """A document of a kind Mizzen does not run (e.g. a Deployment): reported, never an error.

    ``document`` keeps the decoded document, so analyzers can read Kubernetes workloads (Pods,
    Deployments' pod templates, Namespaces) that Mizzen itself does not run.
    """

    api_version: str
    kind: str
    name: str
    file: str
    line: int | None
    document: JSON = field(default=None, compare=False, repr=False)

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


def load_paths(paths: Sequence[str], *, recursive: bool = False, extra_kinds: Sequence[KindInfo] = ()) -> LoadResult:
    """Load every document from ``paths``: files, folders (``*.yaml``/``*.yml``/``*.json``) or ``-`` (stdin).

    ``extra_kinds`` (e.g. :data:`~mizzen.config.kinds.ROUTE_TEST`) are read as resources too."""
    result = LoadResult()
    for raw in paths:
        if raw == "-":
            result.merge(load_text(sys.stdin.read(), STDIN, extra_kinds=extra_kinds))
            continue
        for file in _expand(Path(raw), recursive, result.report):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                result.report.add(replace(violation("MZ0006", f"cannot read {file}: {exc}"), file=str(file)))
                continue
            result.merge(load_text(text, str(file), extra_kinds=extra_kinds))
    return result


def _expand(path: Path, recursive: bool, report: Report) -> list[Path]:
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        return sorted(p for p in found if p.is_file() and p.suffix.lower() in SUFFIXES)
    if path.is_file():
        return [path]
    report.add(replace(violation("MZ0006", f'the path "{path}" does not exist'), file=str(path)))
    return []


def load_text(text: str, file: str = STDIN, *, extra_kinds: Sequence[KindInfo] = ()) -> LoadResult:
    """Load all documents of one YAML (or JSON) text; ``file`` names it in locations."""
    for _ in range(yamlsafe.MAX_REQUOTES):
        result, fixed = _load_text(text, file, extra_kinds)
        if fixed is None:
            return result
        text = fixed  # a flow scalar go-yaml reads differently from libyaml: quoted, parse again
    return _load_text(text, file, extra_kinds)[0]


def _load_text(text: str, file: str, extra_kinds: Sequence[KindInfo]) -> tuple[LoadResult, str | None]:
    result = LoadResult()
    loader = _Loader(text)
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
            except yaml.MarkedYAMLError as exc:
                fixed = yamlsafe.requote_flow_colon(text, exc)
                if fixed is not None:
                    return result, fixed
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark is not None else None
                msg = f"yaml: {exc.problem or exc}" + (f" {exc.context}" if exc.context and exc.problem else "")
                result.report.add(replace(violation("MZ0001", msg), file=file, line=line))
                break
            except yaml.YAMLError as exc:
                result.report.add(replace(violation("MZ0001", f"yaml: {exc}"), file=file))
                break
            if node is not None and _within_limits(node, text, file, result.report):
                _load_document(node, _Builder(loader, file, extra_kinds), result)
    finally:
        loader.dispose()
    return result, None


def _within_limits(node: yaml.Node, text: str, file: str, report: Report) -> bool:
    """Whether a composed document may be built (else its problem is reported with file and line)."""
    size = len(text[node.start_mark.index : node.end_mark.index].encode())
    try:
        yamlsafe.check_node(node, size)
    except yamlsafe.YamlLimitError as exc:
        code = "MZ0092" if exc.too_deep else "MZ0091"
        report.add(replace(violation(code, f"yaml: {exc}"), file=file, line=exc.line))
        return False
    return True


class _Builder:
    """Turns a composed node into plain values, recording path -> line and duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, file: str, extra_kinds: Sequence[KindInfo] = ()) -> None:
        self.loader = loader
        self.file = file
        self.extra_kinds = tuple(extra_kinds)

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
                    problems.append(
                        replace(
                            violation("MZ0002", f'duplicate key "{name}"', sub),
                            file=self.file,
                            line=key_node.start_mark.line + 1,
                        )
                    )
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
        for item_node in _items_nodes(node):
            item_lines: dict[str, int] = {}
            item = builder.build(item_node, "", item_lines, [])  # duplicates already reported above
            _add(to_resource(item, Origin(builder.file, item_lines), builder.extra_kinds), result)
        return
    _add(to_resource(doc, Origin(builder.file, lines), builder.extra_kinds), result)


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


def _add(conv: Converted, result: LoadResult) -> None:
    if conv.resource is not None:
        result.resources.append(conv.resource)
    if conv.skipped is not None:
        result.skipped.append(conv.skipped)
    result.report.extend(conv.violations)


def _check_unrun(doc: dict[str, JSON], origin: Origin) -> list[Violation]:
    """Istio's rules on an Istio kind Mizzen skips (WasmPlugin...): what Istio rejects is an error here too."""
    # Imported here: the rules package imports this module.
    from mizzen.config.rules.istio_only import check_document

    return check_document(doc, origin)


def to_resource(doc: JSON, origin: Origin, extra_kinds: Sequence[KindInfo] = ()) -> Converted:
    """Turn one decoded document (from YAML or the API's JSON) into a Resource, a Skipped, or problems."""
    return _DocReader(origin, extra_kinds).read(doc)


class _DocReader:
    """Checks one document's identity, metadata and body, collecting problems located via ``origin``."""

    def __init__(self, origin: Origin, extra_kinds: Sequence[KindInfo] = ()) -> None:
        self.origin = origin
        self.extra_kinds = {k.kind: k for k in extra_kinds}
        self.conv = Converted()
        self.ref = ""

    def problem(self, code: str, message: str, path: str = "") -> None:
        v = violation(code, message, path)
        self.conv.violations.append(
            replace(v, file=self.origin.file, line=self.origin.line_of(path), resource=self.ref)
        )

    def read(self, doc: JSON) -> Converted:
        if not isinstance(doc, dict):
            self.problem("MZ0003", f"document must be a mapping, got {type_name(doc)}")
            return self.conv
        info = self._identity(doc)
        if info is None or not self._small_enough(doc):
            return self.conv
        metadata = self._metadata(doc.get("metadata"), info)
        spec = self._body(doc, info.kind)
        if metadata is not None:
            raw_status = doc.get("status")
            status = raw_status if isinstance(raw_status, dict) else {}
            self.conv.resource = Resource(doc["apiVersion"], info.kind, metadata, spec, self.origin, status)
        return self.conv

    def _identity(self, doc: dict[str, JSON]) -> KindInfo | None:
        """The kind's table entry, or None when the document is skipped or unusable."""
        api_version, kind, meta = doc.get("apiVersion"), doc.get("kind"), doc.get("metadata")
        for key, value in (("apiVersion", api_version), ("kind", kind)):
            if not isinstance(value, str) or not value:
                self.problem("MZ0004", f"{key} not set", key)
        if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
            return None
        meta = meta if isinstance(meta, dict) else {}
        name, ns = meta.get("name"), meta.get("namespace")
        # Kinds are looked up by API group too: Knative's Service is someone else's kind, and the
        # Gateway API's Gateway is not Istio's.
        info = by_group_kind(group_of(api_version), kind) or self.extra_kinds.get(kind)
        if info is None or info.group != group_of(api_version):
            skipped_name = name if isinstance(name, str) else ""
            self.conv.skipped = Skipped(
                api_version, kind, skipped_name, self.origin.file, self.origin.line_of(""), document=doc
            )
            self.conv.violations.extend(_check_unrun(doc, self.origin))
            if group_of(api_version) in GATEWAY_API_GROUPS:  # never a silent skip of what Istio would act on
                self.ref = f"{kind} {ns if isinstance(ns, str) and ns else DEFAULT_NAMESPACE}/{skipped_name}"
                self.problem("MZ3102", f"{kind} ({api_version}) is not run by Mizzen: it is skipped and has no effect")
            return None
        self.ref = f"{kind} {ns if isinstance(ns, str) and ns else DEFAULT_NAMESPACE}/{name or ''}"
        if api_version not in info.api_versions:
            self.problem(
                "MZ0005",
                f"{kind} is not served as {api_version}; use one of {', '.join(info.api_versions)}",
                "apiVersion",
            )
            return None
        return info

    def _small_enough(self, doc: dict[str, JSON]) -> bool:
        """Kubernetes' object size limit, on the object's JSON (what the store keeps)."""
        size = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())
        if size <= limits.MAX_OBJECT_BYTES:
            return True
        self.problem(
            "MZ0093",
            f"the object is {size} bytes as JSON; Kubernetes' limit is {limits.MAX_OBJECT_BYTES} bytes (1.5 MiB)",
        )
        return False

    def _metadata(self, meta: JSON, info: KindInfo) -> Metadata | None:
        if not isinstance(meta, dict):
            self.problem("MZ0004", "metadata.name not set", "metadata")
            return None
        name, namespace = meta.get("name"), meta.get("namespace")
        ok = True
        if not isinstance(name, str) or not name:
            self.problem("MZ0004", "metadata.name not set", "metadata.name")
            ok = False
        if namespace is not None and not isinstance(namespace, str):
            self.problem(
                "MZ0007", f"metadata.namespace must be a string, got {type_name(namespace)}", "metadata.namespace"
            )
            ok = False
        labels = self._string_map(meta.get("labels"), "metadata.labels")
        annotations = self._string_map(meta.get("annotations"), "metadata.annotations")
        total = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
        if total > limits.MAX_ANNOTATIONS_BYTES:
            self.problem(
                "MZ0094",
                f"annotations total {total} bytes; Kubernetes' limit is {limits.MAX_ANNOTATIONS_BYTES} (256 KiB)",
                "metadata.annotations",
            )
            ok = False
        for key in meta:
            if key not in METADATA_FIELDS:
                self.problem("MZ1001", unknown_field(str(key), METADATA_FIELDS[:4]), f"metadata.{key}")
        if not ok:
            return None
        # A cluster-scoped object (GatewayClass) has no namespace, as kubectl ignores one written on it.
        namespace = (namespace or DEFAULT_NAMESPACE) if info.namespaced else ""
        return Metadata(name=str(name), namespace=namespace, labels=labels, annotations=annotations)

    def _string_map(self, value: JSON, path: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem("MZ0007", f"{path.rsplit('.', 1)[-1]} must be a map of strings, got {type_name(value)}", path)
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, str):
                out[k] = v
            else:
                # Kubernetes rejects `version: 1`; the value must be quoted.
                self.problem("MZ0007", f'value of "{k}" must be a string, got {type_name(v)} (quote it)', f"{path}.{k}")
        return out

    def _body(self, doc: dict[str, JSON], kind: str) -> dict[str, JSON]:
        """``spec`` (plus top-level payload fields such as a Secret's ``data``); unknown top-level fields."""
        body_fields = BODY_FIELDS.get(kind, ())
        for key in doc:
            if key not in TOP_LEVEL and key not in body_fields:
                self.problem("MZ1001", unknown_field(str(key), (*TOP_LEVEL, *body_fields)), key)
        spec = doc.get("spec")
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            self.problem("MZ1002", f"spec must be a mapping, got {type_name(spec)}", "spec")
            spec = {}
        return {**spec, **{k: doc[k] for k in body_fields if k in doc}}
