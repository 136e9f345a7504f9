"""A real Envoy 1.40 against the ADS server, over State of the World and over delta xDS (every test runs with
both ``api_type`` values): it syncs, serves traffic, a rejected listener is kept out, removals take effect,
and it resyncs after a control-plane restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from mizzen.agent.envoy import find_envoy
from mizzen.testing.ports import free_port
from mizzen.xds import types
from mizzen.xds.cache import SnapshotCache
from mizzen.xds.protocol import NodeInfo
from mizzen.xds.server import XdsServer
from mizzen.xds.snapshot import Snapshot
from mizzen.xds.testing import ads_bootstrap, cla, cluster, listener, route

pytestmark = pytest.mark.e2e
APIS = pytest.mark.parametrize("api", ["GRPC", "DELTA_GRPC"], ids=["sotw", "delta"])

CDS, EDS, LDS, RDS = types.CLUSTER, types.ENDPOINT, types.LISTENER, types.ROUTE
TOKEN = "e2e-token"
NODE = "sidecar~127.0.0.1~e2e.default~default.svc.cluster.local"


def mesh(listen_port: int, backend_port: int, *, duplicate: bool = False, timeout: str = "1s") -> Snapshot:
    listeners = {"ingress": listener("ingress", listen_port, "local_route")}
    if duplicate:  # a second listener on the same address: Envoy rejects the whole LDS update
        listeners["ingress-dup"] = listener("ingress-dup", listen_port, "local_route")
    return Snapshot.from_dicts(
        {
            CDS: {"backend": cluster("backend", timeout)},
            EDS: {"backend": cla("backend", backend_port)},
            LDS: listeners,
            RDS: {"local_route": route("local_route", "backend")},
        }
    )


class Envoy:
    def __init__(self, proc: asyncio.subprocess.Process, admin_port: int, log: Path) -> None:
        self.proc, self.admin_port, self.log = proc, admin_port, log

    async def stat(self, name: str) -> int:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{self.admin_port}/stats", params={"filter": f"^{name}$"})
        for line in r.text.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        raise AssertionError(f"no stat {name} in {r.text!r}")


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello from backend")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def start_envoy(tmp_path: Path, xds_port: int, node: str = NODE, *, api: str) -> Envoy:
    admin_port = free_port()
    tag = node.split("~")[2]
    config = tmp_path / f"{tag}.bootstrap.json"
    boot = ads_bootstrap(node, xds_port, admin_port, token=TOKEN, cluster="e2e.default", api_type=api)
    config.write_text(json.dumps(boot))
    log = tmp_path / f"{tag}.envoy.log"
    proc = await asyncio.create_subprocess_exec(
        str(find_envoy()),
        "-c",
        str(config),
        "--disable-hot-restart",
        "--concurrency",
        "1",
        "-l",
        "info",
        "--log-path",
        str(log),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return Envoy(proc, admin_port, log)


async def stop_envoy(envoy: Envoy) -> None:
    if envoy.proc.returncode is None:
        envoy.proc.terminate()
        try:
            await asyncio.wait_for(envoy.proc.wait(), 10)
        except TimeoutError:
            envoy.proc.kill()
            await envoy.proc.wait()


async def until(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached in {timeout}s")
        await asyncio.sleep(0.05)


def statuses(server: XdsServer, node: str = NODE) -> dict[str, str]:
    proxy = server.proxy_status(node)
    return {types.SHORT_NAMES[t.type_url]: t.status for t in proxy.types} if proxy else {}


async def get(port: int) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(f"http://127.0.0.1:{port}/hello", timeout=5)


@APIS
async def test_envoy_syncs_serves_and_keeps_last_good_config_on_nack(tmp_path: Path, backend: int, api: str) -> None:
    """Envoy ACKs all four types, routes traffic, and a rejected LDS shows ERROR, is not resent, and traffic flows."""
    cache = SnapshotCache()
    listen_port = free_port()

    async def on_connect(node: NodeInfo) -> None:
        cache.set(node.node_id, mesh(listen_port, backend))

    server = XdsServer(cache, token=TOKEN, on_connect=on_connect)
    xds_port = await server.start("127.0.0.1", 0)
    envoy = await start_envoy(tmp_path, xds_port, api=api)
    try:
        await until(
            lambda: (
                server.status()
                and statuses(server) == {"CDS": "SYNCED", "EDS": "SYNCED", "LDS": "SYNCED", "RDS": "SYNCED"}
            ),
            what="all SYNCED",
        )
        (proxy,) = server.status()
        assert proxy.envoy_version == "1.40.0" and proxy.node.cluster == "e2e.default"
        ok = await get(listen_port)
        assert ok.status_code == 200 and ok.text == "hello from backend"

        pushes_before = server.metrics.pushes[LDS]
        cache.set(NODE, mesh(listen_port, backend, duplicate=True))
        await until(lambda: statuses(server)["LDS"] == "ERROR", what="LDS ERROR")
        lds = server.status()[0].type(LDS)
        assert lds is not None and "'ingress-dup' has duplicate address" in lds.last_error, lds
        assert statuses(server)["CDS"] == "SYNCED"
        assert await envoy.stat("listener_manager.lds.update_rejected") == 1

        # A new snapshot with the same rejected listeners and a changed cluster: once Envoy has ACKed the
        # new clusters, the server has acted on that snapshot, and it did not resend the rejected LDS.
        cache.set(NODE, mesh(listen_port, backend, duplicate=True, timeout="2s"))
        new_cds = cache.get(NODE).version(CDS)  # type: ignore[union-attr]
        await until(lambda: server.status()[0].type(CDS).version_acked == new_cds, what="new CDS ACKed")  # type: ignore[union-attr]
        assert server.metrics.pushes[LDS] == pushes_before + 1, "rejected LDS version was resent"
        assert await envoy.stat("listener_manager.lds.update_rejected") == 1
        still = await get(listen_port)
        assert still.status_code == 200 and still.text == "hello from backend"

        cache.set(NODE, mesh(listen_port, backend))
        await until(lambda: statuses(server)["LDS"] == "SYNCED", what="LDS SYNCED after fix")
        assert server.status()[0].type(LDS).last_error == ""  # type: ignore[union-attr]
    finally:
        await stop_envoy(envoy)
        await server.stop(0)


@APIS
async def test_changed_cluster_warms_and_reconnect_resyncs(tmp_path: Path, backend: int, api: str) -> None:
    """A changed cluster gets its endpoints again and warms; after a control-plane restart Envoy resyncs."""
    cache = SnapshotCache()
    listen_port = free_port()

    async def on_connect(node: NodeInfo) -> None:
        cache.set(node.node_id, mesh(listen_port, backend))

    server = XdsServer(cache, token=TOKEN, on_connect=on_connect)
    xds_port = await server.start("127.0.0.1", 0)
    envoy = await start_envoy(tmp_path, xds_port, api=api)
    all_synced = {"CDS": "SYNCED", "EDS": "SYNCED", "LDS": "SYNCED", "RDS": "SYNCED"}
    try:
        await until(lambda: server.status() and statuses(server) == all_synced, what="all SYNCED")
        eds_pushes = server.metrics.pushes[EDS]
        cache.set(NODE, mesh(listen_port, backend, timeout="3s"))
        await until(
            lambda: statuses(server) == all_synced and server.metrics.pushes[EDS] > eds_pushes,
            what="resynced after cluster change",
        )
        assert await envoy.stat("cluster_manager.warming_clusters") == 0
        assert (await get(listen_port)).status_code == 200

        await server.stop(0)
        await until(lambda: not server.status(), what="stream gone")
        fresh = SnapshotCache()  # a restarted control plane computes the same config anew

        async def on_reconnect(node: NodeInfo) -> None:
            fresh.set(node.node_id, mesh(listen_port, backend, timeout="3s"))

        restarted = XdsServer(fresh, token=TOKEN, on_connect=on_reconnect)
        assert await restarted.start("127.0.0.1", xds_port) == xds_port
        server = restarted
        await until(lambda: server.status() and statuses(server) == all_synced, what="resynced after restart")
        assert await envoy.stat("cluster_manager.warming_clusters") == 0
        assert (await get(listen_port)).status_code == 200
        # Delta: Envoy's initial_resource_versions matched, so nothing was resent; SotW resends everything.
        resent = {t: n for t, n in server.metrics.resources.items() if n}
        assert resent == ({} if api == "DELTA_GRPC" else {CDS: 1, EDS: 1, LDS: 1, RDS: 1})
    finally:
        await stop_envoy(envoy)
        await server.stop(0)


@APIS
async def test_rejection_by_one_proxy_leaves_others_working(tmp_path: Path, backend: int, api: str) -> None:
    """One Envoy rejecting its listeners shows ERROR for it alone; another keeps taking updates and traffic."""
    cache = SnapshotCache()
    other = "sidecar~127.0.0.1~other.default~default.svc.cluster.local"
    ports = {NODE: free_port(), other: free_port()}

    async def on_connect(node: NodeInfo) -> None:
        cache.set(node.node_id, mesh(ports[node.node_id], backend))

    server = XdsServer(cache, token=TOKEN, on_connect=on_connect)
    xds_port = await server.start("127.0.0.1", 0)
    envoys = [await start_envoy(tmp_path, xds_port, node, api=api) for node in ports]
    all_synced = {"CDS": "SYNCED", "EDS": "SYNCED", "LDS": "SYNCED", "RDS": "SYNCED"}
    try:
        await until(lambda: all(statuses(server, n) == all_synced for n in ports), what="both SYNCED")
        cache.set(NODE, mesh(ports[NODE], backend, duplicate=True))
        cache.set(other, mesh(ports[other], backend, timeout="2s"))
        await until(lambda: statuses(server)["LDS"] == "ERROR", what="LDS ERROR on the broken proxy")
        await until(
            lambda: (
                statuses(server, other) == all_synced
                and server.proxy_status(other).type(CDS).version_acked  # type: ignore[union-attr]
                == cache.get(other).version(CDS)
            ),  # type: ignore[union-attr]
            what="the other proxy synced to its new clusters",
        )
        for port in ports.values():
            assert (await get(port)).status_code == 200
    finally:
        for envoy in envoys:
            await stop_envoy(envoy)
        await server.stop(0)


def two_listeners(ports: tuple[int, int], backend_port: int, *, second: bool = True) -> Snapshot:
    """Listener ``one`` routes to cluster ``backend``; with ``second``, listener ``two`` routes to cluster ``extra``."""
    clusters, endpoints = {"backend": cluster("backend")}, {"backend": cla("backend", backend_port)}
    listeners, routes = {"one": listener("one", ports[0], "r1")}, {"r1": route("r1", "backend")}
    if second:
        clusters["extra"], endpoints["extra"] = cluster("extra"), cla("extra", backend_port)
        listeners["two"], routes["r2"] = listener("two", ports[1], "r2"), route("r2", "extra")
    return Snapshot.from_dicts({CDS: clusters, EDS: endpoints, LDS: listeners, RDS: routes})


@APIS
async def test_removed_cluster_and_listener_leave_envoy(tmp_path: Path, backend: int, api: str) -> None:
    """Dropping a listener and a cluster from the snapshot removes them from Envoy (delta: removed_resources)."""
    cache = SnapshotCache()
    ports = (free_port(), free_port())

    async def on_connect(node: NodeInfo) -> None:
        cache.set(node.node_id, two_listeners(ports, backend))

    server = XdsServer(cache, token=TOKEN, on_connect=on_connect)
    xds_port = await server.start("127.0.0.1", 0)
    envoy = await start_envoy(tmp_path, xds_port, api=api)
    all_synced = {"CDS": "SYNCED", "EDS": "SYNCED", "LDS": "SYNCED", "RDS": "SYNCED"}
    try:
        await until(lambda: server.status() and statuses(server) == all_synced, what="all SYNCED")
        assert [(await get(p)).status_code for p in ports] == [200, 200]
        clusters = await envoy.stat("cluster_manager.active_clusters")
        assert await envoy.stat("listener_manager.total_listeners_active") == 2
        pushes = dict(server.metrics.pushes)
        cache.set(NODE, two_listeners(ports, backend, second=False))
        await until(lambda: server.metrics.pushes[CDS] > pushes[CDS] and statuses(server) == all_synced, what="resync")
        await wait_stats(
            envoy, {"cluster_manager.active_clusters": clusters - 1, "listener_manager.total_listeners_active": 1}
        )
        assert (await get(ports[0])).status_code == 200
        if api == "DELTA_GRPC":  # only the removals travelled: no cluster or listener was sent again
            assert server.metrics.resources[CDS] == 2 and server.metrics.resources[LDS] == 2
    finally:
        await stop_envoy(envoy)
        await server.stop(0)


async def wait_stats(envoy: Envoy, expected: dict[str, int], timeout: float = 10.0) -> None:
    """Poll Envoy's admin until every stat in ``expected`` has its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        seen = {name: await envoy.stat(name) for name in expected}
        if seen == expected:
            return
        if loop.time() > deadline:
            raise AssertionError(f"Envoy stats {seen} never reached {expected}")
        await asyncio.sleep(0.1)
