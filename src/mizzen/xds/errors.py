"""Exceptions of the xds layer.

::

    XdsError
    ├── EncodeError      a resource dict does not parse as its Envoy type
    ├── SnapshotError    a snapshot is malformed (unknown type, inconsistent references)
    └── ProtocolError    a peer broke the ADS protocol (no node on the first request, no type URL)
"""

from __future__ import annotations


class XdsError(Exception):
    """Base of every error raised by :mod:`mizzen.xds`."""


class EncodeError(XdsError):
    """A proto-JSON resource could not be converted; the message names the resource."""


class SnapshotError(XdsError):
    """A snapshot is malformed."""


class ProtocolError(XdsError):
    """A DiscoveryRequest violates the ADS protocol."""
