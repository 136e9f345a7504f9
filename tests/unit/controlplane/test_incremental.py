"""Incremental translation equals full translation: random edit sequences over the golden inputs.

Each case's resources go through the control plane's own :class:`MeshState` (so unchanged resources
keep their parsed objects, as in the running control plane); after every edit the push path's
outputs (a :class:`ServiceOutputCache` and a :class:`LocalOutputCache` carried across snapshots) must equal a fresh full
``translate()`` of the same snapshot byte for byte, for every type and for the endpoint fast path.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from mizzen.config import load_text
from mizzen.config.resource import Resource
from mizzen.controlplane.incremental import ServiceOutputCache
from mizzen.controlplane.local_outputs import LocalOutputCache
from mizzen.controlplane.mesh import MeshController, MeshState
from mizzen.controlplane.outputs import PushOutputs
from mizzen.node import InboundPort, Proxy, Upstream, node_metadata
from mizzen.translate import translate
from mizzen.translate.model import MeshConfig
from mizzen.xds import NodeInfo, SnapshotCache
from mizzen.xds import types as xt
from mizzen.xds.encode import encode

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
CASES = sorted(
    p.name
    for p in GOLDEN.iterdir()
    if (p / "input.yaml").exists() and "type: sidecar" in (p / "proxy.yaml").read_text()
)
TYPES = (
    (xt.CLUSTER, "clusters"),
    (xt.ENDPOINT, "endpoints"),
    (xt.LISTENER, "listeners"),
    (xt.ROUTE, "routes"),
    (xt.SECRET, "secrets"),
)
STEPS = 40


def _proxies(case: Path) -> tuple[list[Proxy], MeshConfig]:
    config = yaml.safe_load((case / "proxy.yaml").read_text())
    spec = dict(config["proxy"])
    spec["inbound"] = tuple(InboundPort(**p) for p in spec.get("inbound", []))
    spec["upstreams"] = tuple(Upstream(**u) for u in spec.get("upstreams", []))
    spec.setdefault("id", f"{spec['name']}.{spec.get('namespace', 'default')}")
    first = Proxy(**spec)
    # One more of the same scope (shares the shared part) and one elsewhere (another scope).
    twin = Proxy(**{**spec, "id": "twin.x", "name": "twin", "http_proxy_port": 15999, "inbound": ()})
    other = Proxy(**{**spec, "id": "o.other", "name": "o", "namespace": "other", "labels": {"app": "o"}})
    return [first, twin, other], MeshConfig(**config.get("mesh", {}))


def _resource(doc: dict[str, Any]) -> Resource | None:
    result = load_text(json.dumps(doc))
    if result.report.errors or len(result.resources) != 1:
        return None  # validation would refuse the edit: the control plane never sees it
    return result.resources[0]


def _workload_entry(spec: dict[str, Any], rng: random.Random) -> None:
    field = rng.choice(["weight", "address", "version", "port"])
    if field == "weight":
        spec["weight"] = rng.randint(1, 5)
    elif field == "address":
        spec["address"] = rng.choice(["127.0.0.1", "127.0.0.2", "127.0.0.3"])
    elif field == "version":
        spec.setdefault("labels", {})["version"] = rng.choice(["v1", "v2", "v3"])
    else:
        spec["ports"] = {k: int(v) + 1 for k, v in spec.get("ports", {}).items()}


def _destination_rule(spec: dict[str, Any], rng: random.Random) -> None:
    choice = rng.choice(["pool", "lb", "subset"])
    policy = spec.setdefault("trafficPolicy", {})
    if choice == "pool":
        policy["connectionPool"] = {"tcp": {"maxConnections": rng.randint(1, 100)}}
    elif choice == "lb":
        policy["loadBalancer"] = {"simple": rng.choice(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"])}
    elif spec.get("subsets"):
        spec["subsets"] = spec["subsets"][:-1]


def _service(spec: dict[str, Any], rng: random.Random) -> None:
    ports = spec.setdefault("ports", [])
    if any(p.get("port") == 9999 for p in ports):
        spec["ports"] = [p for p in ports if p.get("port") != 9999]
    else:
        ports.append({"name": "http-extra", "port": 9999})


def _virtual_service(spec: dict[str, Any], rng: random.Random) -> None:
    for http in spec.get("http", []):
        http["timeout"] = f"{rng.randint(1, 9)}s"


def _service_entry(spec: dict[str, Any], rng: random.Random) -> None:
    spec["ports"] = [{**p, "number": int(p["number"]) + 1} for p in spec.get("ports", [])]


TWEAKS = {
    "WorkloadEntry": _workload_entry,
    "DestinationRule": _destination_rule,
    "Service": _service,
    "VirtualService": _virtual_service,
    "ServiceEntry": _service_entry,
}


def _tweak(doc: dict[str, Any], rng: random.Random) -> None:
    """One kind-specific edit of a resource's spec (in place; other kinds are only deleted and restored)."""
    tweak = TWEAKS.get(doc["kind"])
    if tweak is not None:
        tweak(doc.setdefault("spec", {}), rng)


