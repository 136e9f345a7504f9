"""details and ratings: paths, JSON shapes and error answers as the originals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from mizzen.samples.bookinfo import details, ratings

from .conftest import serving


def _get(url: str, data: bytes | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_details_answers_the_fixed_record_in_the_original_key_order() -> None:
    """GET /details/0 returns the original's record with id as a number."""
    with serving(details.build_app()) as port:
        status, body = _get(f"http://127.0.0.1:{port}/details/0")
    assert status == 200
    assert isinstance(body, dict)
    assert list(body) == ["id", "author", "year", "type", "pages", "publisher", "language", "ISBN-10", "ISBN-13"]
    assert body["id"] == 0 and body["ISBN-10"] == "1234567890" and body["publisher"] == "PublisherA"


def test_details_rejects_a_non_numeric_id_and_reports_health() -> None:
    """A non-numeric id is a 400 with the original's message; /health says details is healthy."""
    with serving(details.build_app()) as port:
        assert _get(f"http://127.0.0.1:{port}/details/abc") == (400, {"error": "please provide numeric product id"})
        assert _get(f"http://127.0.0.1:{port}/health") == (200, {"status": "Details is healthy"})


def test_ratings_default_post_and_errors() -> None:
    """Ratings answers the default stars, stores POSTed ones, and rejects bad ids and bad JSON."""
    with serving(ratings.build_app()) as port:
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/ratings/0") == (200, {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})
        assert _get(f"{base}/ratings/7", b'{"Reviewer1": 1}') == (200, {"id": 7, "ratings": {"Reviewer1": 1}})
        assert _get(f"{base}/ratings/7") == (200, {"id": 7, "ratings": {"Reviewer1": 1}})
        assert _get(f"{base}/ratings/x") == (400, {"error": "please provide numeric product ID"})
        assert _get(f"{base}/ratings/1", b"{nope") == (400, {"error": "please provide valid ratings JSON"})
        assert _get(f"{base}/health") == (200, {"status": "Ratings is healthy"})


def test_unknown_path_is_404_and_wrong_method_405() -> None:
    """The router answers 404 for unknown paths and 405 for a known path with another method."""
    with serving(details.build_app()) as port:
        with pytest.raises(urllib.error.HTTPError) as not_found:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=5)
        assert not_found.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as wrong_method:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/health", data=b""), timeout=5)
        assert wrong_method.value.code == 405


def test_service_runs_as_a_module_on_the_port_from_env() -> None:
    """`python -m mizzen.samples.bookinfo.details` listens on $PORT."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mizzen.samples.bookinfo.details"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                assert _get(f"http://127.0.0.1:{port}/health") == (200, {"status": "Details is healthy"})
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
