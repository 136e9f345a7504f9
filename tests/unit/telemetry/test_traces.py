"""The Zipkin receiver and trace store, over a real aiohttp test server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mizzen.telemetry import routes
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.traces import TraceError, TraceStore

TRACE = "463ac35c9f6413ad48485a3953bb6124"


def span(span_id: str, parent: str | None, node: str, start: int, duration: int, **tags: str) -> dict[str, object]:
    """A span as Envoy's Zipkin tracer posts it."""
    s: dict[str, object] = {
        "traceId": TRACE,
        "id": span_id,
        "name": f"{node}:9080/*",
        "timestamp": start,
        "duration": duration,
        "kind": "SERVER",
        "localEndpoint": {"serviceName": "", "ipv4": "127.0.0.1"},
        "tags": {"node_id": f"sidecar~127.0.0.1~{node}.default~default.svc.cluster.local", **tags},
    }
    if parent:
        s["parentId"] = parent
    return s


BATCH = [
    span("a1", None, "istio-ingressgateway", 1_000_000, 50_000, **{"http.status_code": "200"}),
    span("b2", "a1", "productpage-v1", 1_001_000, 45_000),
    span("c3", "b2", "reviews-v3", 1_010_000, 20_000),
    span("d4", "c3", "ratings-v1", 1_015_000, 5_000, **{"http.status_code": "503", "error": "true"}),
]


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    routes.register(app, Telemetry(), routes.SpanIntake(TraceStore(max_traces=3)))
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.asyncio
async def test_posted_spans_form_a_trace_with_summary(client: TestClient[web.Request, web.Application]) -> None:
    """POST /api/v2/spans answers 202; the trace lists its services, root, duration and error."""
    resp = await client.post("/api/v2/spans", json=BATCH)
    assert resp.status == 202
    traces = (await (await client.get("/api/mizzen/v1/traces")).json())["traces"]
    assert len(traces) == 1
    summary = traces[0]
    assert summary["rootService"] == "istio-ingressgateway"
    assert summary["services"] == ["istio-ingressgateway", "productpage-v1", "ratings-v1", "reviews-v3"]
    assert summary["spanCount"] == 4 and summary["durationMs"] == 50.0 and summary["error"] is True


@pytest.mark.asyncio
async def test_trace_detail_orders_spans_with_depth(client: TestClient[web.Request, web.Application]) -> None:
    """GET /traces/{id} gives spans by start time with their depth in the call tree."""
    await client.post("/api/v2/spans", json=BATCH[2:])
    await client.post("/api/v2/spans", json=BATCH[:2])  # spans of one trace arrive in any order
    detail = await (await client.get(f"/api/mizzen/v1/traces/{TRACE}")).json()
    assert [(s["service"], s["depth"]) for s in detail["spans"]] == [
        ("istio-ingressgateway", 0),
        ("productpage-v1", 1),
        ("reviews-v3", 2),
        ("ratings-v1", 3),
    ]
    assert (await client.get("/api/mizzen/v1/traces/ffff")).status == 404


@pytest.mark.asyncio
async def test_invalid_batch_is_rejected(client: TestClient[web.Request, web.Application]) -> None:
    """A body that is not a Zipkin v2 list is a 400."""
    assert (await client.post("/api/v2/spans", data=b"{nope")).status == 400
    assert (await client.post("/api/v2/spans", json={"traceId": "x"})).status == 400


def test_store_is_bounded_and_evicts_oldest() -> None:
    """Past max_traces, the least recently updated trace goes first."""
    store = TraceStore(max_traces=2)
    for i in range(3):
        store.add([{"traceId": f"{i:032x}", "id": "1", "timestamp": i}])
    assert len(store) == 2 and store.get(f"{0:032x}") is None and store.get(f"{2:032x}") is not None


def test_short_trace_ids_are_padded() -> None:
    """64-bit trace ids and their 128-bit zero-padded form name the same trace."""
    store = TraceStore()
    store.add([{"traceId": "48485a3953bb6124", "id": "1"}])
    assert store.get("000000000000000048485a3953bb6124") is not None


def test_spans_need_ids() -> None:
    """A span without traceId or id is an error."""
    with pytest.raises(TraceError):
        TraceStore().add([{"id": "1"}])


def test_forward_only_store_keeps_nothing() -> None:
    """keep=False (forward instead of keeping) stores no trace."""
    store = TraceStore(keep=False, forward_url="http://127.0.0.1:1/api/v2/spans")
    store.add(BATCH)
    assert len(store) == 0 and store.spans_received == 4


@pytest.mark.asyncio
async def test_spans_are_forwarded_to_an_external_collector() -> None:
    """With forward_url, every batch is re-posted unchanged to the external collector."""
    received: list[object] = []

    async def collector(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=202)

    external = web.Application()
    external.router.add_post("/api/v2/spans", collector)
    async with TestServer(external) as ext:
        app = web.Application()
        routes.register(app, Telemetry(), routes.SpanIntake(TraceStore(forward_url=str(ext.make_url("/api/v2/spans")))))
        async with TestClient(TestServer(app)) as c:
            assert (await c.post("/api/v2/spans", json=BATCH)).status == 202
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.02)
    assert received == [BATCH]


@pytest.mark.asyncio
async def test_graph_and_service_endpoints_answer_json(client: TestClient[web.Request, web.Application]) -> None:
    """The graph and service-metrics endpoints return JSON and validate their window."""
    graph = await (await client.get("/api/mizzen/v1/graph?window=30")).json()
    assert graph["nodes"] == [] and graph["window"] == 30
    series = await (await client.get("/api/mizzen/v1/services/reviews/metrics")).json()
    assert series["found"] is False
    assert (await client.get("/api/mizzen/v1/graph?window=abc")).status == 400


def test_intake_counts_each_batch_by_way_in_and_result() -> None:
    """SpanIntake stores a valid batch and tells ``count`` how each batch came and whether it was one."""
    seen: list[tuple[str, str]] = []
    store = TraceStore()
    intake = routes.SpanIntake(store, count=lambda via, result: seen.append((via, result)))
    intake.receive(b'[{"traceId": "7", "id": "a"}]', "channel")
    with pytest.raises(ValueError):
        intake.receive(b"{nope", "channel")
    with pytest.raises(TraceError):
        intake.receive(b'[{"id": "a"}]', "http")
    assert seen == [("channel", "ok"), ("channel", "invalid"), ("http", "invalid")]
    assert store.get("7") is not None and len(store) == 1