class Edits:
    """A seeded random edit sequence applied to a MeshState."""

    def __init__(self, resources: list[Resource], rng: random.Random) -> None:
        self.rng = rng
        self.live: dict[tuple[str, str, str], Resource] = {}
        self.gone: dict[tuple[str, str, str], Resource] = {}
        self.order = 0
        for r in resources:
            self.live[r.key] = self._stamped(r)

    def _stamped(self, r: Resource) -> Resource:
        self.order += 1
        return r.with_metadata(creation_timestamp=f"2026-01-01T{self.order // 3600:02d}:{self.order // 60 % 60:02d}:"
                               f"{self.order % 60:02d}Z")  # fmt: skip

    def step(self, state: MeshState) -> str:
        rng = self.rng
        op = rng.choice(["delete", "restore", "modify", "modify", "add-endpoint"])
        if op == "delete" and self.live:
            key = rng.choice(sorted(self.live))
            self.gone[key] = self.live.pop(key)
            state.apply("DELETED", self.gone[key])
        elif op == "restore" and self.gone:
            key = rng.choice(sorted(self.gone))
            self.live[key] = self.gone.pop(key)
            state.apply("ADDED", self.live[key])
        elif op == "modify" and self.live:
            key = rng.choice(sorted(self.live))
            doc = copy.deepcopy(self.live[key].to_json())
            _tweak(doc, rng)
            changed = _resource(doc)
            if changed is None:
                return f"skipped invalid edit of {key}"
            self.live[key] = changed
            state.apply("MODIFIED", changed)
        else:
            apps = sorted({str(r.spec.get("selector", {}).get("app", "")) for r in self.live.values()} - {""})
            if not apps:
                return "nothing to add"
            n = self.order
            added = _resource(
                {
                    "apiVersion": "networking.istio.io/v1",
                    "kind": "WorkloadEntry",
                    "metadata": {"name": f"added-{n}", "namespace": "default"},
                    "spec": {
                        "address": "127.0.0.9",
                        "labels": {"app": rng.choice(apps), "version": "v1"},
                        "ports": {"http": 40000 + n},
                    },
                }
            )
            assert added is not None
            self.live[added.key] = self._stamped(added)
            state.apply("ADDED", self.live[added.key])
            op = f"add-endpoint {added.key}"
        return op


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_output_equals_full_translation(name: str, seed: int) -> None:
    """After every random edit, each proxy's pushed bytes (all types, and the endpoint fast path) equal a
    full translation of the same snapshot, while unchanged services are served from the cache."""
    case = GOLDEN / name
    proxies, mesh_config = _proxies(case)
    resources = list(load_text((case / "input.yaml").read_text()).resources)
    rng = random.Random(seed)
    state = MeshState(mesh_config)
    edits = Edits(resources, rng)
    for r in edits.live.values():
        state.apply("ADDED", r)
    cache = ServiceOutputCache()
    local_cache = LocalOutputCache()
    for n in range(STEPS):
        what = edits.step(state) if n else "initial"
        mesh = state.snapshot()
        cache.next_generation()
        local_cache.next_generation()
        outputs = PushOutputs(mesh, cache, local_cache)
        for proxy in proxies:
            full = translate(proxy, mesh)
            _, _, snapshot = outputs.full(proxy)
            for type_url, attr in TYPES:
                expected = encode(type_url, getattr(full, attr))
                assert dict(snapshot.resources(type_url)) == expected, f"step {n} ({what}), {proxy.id}, {attr}"
            _, eps, _ = outputs.endpoints(proxy)
            assert dict(eps) == encode(xt.ENDPOINT, full.endpoints), f"step {n} ({what}), {proxy.id}, EDS path"
    assert cache.hits > 0, "nothing was ever reused"
    assert local_cache.hits > 0 and local_cache.misses > len(proxies), "own parts never reused or never rebuilt"


