"""The security builders' input: one policy (metadata the rules need plus its typed spec), and the
Envoy JSON alias they return.

A :class:`Policy` is built from a stored :class:`~mizzen.config.resource.Resource` by
:func:`policies_of`. Sequences of policies are always in creation order (the order
:class:`~mizzen.translate.model.MeshSnapshot` keeps: creationTimestamp, namespace, name), because Istio
breaks ties between policies by age: the oldest namespace-wide PeerAuthentication wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from mizzen.config.models import spec_as
from mizzen.config.models.common import LabelSelector
from mizzen.config.resource import Resource
from mizzen.config.schema import build
from mizzen.config.semantics.selectors import POLICY, selects

JSON = dict[str, object]
"""An Envoy v3 message in proto-JSON form (snake_case fields, ``@type`` on embedded ``Any``)."""

MtlsMode = Literal["DISABLE", "PERMISSIVE", "STRICT"]
"""An effective mTLS mode (``UNSET`` never is: it inherits, and PERMISSIVE is the default)."""

S = TypeVar("S")


@dataclass(frozen=True)
class Policy(Generic[S]):
    """One security policy: where it lives, its annotations (``istio.io/dry-run``) and its spec."""

    namespace: str
    name: str
    spec: S
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name.namespace``, as istioctl prints applied policies."""
        return f"{self.name}.{self.namespace}"


def policies_of(resources: Iterable[Resource], model: type[S]) -> tuple[Policy[S], ...]:
    """Typed policies from stored resources of ``model``'s kind, keeping their order."""
    return tuple(
        Policy(namespace=r.namespace, name=r.name, spec=spec_as(r, model), annotations=dict(r.metadata.annotations))
        for r in resources
    )


def policy_from_json(obj: Mapping[str, object], model: type[S]) -> Policy[S]:
    """A policy from its Kubernetes JSON form (``metadata``/``spec``, as the HTTP API returns it), for
    callers that hold documents rather than stored resources (``describe``)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    annotations = meta.get("annotations")
    return Policy(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        spec=build(model, obj.get("spec")),
        annotations={str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, Mapping) else {},
    )


@dataclass(frozen=True)
class Workload:
    """Who a policy is evaluated for: a proxy, or the workload behind an endpoint."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Istio's rule for security kinds: an absent selector or an empty ``matchLabels`` selects every
    workload of the namespace; otherwise every selector label must be present with its value."""
    return selects(POLICY, None if selector is None else selector.match_labels, labels)


def is_namespace_wide(selector: LabelSelector | None) -> bool:
    """True for a policy without selector labels (namespace-wide, or mesh-wide in the root namespace)."""
    return selector is None or not selector.match_labels
