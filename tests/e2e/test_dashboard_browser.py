"""Headless Chromium drives the dashboard over Bookinfo-shaped traffic fed through Telemetry.record_http.

The data path below the browser is the real one (ALS entries -> Telemetry -> graph/series API ->
dashboard JS); only the traffic is generated here instead of by Envoy. Screenshots go to artifacts/.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from envoy.data.accesslog.v3.accesslog_pb2 import HTTPAccessLogEntry

from mizzen import dashboard
from mizzen.dashboard.sessions import Sessions
from mizzen.node import Proxy
from mizzen.registry.model import Endpoint, RegistrySnapshot, Service, ServicePort
from mizzen.telemetry import routes
from mizzen.telemetry.entries import http_entry
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.traces import TraceStore

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TOKEN = "browser-test-token"
TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)"
    ),
]

WORKLOADS = {  # name -> (app, version, sidecar inbound port)
    "productpage-v1": ("productpage", "v1", 21000),
    "details-v1": ("details", "v1", 21001),
    "reviews-v1": ("reviews", "v1", 21002),
    "reviews-v3": ("reviews", "v3", 21003),
    "ratings-v1": ("ratings", "v1", 21004),
}
GATEWAY = Proxy(
    id="istio-ingressgateway.istio-system",
    type="router",
    name="istio-ingressgateway",
    namespace="istio-system",
    labels={"app": "istio-ingressgateway", "istio": "ingressgateway"},
)


def fqdn(app: str) -> str:
    return f"{app}.default.svc.cluster.local"


def registry() -> RegistrySnapshot:
    services = tuple(
        Service(fqdn(a), "default", a, (ServicePort(9080, "http", "HTTP"),))
        for a in ("productpage", "details", "reviews", "ratings")
    )
    endpoints = []
    for app in ("productpage", "details", "reviews", "ratings"):
        eps = tuple(
            Endpoint("127.0.0.1", port, 9080, (("app", a), ("version", v)), name, "default")
            for name, (a, v, port) in WORKLOADS.items()
            if a == app
        )
        endpoints.append(((fqdn(app), 9080), eps))
    return RegistrySnapshot(services=services, endpoints=tuple(endpoints))


def sidecar(name: str) -> Proxy:
    app, version, _ = WORKLOADS[name]
    return Proxy(
        id=f"{name}.default", type="sidecar", name=name, namespace="default", labels={"app": app, "version": version}
    )


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def drive(telemetry: Telemetry, clock: Clock, requests: int) -> None:
    """Bookinfo with reviews 50/50 v1/v3, spread over the last few minutes."""
    call = telemetry.record_http
    for i in range(requests):
        clock.offset = -180 + 180 * i / requests
        version = "reviews-v1" if i % 2 else "reviews-v3"
        call(_out("productpage", "productpage-v1", 25 + i % 7), GATEWAY)
        call(_out("details", "details-v1", 3), sidecar("productpage-v1"))
        call(_out("reviews", version, 8 + i % 5), sidecar("productpage-v1"))
        call(_in("reviews", version, sidecar("productpage-v1")), sidecar(version))  # its server side, over mTLS
        if version == "reviews-v3":
            denied = i % 40 == 0  # ratings' AuthorizationPolicy refuses some: 403 from its sidecar
            call(_out("ratings", "ratings-v1", 2, code=403 if denied else 200), sidecar("reviews-v3"))
            call(_in("ratings", "ratings-v1", sidecar("reviews-v3"), denied=denied), sidecar("ratings-v1"))
    clock.offset = 0.0


def _in(app: str, workload: str, peer: Proxy, *, denied: bool = False) -> HTTPAccessLogEntry:
    """The server sidecar's entry of a hop: mTLS (both certificates' SPIFFE IDs), maybe an RBAC denial."""
    port = WORKLOADS[workload][2]
    entry = http_entry(
        "inbound", local=("127.0.0.1", port), authority=f"{app}:9080", peer=peer, code=403 if denied else 200
    )
    entry.response.response_code_details = "rbac_access_denied_matched_policy[none]" if denied else "via_upstream"
    tls = entry.common_properties.tls_properties
    tls.peer_certificate_properties.subject_alt_name.add().uri = f"spiffe://cluster.local/ns/default/sa/{peer.name}"
    tls.local_certificate_properties.subject_alt_name.add().uri = f"spiffe://cluster.local/ns/default/sa/{app}"
    return entry


def _out(app: str, workload: str, ms: float, code: int = 200) -> object:
    _, version, port = WORKLOADS[workload]
    return http_entry(
        "outbound",
        cluster=f"outbound|9080|{version}|{fqdn(app)}",
        upstream=("127.0.0.1", port),
        duration_ms=ms,
        code=code,
    )


def trace_spans() -> list[dict[str, object]]:
    start = int(time.time() * 1e6) - 2_000_000
    chain = [
        ("istio-ingressgateway.istio-system", "router", 40_000),
        ("productpage-v1.default", "sidecar", 35_000),
        ("reviews-v3.default", "sidecar", 15_000),
        ("ratings-v1.default", "sidecar", 4_000),
    ]
    spans, parent = [], None
    for i, (proxy, kind, duration) in enumerate(chain):
        span_id = f"{i + 1:016x}"
        spans.append(
            {
                "traceId": TRACE_ID,
                "id": span_id,
                "parentId": parent,
                "kind": "SERVER",
                "name": f"{proxy.split('-')[0]}.default.svc.cluster.local:9080/*",
                "timestamp": start + i * 3000,
                "duration": duration,
                "localEndpoint": {"serviceName": proxy.split(".")[0]},
                "tags": {"node_id": f"{kind}~127.0.0.1~{proxy}~default.svc.cluster.local", "http.status_code": "200"},
            }
        )
        parent = span_id
    return [s for s in spans if s["parentId"] is not None] + [{k: v for k, v in spans[0].items() if k != "parentId"}]


@web.middleware
async def auth(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    public = request.path in dashboard.PUBLIC_PATHS or request.path.startswith(dashboard.PUBLIC_PREFIXES)
    if public or dashboard.session_of(request) is not None:
        return await handler(request)
    return web.json_response({"message": "Unauthorized"}, status=401)


async def proxies(_request: web.Request) -> web.Response:
    """The shape the control plane's /api/mizzen/v1/proxies answers with."""
    items = [
        {
            "id": p,
            "type": "router" if p.startswith("istio") else "sidecar",
            "envoyVersion": "1.40.0",
            "xds": {t: {"status": "SYNCED"} for t in ("CDS", "LDS", "EDS", "RDS")},
        }
        for p in ["istio-ingressgateway.istio-system", *(f"{w}.default" for w in WORKLOADS)]
    ]
    return web.json_response({"items": items})


