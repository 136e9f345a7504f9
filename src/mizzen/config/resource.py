"""The unit of configuration: one Kubernetes-shaped document, as loaded, validated and stored.

A :class:`Resource` is immutable and carries its :class:`Origin` (file and a field-path -> line map),
so every later layer (validation, analyzers, the API's error reports) can point at the exact line a
user wrote. ``spec`` keeps Istio's JSON shape (camelCase keys) exactly as the user wrote it; typed
views of a spec live in :mod:`mizzen.config.models`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mizzen.config.kinds import document_kind

JSON = Any
"""A JSON-compatible value (dict/list/str/int/float/bool/None)."""

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Origin:
    """Where a document came from: a file (or ``<stdin>``) and the line of each field path.

    ``lines`` maps a field path such as ``spec.http[0].route[1].weight`` to its 1-based line; the
    empty path ``""`` is the document's first line.
    """

    file: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""

    def where(self, path: str = "") -> str:
        """``file:line`` for ``path`` (or just the file when no line is known)."""
        line = self.line_of(path)
        return f"{self.file}:{line}" if line is not None else self.file


@dataclass(frozen=True)
class Metadata:
    """Kubernetes object metadata. Server-set fields are empty until the store fills them."""

    name: str
    namespace: str = DEFAULT_NAMESPACE
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str = ""

    def to_json(self, *, server_fields: bool = True) -> dict[str, JSON]:
        """Kubernetes' metadata JSON.

        ``server_fields=False`` leaves out what the store sets: uid, resourceVersion, generation and
        creationTimestamp.
        """
        out: dict[str, JSON] = {"name": self.name}
        if self.namespace:  # empty for cluster-scoped objects (GatewayClass)
            out["namespace"] = self.namespace
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if server_fields and self.uid:
            out["uid"] = self.uid
            out["resourceVersion"] = self.resource_version
            out["generation"] = self.generation
            out["creationTimestamp"] = self.creation_timestamp
        return out


@dataclass(frozen=True)
class Resource:
    """One configuration object: ``apiVersion``/``kind``/``metadata``/``spec``.

    ``kind`` is the canonical kind name (``VirtualService``); ``api_version`` is what the user wrote
    (``networking.istio.io/v1beta1``). For kinds whose payload is not under ``spec`` (none today)
    the body is still stored in ``spec``.
    """

    api_version: str
    kind: str
    metadata: Metadata
    spec: Mapping[str, JSON]
    origin: Origin = field(default_factory=Origin, compare=False)
    # What a server reported about the object (e.g. a ServiceEntry's allocated addresses); read by
    # analyzers, never applied or stored.
    status: Mapping[str, JSON] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """``metadata.namespace`` (empty for cluster-scoped kinds)."""
        return self.metadata.namespace

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity in the store: (kind, namespace, name)."""
        return (self.kind, self.metadata.namespace, self.metadata.name)

    def ref(self) -> str:
        """Human reference ``Kind namespace/name`` as istioctl prints it."""
        return f"{self.kind} {self.metadata.namespace}/{self.metadata.name}"

    def with_metadata(self, **changes: Any) -> Resource:
        """A copy with these metadata fields changed (how the store stamps uid, resourceVersion, generation)."""
        return replace(self, metadata=replace(self.metadata, **changes))

    def to_json(self, *, server_fields: bool = True) -> dict[str, JSON]:
        """The Kubernetes JSON form (what the API returns and the store keeps)."""
        return {
            "apiVersion": self.api_version,
            "kind": document_kind(self.kind),
            "metadata": self.metadata.to_json(server_fields=server_fields),
            "spec": _thaw(self.spec),
        }


def _thaw(value: JSON) -> JSON:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value
