"""Mizzen's service registry: services x workloads -> endpoints (see :mod:`mizzen.registry.registry`)."""

from mizzen.registry.model import Endpoint, RegistrySnapshot, Service, ServicePort
from mizzen.registry.registry import Registry, build_registry

__all__ = ["Endpoint", "Registry", "RegistrySnapshot", "Service", "ServicePort", "build_registry"]
