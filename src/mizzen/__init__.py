"""Mizzen: Istio's traffic management without Kubernetes."""

__version__ = "0.1.0"

#: The Envoy release the data plane is pinned to (checked at start-up).
ENVOY_VERSION = "1.40.0"
