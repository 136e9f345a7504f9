"""Each sidecar's own part is reused while nothing it read changed, and rebuilt (correctly) when something did."""

from __future__ import annotations

import dataclasses

from mizzen.config import load_text
from mizzen.controlplane.local_outputs import MESH, REGISTRY, SCOPE, LocalOutputCache, translate_recorded
from mizzen.controlplane.mesh import MeshState
from mizzen.node import InboundPort, Proxy, Upstream
from mizzen.translate.model import MeshConfig, MeshSnapshot
from mizzen.translate.scope import Scope, build_scope
from mizzen.translate.sharing import local_resources
from mizzen.xds import types as xt

BASE = """\
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}, {name: tcp-db, port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-1}
spec: {address: 127.0.0.1, ports: {http: 41000, tcp-db: 41001}, labels: {app: reviews, version: v1}}
"""

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http: [{{timeout: {t}s, route: [{{destination: {{host: reviews}}}}]}}]
  tcp: [{{match: [{{port: 5432}}], route: [{{destination: {{host: reviews, port: {{number: {port}}}}}}}]}}]
"""

AUTHZ = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all}
spec: {selector: {matchLabels: {app: web}}}
"""

WEB = Proxy(
    id="web.default",
    type="sidecar",
    name="web",
    namespace="default",
    labels={"app": "web"},
    http_proxy_port=15080,
    inbound=(InboundPort(8080, "http", "HTTP", 15100, 18080),),
)
# The same workload with a TCP upstream: its listener reads the VirtualServices (tcp routes).
DB_CLIENT = dataclasses.replace(
    WEB, id="db-client.default", name="db-client", upstreams=(Upstream("reviews", 5432, 15432),)
)


def _state(*texts: str) -> MeshState:
    state = MeshState(MeshConfig())
    for r in load_text("\n---\n".join(texts)).resources:
        state.apply("ADDED", r)
    return state


def _apply(state: MeshState, text: str) -> None:
    for r in load_text(text).resources:
        state.apply("MODIFIED", r)


def _scope(proxy: Proxy, mesh: MeshSnapshot) -> Scope:
    return build_scope(proxy, mesh)


def test_records_what_the_translation_read_and_nothing_else() -> None:
    """A plain sidecar's listeners read the policies, Telemetries and services, not the VirtualServices;
    one with a TCP upstream reads them too. The output is the unrecorded translation's."""
    mesh = _state(BASE, VS.format(t=1, port=5432)).snapshot()
    out, reads = translate_recorded(_scope(WEB, mesh))
    assert out == local_resources(WEB, mesh, _scope(WEB, mesh))
    assert (SCOPE, "proxy") in reads and (MESH, "authorization_policies") in reads
    assert (SCOPE, "virtual_services") not in reads and (MESH, "virtual_services") not in reads
    assert (MESH, "destination_rules") not in reads and (MESH, "gateways") not in reads
    _, reads = translate_recorded(_scope(DB_CLIENT, mesh))
    assert (SCOPE, "virtual_services") in reads


def test_a_virtual_service_change_reuses_only_the_parts_that_did_not_read_it() -> None:
    state = _state(BASE, VS.format(t=1, port=5432))
    cache = LocalOutputCache()
    before = {p.id: cache.local(_scope(p, state.snapshot())) for p in (WEB, DB_CLIENT)}
    _apply(state, VS.format(t=2, port=5433))  # an HTTP timeout and the TCP route's port
    mesh = state.snapshot()
    cache.next_generation()
    after = {p.id: cache.local(_scope(p, mesh)) for p in (WEB, DB_CLIENT)}
    assert after[WEB.id] is before[WEB.id]
    assert after[DB_CLIENT.id] is not before[DB_CLIENT.id]
    assert after[DB_CLIENT.id].resources == local_resources(DB_CLIENT, mesh, _scope(DB_CLIENT, mesh))
    assert after[DB_CLIENT.id].resources != before[DB_CLIENT.id].resources  # the upstream's port moved
    assert (cache.hits, cache.misses) == (1, 3)


def test_a_policy_change_rebuilds_and_the_result_is_a_fresh_translation() -> None:
    state = _state(BASE)
    cache = LocalOutputCache()
    before = cache.local(_scope(WEB, state.snapshot()))
    for r in load_text(AUTHZ).resources:
        state.apply("ADDED", r)
    mesh = state.snapshot()
    cache.next_generation()
    after = cache.local(_scope(WEB, mesh))
    assert after is not before
    assert after.resources == local_resources(WEB, mesh, _scope(WEB, mesh))
    assert "envoy.filters.http.rbac" in str(after.resources.listeners)
    assert "envoy.filters.http.rbac" not in str(before.resources.listeners)


