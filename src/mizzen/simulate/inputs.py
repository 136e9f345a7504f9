"""What ``mizzen test`` reads: config and RouteTest files (or config fetched from a live control plane),
checked all-or-nothing like ``mizzen apply``, and the mesh settings that change routing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mizzen.config.codes import violation
from mizzen.config.kinds import ROUTE_TEST
from mizzen.config.loader import load_paths
from mizzen.config.report import Report
from mizzen.config.resource import Resource
from mizzen.config.validate import locate, validate
from mizzen.simulate.mesh import Workload
from mizzen.translate.model import MeshConfig, load_mesh_config


@dataclass
class Inputs:
    """Config resources, RouteTests, extra workloads (live proxies) and every problem found reading them."""

    config: list[Resource] = field(default_factory=list)
    tests: list[Resource] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    report: Report = field(default_factory=Report)


def read_files(config_paths: Sequence[str], test_paths: Sequence[str], *, recursive: bool = False) -> Inputs:
    """Load and validate config files; RouteTests found among them are tests too."""
    out = Inputs()
    if config_paths:
        loaded = load_paths(config_paths, recursive=recursive, extra_kinds=(ROUTE_TEST,))
        out.report.extend(loaded.report.violations)
        for r in loaded.resources:
            (out.tests if r.kind == ROUTE_TEST.kind else out.config).append(r)
    if test_paths:
        loaded = load_paths(test_paths, recursive=recursive, extra_kinds=(ROUTE_TEST,))
        out.report.extend(loaded.report.violations)
        for r in loaded.resources:
            if r.kind == ROUTE_TEST.kind:
                out.tests.append(r)
            else:
                msg = f"{r.ref()} is not a RouteTest: give config with -f, tests with -t"
                out.report.extend(locate(r, [violation("MZ2901", msg, "kind")]))
    out.report.extend(v for v in validate(out.config) if v.level == "error")
    out.config = latest(out.config)
    return out


def latest(resources: Sequence[Resource]) -> list[Resource]:
    """One object per kind/namespace/name, the last one given winning, as successive applies would."""
    by_key = {r.key: r for r in resources}
    return [r for r in resources if by_key[r.key] is r]


def merge_live(inputs: Inputs, live: Iterable[Resource], proxies: Iterable[Workload]) -> Inputs:
    """Live objects under the files' (a file's object wins over the live one with the same key)."""
    keys = {r.key for r in inputs.config}
    config = [r for r in live if r.key not in keys] + inputs.config
    return Inputs(config, inputs.tests, [*inputs.workloads, *proxies], inputs.report)


def live_workload(item: Mapping[str, Any]) -> Workload | None:
    """A connected proxy from the control plane's proxies API as a workload that may send."""
    name, namespace = item.get("name"), item.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        return None
    labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
    return Workload(name, namespace, labels, gateway=item.get("type") == "router", registered=True)


def mesh_config(path: Path | None) -> MeshConfig:
    """The mesh settings from a ``mesh.yaml``, read as the control plane reads it; Istio's defaults without one."""
    return MeshConfig() if path is None else load_mesh_config(path)
