"""Typed, immutable views of each kind's spec, derived from the same description as the schema.

:func:`parse_spec` turns a :class:`Resource` into its model (``VirtualService``, ``DestinationRule``…);
:func:`parse` into a :class:`Typed` record (the resource with its model), which is what the control
plane keeps and the registry and translator read.
Field names are snake_case here; paths and messages use the user's camelCase (see :mod:`..schema`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from mizzen.config.models.core import Endpoints, EndpointSlice, Secret, Service, ServiceAccount
from mizzen.config.models.destination_rule import DestinationRule
from mizzen.config.models.gateway import Gateway
from mizzen.config.models.gateway_api import SPEC_MODELS as GATEWAY_API_MODELS
from mizzen.config.models.security import AuthorizationPolicy, PeerAuthentication, RequestAuthentication
from mizzen.config.models.service_entry import ServiceEntry
from mizzen.config.models.sidecar import Sidecar
from mizzen.config.models.telemetry import Telemetry
from mizzen.config.models.typed import Typed, is_of, only
from mizzen.config.models.virtual_service import VirtualService
from mizzen.config.models.workload_entry import WorkloadEntry, WorkloadGroup
from mizzen.config.resource import Resource
from mizzen.config.schema import build

SPEC_MODELS: dict[str, type] = {
    "VirtualService": VirtualService,
    "DestinationRule": DestinationRule,
    "Gateway": Gateway,
    "ServiceEntry": ServiceEntry,
    "WorkloadEntry": WorkloadEntry,
    "WorkloadGroup": WorkloadGroup,
    "Sidecar": Sidecar,
    "PeerAuthentication": PeerAuthentication,
    "AuthorizationPolicy": AuthorizationPolicy,
    "RequestAuthentication": RequestAuthentication,
    "Telemetry": Telemetry,
    "Service": Service,
    "ServiceAccount": ServiceAccount,
    "Secret": Secret,
    "Endpoints": Endpoints,
    "EndpointSlice": EndpointSlice,
    **GATEWAY_API_MODELS,
}
"""The spec model of every kind in the kind table."""


T = TypeVar("T")


class UnknownModelError(LookupError):
    """``parse_spec`` was given a kind that has no model."""


def parse_spec(resource: Resource) -> Any:
    """The typed model of ``resource.spec`` (lenient: mistyped fields take their defaults)."""
    model = SPEC_MODELS.get(resource.kind)
    if model is None:
        raise UnknownModelError(f"no model for kind {resource.kind}")
    return build(model, resource.spec)


def parse(resource: Resource) -> Typed[object]:
    """Parse ``resource`` once into its typed record (lenient, as :func:`parse_spec`)."""
    return Typed(resource, parse_spec(resource))


def spec_as(resource: Resource, model: type[T]) -> T:
    """``parse_spec`` with a static type: ``spec_as(res, VirtualService).http[0].route``.

    Raises :class:`UnknownModelError` if ``model`` is not the model of ``resource.kind``.
    """
    if SPEC_MODELS.get(resource.kind) is not model:
        raise UnknownModelError(f"{resource.kind} is not modelled by {model.__name__}")
    result: T = build(model, resource.spec)
    return result


__all__ = [
    "SPEC_MODELS",
    "AuthorizationPolicy",
    "DestinationRule",
    "EndpointSlice",
    "Endpoints",
    "Gateway",
    "PeerAuthentication",
    "RequestAuthentication",
    "Secret",
    "Service",
    "ServiceAccount",
    "ServiceEntry",
    "Sidecar",
    "Telemetry",
    "Typed",
    "UnknownModelError",
    "VirtualService",
    "WorkloadEntry",
    "WorkloadGroup",
    "is_of",
    "only",
    "parse",
    "parse_spec",
    "spec_as",
]