def test_the_same_proxy_id_with_other_settings_is_rebuilt() -> None:
    """A reconnect with another access-log path (same id) gets its own listeners, not the old ones."""
    mesh = _state(BASE).snapshot()
    cache = LocalOutputCache()
    first = cache.local(_scope(WEB, mesh))
    assert cache.local(_scope(WEB, mesh)) is first  # same snapshot, same proxy: reused
    moved = dataclasses.replace(WEB, access_log="/tmp/other.log")
    second = cache.local(_scope(moved, mesh))
    assert second is not first
    assert second.resources == local_resources(moved, mesh, _scope(moved, mesh))
    assert "/tmp/other.log" in str(second.resources.listeners)


def test_entries_live_two_generations() -> None:
    mesh = _state(BASE).snapshot()
    cache = LocalOutputCache()
    cache.local(_scope(WEB, mesh))
    cache.next_generation()
    assert len(cache) == 1
    other = dataclasses.replace(WEB, id="other.default", name="other")
    cache.local(_scope(other, mesh))
    cache.next_generation()
    assert len(cache) == 1  # WEB went unused for a whole generation; ``other`` was used in the last one


def test_generations_without_own_parts_do_not_age_entries() -> None:
    """Endpoint-only pushes ask for no own part; after any number of them a config push reuses all."""
    mesh = _state(BASE).snapshot()
    cache = LocalOutputCache()
    first = cache.local(_scope(WEB, mesh))
    for _ in range(3):
        cache.next_generation()
    assert len(cache) == 1
    assert cache.local(_scope(WEB, mesh)) is first
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_merged_view_is_reused_while_both_parts_are_unchanged() -> None:
    mesh = _state(BASE).snapshot()
    cache = LocalOutputCache()
    own = cache.local(_scope(WEB, mesh))
    shared = {"outbound|9080||reviews.default.svc.cluster.local": b"x"}
    first = cache.merged(WEB.id, xt.CLUSTER, shared, "v1")
    assert dict(first) == {**shared, **own.encoded[xt.CLUSTER]}
    cache.next_generation()
    cache.local(_scope(WEB, mesh))
    assert cache.merged(WEB.id, xt.CLUSTER, shared, "v1") is first
    changed = {**shared, "outbound|5432||reviews.default.svc.cluster.local": b"y"}
    second = cache.merged(WEB.id, xt.CLUSTER, changed, "v2")
    assert dict(second) == {**changed, **own.encoded[xt.CLUSTER]}
    # The proxy's own part changes: a new entry, so nothing merged before is served.
    cache.local(_scope(dataclasses.replace(WEB, access_log="/tmp/x.log"), mesh))
    assert cache.merged(WEB.id, xt.CLUSTER, changed, "v2") is not second


WEB_SERVICE = """\
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{selector: {{app: web}}, ports: [{{name: http, port: {port}, targetPort: 8080}}]}}
"""


def test_endpoint_changes_reuse_own_parts_and_service_changes_rebuild_them() -> None:
    """The own part reads the registry's services (which select the proxy: its inbound), not its endpoints:
    a new WorkloadEntry anywhere reuses it; a Service selecting the proxy rebuilds it, correctly."""
    state = _state(BASE, WEB_SERVICE.format(port=8080))
    cache = LocalOutputCache()
    first = cache.local(_scope(WEB, state.snapshot()))
    _, reads = translate_recorded(_scope(WEB, state.snapshot()))
    assert (REGISTRY, "services") in reads and (REGISTRY, "endpoints") not in reads
    assert (MESH, "registry") not in reads
    cache.next_generation()
    _apply(state, BASE.replace("reviews-1", "reviews-2").replace("41000", "42000").split("---")[1])
    assert cache.local(_scope(WEB, state.snapshot())) is first
    cache.next_generation()
    _apply(state, WEB_SERVICE.format(port=8081))
    mesh = state.snapshot()
    rebuilt = cache.local(_scope(WEB, mesh))
    assert rebuilt is not first
    assert rebuilt.resources == local_resources(WEB, mesh, _scope(WEB, mesh))
    assert (cache.hits, cache.misses) == (1, 2)
