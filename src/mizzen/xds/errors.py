"""Exceptions of the xds layer.

::

    XdsError
    ├── EncodeError      a resource dict does not parse as its Envoy type
    ├── SnapshotError    a snapshot is malformed (unknown type, inconsistent references)
    │   └── InconsistentSnapshot   references between types do not resolve (``.problems`` lists them)
    └── ProtocolError    a peer broke the ADS protocol (no node on the first request, no type URL)
"""

from __future__ import annotations


class XdsError(Exception):
    """Base of every error raised by :mod:`mizzen.xds`."""


class EncodeError(XdsError):
    """A proto-JSON resource could not be converted; the message names the resource."""


class SnapshotError(XdsError):
    """A snapshot is malformed."""


class InconsistentSnapshot(SnapshotError):
    """A snapshot whose resources reference others it does not hold; never published."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("inconsistent snapshot: " + "; ".join(problems))
        self.problems = tuple(problems)


class ProtocolError(XdsError):
    """A DiscoveryRequest violates the ADS protocol."""
