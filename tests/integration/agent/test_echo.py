"""The echo backend over real loopback HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mizzen.testing.echo import EchoServer, serve


@pytest.fixture
def echo() -> Iterator[httpx.Client]:
    server: EchoServer = serve(0, workload="reviews-v2", version="v2")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}") as client:
            yield client
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_echoes_identity_and_request(echo: httpx.Client) -> None:
    """The answer names the workload and version and repeats method, path, query, headers and host."""
    resp = echo.post("/api/v1/x?user=jason&a=1", headers={"end-user": "jason"}, content=b"body")
    body = resp.json()
    assert resp.status_code == 200
    assert (body["workload"], body["version"], body["method"], body["path"]) == (
        "reviews-v2",
        "v2",
        "POST",
        "/api/v1/x",
    )
    assert body["query"] == {"user": "jason", "a": "1"}
    assert body["headers"]["end-user"] == "jason"
    assert body["host"] == echo.base_url.netloc.decode()


def test_status_from_query_or_header(echo: httpx.Client) -> None:
    """status=N in the query or x-echo-status answers with that status."""
    assert echo.get("/a?status=503").status_code == 503
    assert echo.get("/a", headers={"x-echo-status": "418"}).status_code == 418


def test_delay(echo: httpx.Client) -> None:
    """delay=S waits at least S seconds before answering."""
    start = time.monotonic()
    assert echo.get("/slow?delay=0.3").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_fail_first_then_succeed_per_path(echo: httpx.Client) -> None:
    """fail_first=N fails the first N requests of a path with 503, then answers 200; counts are per path."""
    codes = [echo.get("/flaky?fail_first=2").status_code for _ in range(4)]
    assert codes == [503, 503, 200, 200]
    assert echo.get("/other?fail_first=2").status_code == 503
    assert echo.get("/__count").json()["counts"] == {"/flaky": 4, "/other": 1}


def test_health(echo: httpx.Client) -> None:
    """/health answers 200 and is not counted."""
    assert echo.get("/health").status_code == 200
    assert echo.get("/__count").json()["counts"] == {}


def test_concurrent_requests(echo: httpx.Client) -> None:
    """Slow requests do not block each other's completion: 20 concurrent requests all succeed."""
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda i: echo.get(f"/c/{i}?delay=0.2").status_code, range(20)))
    assert codes == [200] * 20