async def virtualservices(_request: web.Request) -> web.Response:
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": "default"},
        "spec": {
            "hosts": ["reviews"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "reviews", "subset": "v1"}, "weight": 50},
                        {"destination": {"host": "reviews", "subset": "v3"}, "weight": 50},
                    ]
                }
            ],
        },
    }
    return web.json_response({"kind": "VirtualServiceList", "items": [vs]})


class Site:
    """The running test server and the telemetry behind it (to add traffic while the page is open)."""

    def __init__(self, url: str, telemetry: Telemetry) -> None:
        self.url, self.telemetry = url, telemetry


@pytest_asyncio.fixture
async def site() -> AsyncIterator[Site]:
    clock = Clock()
    snapshot = registry()
    telemetry = Telemetry(lambda: snapshot, clock=clock)
    traces = TraceStore()
    drive(telemetry, clock, 240)
    traces.add(trace_spans())
    app = web.Application(middlewares=[auth])
    dashboard.register(app, Sessions(lambda t: "admin" if t == TOKEN else None), lambda _request: "admin")
    routes.register(app, telemetry, routes.SpanIntake(traces))
    app.router.add_get("/api/mizzen/v1/proxies", proxies)
    app.router.add_get("/apis/networking.istio.io/v1/virtualservices", virtualservices)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Site(f"http://127.0.0.1:{port}", telemetry)
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_dashboard_shows_graph_service_charts_and_trace(site: Site) -> None:
    """Log in, see the Bookinfo graph with a 50/50 reviews split, a service's charts and a trace timeline."""
    base_url = site.url
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(base_url + "/")
            await page.get_by_test_id("login-token").fill(TOKEN)
            await page.get_by_test_id("login-submit").click()

            node = page.locator('[data-testid="graph-node"]')
            await node.first.wait_for()
            ids = set(await node.evaluate_all("els => els.map(e => e.dataset.nodeId)"))
            assert {
                "gateway:istio-ingressgateway.istio-system",
                f"service:{fqdn('reviews')}",
                "workload:reviews-v1.default",
                "workload:reviews-v3.default",
                "workload:ratings-v1.default",
                f"service:{fqdn('productpage')}",
                "workload:productpage-v1.default",
            } <= ids
            edge = f'[data-testid="graph-edge"][data-source="service:{fqdn("reviews")}"]'
            assert await page.locator(edge).count() == 2
            shares = page.locator(f'[data-testid="edge-share"][data-source="service:{fqdn("reviews")}"]')
            values = [float(v) for v in await shares.evaluate_all("els => els.map(e => e.dataset.share)")]
            assert len(values) == 2 and all(abs(v - 0.5) < 0.05 for v in values), values
            assert all(t.endswith("%") for t in await shares.all_text_contents())
            # Security: the reviews hops arrived over mTLS (a lock on the edge); ratings denied some requests.
            security = await page.locator(edge).evaluate_all("els => els.map(e => e.dataset.security)")
            assert security == ["mutual_tls", "mutual_tls"], security
            label = page.locator(f'[data-testid="edge-label"][data-source="service:{fqdn("reviews")}"]').first
            assert "🔒 mTLS" in await label.text_content()
            ratings = page.locator(f'[data-testid="graph-edge"][data-target="service:{fqdn("ratings")}"]')
            assert int(await ratings.get_attribute("data-denied") or 0) > 0
            denied_label = page.locator(f'[data-testid="edge-label"][data-target="service:{fqdn("ratings")}"]')
            assert "denied" in (await denied_label.text_content() or "")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-graph.png"), full_page=True)

            # Live refresh: shift traffic to v3 while the page is open; the shown share follows.
            for _ in range(200):
                site.telemetry.record_http(_out("reviews", "reviews-v3", 9), sidecar("productpage-v1"))
            v3_share = '[data-testid="edge-share"][data-target="workload:reviews-v3.default"]'
            await page.wait_for_function(
                "sel => { const el = document.querySelector(sel); return el && Number(el.dataset.share) > 0.7; }",
                arg=v3_share,
                timeout=10000,
            )

            await page.locator(f'[data-testid="graph-node"][data-node-id="service:{fqdn("reviews")}"]').click()
            await page.get_by_test_id("chart-latency").wait_for()
            for chart in ("chart-rps", "chart-errors", "chart-latency"):
                assert await page.locator(f'[data-testid="{chart}"] path.line').count() >= 1
            assert set(
                await page.locator('[data-testid="chart-rps"] path.line').evaluate_all(
                    "els => els.map(e => e.dataset.series)"
                )
            ) == {"total", "v1", "v3"}
            await page.screenshot(path=str(ARTIFACTS / "dashboard-service.png"), full_page=True)

            await page.goto(base_url + "/#/traces")
            await page.locator(f'[data-testid="trace-row"][data-trace-id="{TRACE_ID}"] a').click()
            spans = page.locator('[data-testid="trace-span"]')
            await spans.first.wait_for()
            assert await spans.evaluate_all("els => els.map(e => e.dataset.service)") == [
                "istio-ingressgateway",
                "productpage-v1",
                "reviews-v3",
                "ratings-v1",
            ]
            await page.screenshot(path=str(ARTIFACTS / "dashboard-trace.png"), full_page=True)

            await page.goto(base_url + "/#/services")
            await page.locator('[data-testid="service-row"]').first.wait_for()
            assert await page.locator('[data-testid="service-row"]').count() == 4

            await page.goto(base_url + "/#/proxies")
            await page.locator('[data-testid="proxy-row"]').first.wait_for()
            assert await page.locator('[data-testid="sync-CDS"]').first.inner_text() == "SYNCED"
            await page.goto(base_url + "/#/config")
            await page.locator('[data-testid="config-resource"]').first.click()
            assert "weight: 50" in await page.locator("pre.yaml").first.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "dashboard-config.png"), full_page=True)

            # The browser holds a session id, never the token; logging out revokes it server-side.
            [cookie] = [c for c in await page.context.cookies() if c["name"] == dashboard.COOKIE_NAME]
            assert cookie["value"] != TOKEN and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            await page.locator("#logout").click()
            await page.get_by_test_id("login-token").wait_for()
            async with aiohttp.ClientSession() as replay:
                headers = {"Cookie": f"{dashboard.COOKIE_NAME}={cookie['value']}"}
                async with replay.get(base_url + "/api/mizzen/v1/proxies", headers=headers) as resp:
                    assert resp.status == 401
        finally:
            await browser.close()
