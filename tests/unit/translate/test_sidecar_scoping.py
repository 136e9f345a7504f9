"""Sidecar `egress.hosts` scoping on Istio's own Bookinfo (`bookinfo.yaml` + `destination-rule-all.yaml`,
unchanged): a proxy only receives config for the services it may reach, which is what shrinks memory and
push size in Istio. Counts and sizes are for productpage with and without `egress.hosts: ["./ratings"]`."""

from __future__ import annotations

import json
import re

import pytest
from translate_fixtures import sidecar, workload_entries

from mizzen.testing.samples import istio_samples_dir
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate
from mizzen.translate.model import ProxyResources

pytestmark = pytest.mark.istio_samples  # every case scopes Istio's own Bookinfo files

SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: productpage, namespace: default}}
spec:
  workloadSelector: {{labels: {{app: {app}}}}}
  egress: [{{hosts: {hosts}}}]
"""

# connect_PassthroughCluster: the internal listener CONNECT tunnels to unknown hosts enter (ALLOW_ANY).
SPECIAL = {"BlackHoleCluster", "PassthroughCluster", "connect_PassthroughCluster", "inbound|9080||"}
# destination-rule-all.yaml: productpage v1; reviews v1-v3; ratings v1, v2, v2-mysql, v2-mysql-vm; details v1, v2.
SUBSETS = {
    "productpage": ["v1"],
    "reviews": ["v1", "v2", "v3"],
    "ratings": ["v1", "v2", "v2-mysql", "v2-mysql-vm"],
    "details": ["v1", "v2"],
}


def _clusters(*services: str) -> set[str]:
    return {
        f"outbound|9080|{subset}|{svc}.default.svc.cluster.local" for svc in services for subset in ("", *SUBSETS[svc])
    }


def _productpage(*extra: str) -> ProxyResources:
    d = istio_samples_dir()
    assert d is not None  # the module is marked istio_samples: skipped before this when absent
    texts = [(d / "bookinfo.yaml").read_text(), (d / "destination-rule-all.yaml").read_text(), workload_entries()]
    return translate(sidecar(), mesh_from_yaml(*texts, *extra))


def _size(res: ProxyResources, kind: str) -> int:
    return len(json.dumps(getattr(res, kind), sort_keys=True, separators=(",", ":")).encode())


def _vhosts(res: ProxyResources) -> list[str]:
    return [v["name"] for v in res.routes["http_proxy"]["virtual_hosts"]]


@pytest.fixture(scope="module")
def full() -> ProxyResources:
    return _productpage()


@pytest.fixture(scope="module")
def scoped() -> ProxyResources:
    return _productpage(SIDECAR.format(app="productpage", hosts='["./ratings"]'))


def test_without_sidecar_productpage_gets_every_service(full: ProxyResources) -> None:
    """Without a Sidecar, productpage gets all 4 services x (default + subsets) = 14 outbound clusters."""
    assert set(full.clusters) == SPECIAL | _clusters("productpage", "reviews", "ratings", "details")
    assert len(full.clusters) == 18
    assert set(full.endpoints) == _clusters("productpage", "reviews", "ratings", "details")
    assert _vhosts(full) == [
        f"{s}.default.svc.cluster.local:9080" for s in ("details", "productpage", "ratings", "reviews")
    ] + ["allow_any"]


def test_egress_hosts_ratings_leaves_only_ratings(scoped: ProxyResources) -> None:
    """egress.hosts ["./ratings"]: only ratings' 5 clusters (+ inbound and the special ones) and one vhost."""
    assert set(scoped.clusters) == SPECIAL | _clusters("ratings")
    assert len(scoped.clusters) == 9
    assert set(scoped.endpoints) == _clusters("ratings")
    assert _vhosts(scoped) == ["ratings.default.svc.cluster.local:9080", "allow_any"]
    assert set(scoped.listeners) == set(_productpage().listeners)  # own inbound and HTTP-proxy port stay


def _stats_logger_bytes(res: ProxyResources) -> int:
    """The bytes of the listeners' Istio-metrics stats loggers: the same with and without scoping."""
    text = json.dumps(res.listeners, sort_keys=True, separators=(",", ":"))
    loggers = re.findall(r'\{"name":"envoy\.access_loggers\.stats","typed_config":\{.*?"stat_prefix":"istio"\}\}', text)
    assert loggers  # every HCM has one
    return sum(len(log.encode()) for log in loggers)


def test_scoping_shrinks_the_pushed_bytes(full: ProxyResources, scoped: ProxyResources) -> None:
    """CDS, EDS and RDS shrink by more than half; in total the proxy's config is under 60% of the full size
    (not counting the listeners' stats loggers, whose few kB per listener scoping does not touch)."""
    for kind in ("clusters", "endpoints", "routes"):
        assert _size(scoped, kind) < 0.5 * _size(full, kind), kind
    total_full, total_scoped = (
        sum(_size(r, k) for k in ("clusters", "endpoints", "listeners", "routes")) - _stats_logger_bytes(r)
        for r in (full, scoped)
    )
    assert total_scoped < 0.6 * total_full, (total_scoped, total_full)


def test_sidecar_for_another_workload_does_not_scope_productpage(full: ProxyResources) -> None:
    """A Sidecar selecting reviews leaves productpage's config exactly as without it."""
    other = _productpage(SIDECAR.format(app="reviews", hosts='["./ratings"]'))
    assert other.clusters == full.clusters and other.routes == full.routes


def test_namespace_wildcard_egress_keeps_everything(full: ProxyResources) -> None:
    """egress.hosts ["./*"] (own namespace, every host) gives the same clusters as no Sidecar."""
    wide = _productpage(SIDECAR.format(app="productpage", hosts='["./*"]'))
    assert set(wide.clusters) == set(full.clusters)
    assert _vhosts(wide) == _vhosts(full)


def test_egress_to_another_namespace_only_drops_default_services(full: ProxyResources) -> None:
    """egress.hosts ["istio-system/*"]: none of Bookinfo's services in default remain."""
    none = _productpage(SIDECAR.format(app="productpage", hosts='["istio-system/*"]'))
    assert set(none.clusters) == SPECIAL
    assert none.endpoints == {}
    assert _vhosts(none) == ["allow_any"]
