"""Real Envoys, configured with our telemetry builders, stream access logs and spans to our receivers.

No control plane: a static bootstrap plays the translator's part, so this pins exactly what the
builders in ``translate/telemetry.py`` make Envoy do — ALS entries on the ``xds-grpc`` cluster carrying
our direction tag and headers, the file log in Istio's format with ``FI``, Zipkin spans — and no credential
anywhere (in a real mesh the agent behind ``xds-grpc`` and ``zipkin`` adds it).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc
import pytest
import pytest_asyncio
from aiohttp import web
from envoy.data.accesslog.v3 import accesslog_pb2

from mizzen.agent.envoy import find_envoy
from mizzen.node import Proxy
from mizzen.registry.model import Endpoint, RegistrySnapshot, Service, ServicePort
from mizzen.telemetry import routes
from mizzen.telemetry.als import AccessLogService
from mizzen.telemetry.labels import Facts
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.traces import TraceStore
from mizzen.testing.ports import free_port
from mizzen.translate import telemetry as builders

pytestmark = pytest.mark.e2e

NODE_ID = "sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local"
REVIEWS = "reviews.default.svc.cluster.local"
CLUSTER = f"outbound|9080|v1|{REVIEWS}"


def _static_cluster(name: str, port: int, http2: bool = False) -> dict[str, object]:
    cluster: dict[str, object] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                    ]
                }
            ],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


SERVER_NODE_ID = "sidecar~127.0.0.1~reviews-v1.default~default.svc.cluster.local"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _listener(name: str, port: int, hcm: dict[str, object]) -> dict[str, object]:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }


def _node(node_id: str, app: str, version: str) -> dict[str, object]:
    return {
        "id": node_id,
        "cluster": f"{app}.default",
        "metadata": {
            "NAME": f"{app}-{version}",
            "NAMESPACE": "default",
            "MIZZEN_PROXY_TYPE": "sidecar",
            "LABELS": {"app": app, "version": version},
        },
    }


def _client_bootstrap(ports: dict[str, int], log_path: Path) -> dict[str, object]:
    """productpage's sidecar: outbound listener -> reviews (at the server sidecar's inbound port)."""
    fault = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "abort": {"http_status": 500, "percentage": {"numerator": 100}},
    }
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "outbound",
        "codec_type": "AUTO",
        "access_log": [
            *builders.http_access_loggers("outbound"),
            builders.file_access_logger(str(log_path)),
        ],
        "tracing": builders.tracing_config(100.0, collector_host=f"127.0.0.1:{ports['http']}"),
        "route_config": {
            "name": "http_proxy",
            "virtual_hosts": [
                {
                    "name": "reviews",
                    "domains": ["*"],
                    "request_headers_to_add": [builders.peer_id_header(NODE_ID)],
                    "routes": [
                        {
                            "match": {"prefix": "/fault"},
                            "route": {"cluster": CLUSTER},
                            "typed_per_filter_config": {"envoy.filters.http.fault": fault},
                        },
                        {"match": {"prefix": "/"}, "route": {"cluster": CLUSTER}},
                    ],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.fault",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"},
            },
            ROUTER,
        ],
    }
    return {
        "node": _node(NODE_ID, "productpage", "v1"),
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ports["admin"]}}},
        "static_resources": {
            "clusters": [
                _static_cluster("xds-grpc", ports["als"], http2=True),
                _static_cluster("zipkin", ports["http"]),
                _static_cluster(CLUSTER, ports["inbound"]),
            ],
            "listeners": [_listener("outbound", ports["listen"], hcm)],
        },
    }


def _server_bootstrap(ports: dict[str, int]) -> dict[str, object]:
    """reviews-v1's sidecar: inbound listener (the registry endpoint) -> the app."""
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "inbound_9080",
        "codec_type": "AUTO",
        "access_log": builders.http_access_loggers("inbound"),
        "route_config": {
            "name": "inbound|9080||",
            "virtual_hosts": [
                {
                    "name": "inbound|http|9080",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "inbound|9080||"}}],
                }
            ],
        },
        "http_filters": [ROUTER],
    }
    return {
        "node": _node(SERVER_NODE_ID, "reviews", "v1"),
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ports["admin2"]}}},
        "static_resources": {
            "clusters": [
                _static_cluster("xds-grpc", ports["als"], http2=True),
                _static_cluster("inbound|9080||", ports["backend"]),
            ],
            "listeners": [_listener("inbound", ports["inbound"], hcm)],
        },
    }


class RecordingTelemetry(Telemetry):
    """Telemetry that also keeps the raw entries, to check what Envoy actually put in them."""

    def __init__(self, registry: RegistrySnapshot) -> None:
        super().__init__(lambda: registry)
        self.raw: list[accesslog_pb2.HTTPAccessLogEntry] = []

    def record_http(self, entry: accesslog_pb2.HTTPAccessLogEntry, node: Proxy) -> Facts:
        self.raw.append(entry)
        return super().record_http(entry, node)


