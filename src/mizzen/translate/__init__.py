"""Mizzen translate: a pure function from (proxy, mesh snapshot) to Envoy xDS resources.

``translate(proxy, mesh)`` returns :class:`ProxyResources` (clusters, endpoints, listeners, routes,
secrets as Envoy v3 proto-JSON dicts keyed by name); ``build_endpoints(proxy, mesh)`` returns just the
EDS part for the endpoint fast path.
"""

from mizzen.translate.model import MeshConfig, MeshSnapshot, Proxy, ProxyResources
from mizzen.translate.translator import TranslationError, build_endpoints, translate

__all__ = ["MeshConfig", "MeshSnapshot", "Proxy", "ProxyResources", "TranslationError", "build_endpoints",
           "translate"]
