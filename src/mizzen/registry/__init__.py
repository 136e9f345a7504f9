"""Mizzen's service registry: services x workloads -> endpoints (see :mod:`mizzen.registry.registry`).

The names below load on first use (PEP 562), so that the agent, which needs only
:mod:`mizzen.registry.protocols` and :mod:`mizzen.registry.convert`'s constants, does not import the
configuration models with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mizzen.registry.model import Endpoint, RegistrySnapshot, Service, ServicePort
    from mizzen.registry.registry import Registry, build_registry

__all__ = ["Endpoint", "Registry", "RegistrySnapshot", "Service", "ServicePort", "build_registry"]

_HOME = {"Registry": "registry", "build_registry": "registry"}


def __getattr__(name: str) -> Any:
    """Load one of :data:`__all__` from its module."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"mizzen.registry.{_HOME.get(name, 'model')}"), name)