class Rig:
    """Envoy plus our receivers, all on loopback."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {k: free_port() for k in ("listen", "admin", "admin2", "inbound", "als", "http", "backend")}
        registry = RegistrySnapshot(
            services=(Service(REVIEWS, "default", "reviews", (ServicePort(9080, "http", "HTTP"),)),),
            endpoints=(
                (
                    (REVIEWS, 9080),
                    (
                        Endpoint(
                            "127.0.0.1",
                            self.ports["inbound"],
                            9080,
                            (("app", "reviews"), ("version", "v1")),
                            "reviews-v1",
                            "default",
                        ),
                    ),
                ),
            ),
        )
        self.telemetry = RecordingTelemetry(registry)
        self.traces = TraceStore()
        self.span_auth: list[str] = []
        self.log_path = tmp / "access.log"


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    server = grpc.aio.server()
    AccessLogService(r.telemetry).add_to_server(server)  # the agent's part (the credential) is not in this rig
    server.add_insecure_port(f"127.0.0.1:{r.ports['als']}")
    await server.start()

    @web.middleware
    async def record_auth(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        r.span_auth.append(request.headers.get("authorization", ""))
        return await handler(request)

    api = web.Application(middlewares=[record_auth])
    routes.register(api, r.telemetry, routes.SpanIntake(r.traces))
    backend = web.Application()
    backend.router.add_get("/{tail:.*}", _ok)
    runners = [web.AppRunner(api), web.AppRunner(backend)]
    for runner, port in zip(runners, (r.ports["http"], r.ports["backend"]), strict=True):
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, config, admin in (
            ("client", _client_bootstrap(r.ports, r.log_path), r.ports["admin"]),
            ("server", _server_bootstrap(r.ports), r.ports["admin2"]),
        ):
            path = r.tmp / f"{name}.json"
            path.write_text(json.dumps(config))
            with open(r.tmp / f"{name}.err", "wb") as err:  # the child keeps its own descriptor
                procs.append(
                    subprocess.Popen(
                        [
                            str(find_envoy()),
                            "-c",
                            str(path),
                            "--concurrency",
                            "1",
                            "-l",
                            "warning",
                            "--disable-hot-restart",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
            await _wait_ready(admin, procs[-1], r.tmp / f"{name}.err")
        yield r
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for runner in runners:
            await runner.cleanup()
        await server.stop(None)


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _wait_ready(admin: int, proc: subprocess.Popen[bytes], err: Path) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            if proc.poll() is not None:
                raise AssertionError(f"envoy exited: {err.read_text()}")
            try:
                async with s.get(f"http://127.0.0.1:{admin}/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("envoy never became ready")


async def _until(check: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    assert check()


@pytest.mark.asyncio
async def test_envoy_streams_access_logs_spans_and_file_log(rig: Rig) -> None:
    """10 OK + 2 fault-aborted requests through Envoy show up as metrics, FI log lines and spans."""
    async with aiohttp.ClientSession() as s:
        for path in ["/ok"] * 10 + ["/fault"] * 2:
            async with s.get(f"http://127.0.0.1:{rig.ports['listen']}{path}", headers={"Host": "reviews:9080"}) as resp:
                await resp.read()
    requests = rig.telemetry.requests
    await _until(lambda: sum(requests.counters.values()) >= 22)  # 12 at the client, 10 at the server
    by_code = {labels[15]: (labels, n) for labels, n in requests.counters.items() if labels[0] == "source"}
    ok_labels, ok_count = by_code["200"]
    assert ok_count == 10
    labels = dict(zip(requests.label_names, ok_labels, strict=True))
    assert labels["reporter"] == "source" and labels["source_workload"] == "productpage-v1"
    assert labels["source_version"] == "v1" and labels["destination_workload"] == "reviews-v1"
    assert labels["destination_service"] == REVIEWS and labels["request_protocol"] == "http"
    fault_labels, fault_count = by_code["500"]
    assert fault_count == 2 and fault_labels[16] == "FI"
    inbound = [
        dict(zip(requests.label_names, labels, strict=True)) | {"n": str(n)}
        for labels, n in requests.counters.items()
        if labels[0] == "destination"
    ]
    assert inbound == [{**labels, "reporter": "destination", "connection_security_policy": "none", "n": "10"}]
    edge = next(
        e
        for e in rig.telemetry.graph(60)["edges"]  # type: ignore[attr-defined]
        if e["source"] == "workload:productpage-v1.default"
    )
    assert edge["requests"] == 12, rig.telemetry.graph(60)  # the server's entries are not counted a second time

    raw = next(e for e in rig.telemetry.raw if e.common_properties.custom_tags[builders.DIRECTION_TAG] == "outbound")
    assert len(raw.request.request_headers["x-b3-traceid"]) == 32  # tracing on, 128-bit ids
    # The upstream hop is plaintext: Envoy leaves the SAN tags out, so the client side names no principal.
    assert builders.UPSTREAM_PEER_SAN_TAG not in raw.common_properties.custom_tags
    assert labels["source_principal"] == labels["destination_principal"] == "unknown"

    await _until(lambda: rig.log_path.exists() and rig.log_path.read_text().count(" FI ") >= 2)
    line = next(ln for ln in rig.log_path.read_text().splitlines() if " FI " in ln)
    assert '"GET /fault HTTP/1.1" 500 FI fault_filter_abort' in line

    await _until(lambda: len(rig.traces) >= 12)
    assert rig.span_auth and all(a == "" for a in rig.span_auth)  # Envoy sends no credential with spans
    summary = rig.traces.recent(1)[0]
    assert summary["services"] == ["productpage-v1"]  # only the client sidecar traces in this rig
