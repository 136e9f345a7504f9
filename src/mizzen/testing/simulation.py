"""Traffic simulation for Mizzen's own tests: the walker of :mod:`mizzen.simulate` (the product feature
behind ``mizzen test``), plus MeshSnapshots built from YAML texts in document order::

    res = translate(proxy, mesh_from_yaml(SERVICES, VIRTUAL_SERVICE))
    r = simulate(res, listener_port=15080, host="reviews:9080", headers={"end-user": "jason"})
    assert r.cluster == "outbound|9080|v2|reviews.default.svc.cluster.local"
"""

from __future__ import annotations

from collections.abc import Iterable

from mizzen.config.loader import load_text
from mizzen.config.resource import Resource
from mizzen.simulate.envoy import select_vhost
from mizzen.simulate.mesh import snapshot
from mizzen.simulate.walker import Request, Result, Walker, simulate, walk
from mizzen.translate.model import MeshConfig, MeshSnapshot

__all__ = ["Request", "Result", "Walker", "mesh_from_resources", "mesh_from_yaml", "select_vhost", "simulate", "walk"]


def mesh_from_yaml(*texts: str, mesh: MeshConfig | None = None) -> MeshSnapshot:
    """A MeshSnapshot from Kubernetes/Istio YAML texts (Services, WorkloadEntries, VSs, DRs, ...),
    with resources in document order standing in for creation order. For tests and experiments."""
    resources: list[Resource] = []
    for i, text in enumerate(texts):
        result = load_text(text, file=f"<text {i}>")
        errors = result.report.errors
        if errors:
            raise ValueError("; ".join(str(v) for v in errors))
        resources.extend(result.resources)
    return mesh_from_resources(resources, mesh=mesh)


def mesh_from_resources(resources: Iterable[Resource], *, mesh: MeshConfig | None = None) -> MeshSnapshot:
    """A MeshSnapshot from resources (their order is the creation order)."""
    return snapshot(list(resources), mesh or MeshConfig(), keep_order=True)
