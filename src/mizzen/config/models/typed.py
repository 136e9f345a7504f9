"""A config resource parsed once: its :class:`Resource` (metadata and provenance) with its typed spec.

The control plane parses each resource when it arrives (:func:`mizzen.config.models.parse`); the
registry and the translator read ``spec`` as its model and never see the raw JSON. ``resource`` stays
for what the spec does not hold: metadata, creation order, file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeGuard, TypeVar

from mizzen.config.resource import Metadata, Resource

M = TypeVar("M")


@dataclass(frozen=True)
class Typed(Generic[M]):
    """One resource and its parsed spec (``spec`` is an instance of the kind's model)."""

    resource: Resource
    spec: M

    @property
    def kind(self) -> str:
        """The canonical kind name (``VirtualService``)."""
        return self.resource.kind

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return self.resource.metadata.name

    @property
    def namespace(self) -> str:
        """``metadata.namespace`` (empty for cluster-scoped kinds)."""
        return self.resource.metadata.namespace

    @property
    def metadata(self) -> Metadata:
        """The resource's metadata (labels, annotations, server-set fields)."""
        return self.resource.metadata

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity in the store: (kind, namespace, name)."""
        return self.resource.key


def is_of(config: Typed[object], model: type[M]) -> TypeGuard[Typed[M]]:
    """True when ``config``'s spec is a ``model`` (narrows ``Typed[object]`` to ``Typed[model]``)."""
    return isinstance(config.spec, model)


def only(configs: Iterable[Typed[object]], model: type[M]) -> tuple[Typed[M], ...]:
    """The configs whose spec is a ``model``, in their order."""
    return tuple(c for c in configs if is_of(c, model))
