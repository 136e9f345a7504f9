"""ServiceEntry: adds a service (often outside the mesh) to the registry (``networking.istio.io``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mizzen.config.models.common import WorkloadSelector
from mizzen.config.models.workload_entry import WorkloadEntry
from mizzen.config.schema import UInt32, fld

Resolution = Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"]


@dataclass(frozen=True)
class ServicePort:
    """A port of the service."""

    number: UInt32 = fld(0, required=True)
    protocol: str | None = fld()
    name: str = fld("", required=True)
    target_port: UInt32 | None = fld()


@dataclass(frozen=True)
class ServiceEntry:
    """The spec of a ServiceEntry."""

    hosts: tuple[str, ...] = fld((), required=True)
    addresses: tuple[str, ...] = fld(())
    ports: tuple[ServicePort, ...] = fld(())
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] | None = fld()
    resolution: Resolution | None = fld()
    endpoints: tuple[WorkloadEntry, ...] = fld(())
    workload_selector: WorkloadSelector | None = fld()
    export_to: tuple[str, ...] = fld(())
    subject_alt_names: tuple[str, ...] = fld(())