def test_a_one_service_change_retranslates_one_service() -> None:
    """Changing one DestinationRule among many re-translates exactly that service; the others are reused."""
    docs = []
    for i in range(20):
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\n"
                    f"spec: {{selector: {{app: s{i}}}, ports: [{{name: http, port: 9080}}]}}")  # fmt: skip
        docs.append(f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: s{i}}}\n"
                    f"spec: {{host: s{i}, subsets: [{{name: v1, labels: {{version: v1}}}}]}}")  # fmt: skip
    state = MeshState(MeshConfig())
    for r in load_text("\n---\n".join(docs)).resources:
        state.apply("ADDED", r)
    proxy = Proxy(id="p.default", type="sidecar", name="p", namespace="default", labels={"app": "p"})
    cache = ServiceOutputCache()
    PushOutputs(state.snapshot(), cache).full(proxy)
    assert (cache.hits, cache.misses) == (0, 20)
    (changed,) = load_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: s7}\n"
        "spec: {host: s7, trafficPolicy: {loadBalancer: {simple: RANDOM}},"
        " subsets: [{name: v1, labels: {version: v1}}]}"
    ).resources
    state.apply("MODIFIED", changed)
    cache.next_generation()
    PushOutputs(state.snapshot(), cache).full(proxy)
    assert (cache.hits, cache.misses) == (19, 21)


async def test_an_endpoint_change_replaces_only_that_services_load_assignments() -> None:
    """Through the controller: a new WorkloadEntry for one service changes that service's load assignments
    and nothing else (every other resource is the very same bytes object, so no stream resends it)."""
    docs = []
    for i in range(5):
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\n"
                    f"spec: {{selector: {{app: s{i}}}, ports: [{{name: http, port: 9080}}]}}")  # fmt: skip
        docs.append(f"apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: s{i}-a}}\n"
                    f"spec: {{address: 127.0.0.1, ports: {{http: {41000 + i}}}, labels: {{app: s{i}}}}}")  # fmt: skip
    mc = MeshController(SnapshotCache())
    for n, r in enumerate(load_text("\n---\n".join(docs)).resources, start=1):
        mc.on_store_event("ADDED", r, n)
    await mc.pusher.drain()
    proxy = Proxy(id="p.default", type="sidecar", name="p", namespace="default", labels={"app": "p"})
    await mc.on_connect(NodeInfo(proxy.node_id, metadata=node_metadata(proxy, admin="", version="test")))
    before = mc.cache.get(proxy.node_id)
    assert before is not None
    (added,) = load_text(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: s3-b}\n"
        "spec: {address: 127.0.0.2, ports: {http: 42000}, labels: {app: s3}}"
    ).resources
    mc.on_store_event("ADDED", added, 100)
    await mc.pusher.drain()
    after = mc.cache.get(proxy.node_id)
    assert after is not None and after is not before
    for type_url in (xt.CLUSTER, xt.LISTENER, xt.ROUTE):
        assert after.version(type_url) == before.version(type_url)
    old, new = before.resources(xt.ENDPOINT), after.resources(xt.ENDPOINT)
    changed = {n for n in new if new[n] is not old.get(n)}
    assert changed == {"outbound|9080||s3.default.svc.cluster.local"}
    assert new.keys() == old.keys()
