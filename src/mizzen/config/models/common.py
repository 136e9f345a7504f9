"""Types shared by several kinds: string matches, percentages, ports, destinations, selectors."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mizzen.config.schema import UInt32, fld


@dataclass(frozen=True)
class StringMatch:
    """Exactly one of exact/prefix/regex (RE2, full match); none set means "present"."""

    exact: str | None = fld(oneof="match_type")
    prefix: str | None = fld(oneof="match_type")
    regex: str | None = fld(oneof="match_type")


@dataclass(frozen=True)
class Percent:
    """A percentage as a double in 0..100."""

    value: float = fld(0.0)


@dataclass(frozen=True)
class PortSelector:
    """A port of the destination service."""

    number: UInt32 | None = fld()


@dataclass(frozen=True)
class Destination:
    """A service (registry host), optional subset and port."""

    host: str = fld("", required=True)
    subset: str | None = fld()
    port: PortSelector | None = fld()


@dataclass(frozen=True)
class WorkloadSelector:
    """Selects workloads by labels."""

    labels: Mapping[str, str] = fld(dict)


@dataclass(frozen=True)
class LabelSelector:
    """The ``selector: {matchLabels: ...}`` form used by security kinds."""

    match_labels: Mapping[str, str] = fld(dict)


@dataclass(frozen=True)
class PolicyTargetReference:
    """A Gateway API style reference to the resource a policy attaches to."""

    group: str | None = fld()
    kind: str = fld("", required=True)
    name: str = fld("", required=True)
    namespace: str | None = fld()
