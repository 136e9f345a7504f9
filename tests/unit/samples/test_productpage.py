"""productpage: page content per reviews version, error texts, login and header propagation, timeouts."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from mizzen.samples.bookinfo import details, productpage, ratings, reviews
from mizzen.samples.bookinfo._http import App, json_response
from mizzen.samples.bookinfo.productpage import ProductPageConfig
from mizzen.samples.bookinfo.reviews import ReviewsConfig
from mizzen.samples.bookinfo.session import SessionCodec

from .conftest import Recorder, serving, wrap_recording

STAR = "glyphicon glyphicon-star"


@dataclass
class Mesh:
    """A productpage with its backends, each on its own loopback port (no sidecars)."""

    port: int
    reviews_seen: Recorder
    ratings_seen: Recorder

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """GET ``path``; returns status, lower-cased headers and body."""
        return self.request("GET", path, headers=headers)

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        """One request on a fresh connection (no redirects followed)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        finally:
            conn.close()


def _env(**ports: int) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, port in ports.items():
        env[f"{name.upper()}_HOSTNAME"] = "127.0.0.1"
        env[f"{name.upper()}_SERVICE_PORT"] = str(port)
    return env


@contextmanager
def mesh(
    version: str = "v2",
    *,
    details_app: App | None = None,
    reviews_app: App | None = None,
    reviews_down: bool = False,
    details_down: bool = False,
) -> Iterator[Mesh]:
    """Start ratings, reviews ``version`` (or ``reviews_app``), details and productpage."""
    reviews_seen, ratings_seen = Recorder(), Recorder()
    with ExitStack() as stack:
        with serving(ratings.build_app()) as dead:
            pass  # a port nothing listens on, for a backend that is down
        ratings_port = stack.enter_context(serving(wrap_recording(ratings.build_app(), ratings_seen)))
        config = ReviewsConfig.from_env(
            {**_env(ratings=ratings_port), "MIZZEN_WORKLOAD": f"reviews-{version}"}, version
        )
        app = reviews_app or reviews.build_app(config)
        reviews_port = dead if reviews_down else stack.enter_context(serving(wrap_recording(app, reviews_seen)))
        details_port = dead if details_down else stack.enter_context(serving(details_app or details.build_app()))
        env = _env(details=details_port, reviews=reviews_port, ratings=ratings_port)
        port = stack.enter_context(serving(productpage.build_app(ProductPageConfig.from_env(env))))
        yield Mesh(port, reviews_seen, ratings_seen)


def _login(m: Mesh, user: str) -> str:
    status, headers, _ = m.request(
        "POST",
        "/login",
        f"username={user}&passwd=password",
        {"Content-Type": "application/x-www-form-urlencoded", "Referer": "http://example/productpage"},
    )
    assert status == 302 and headers["location"] == "http://example/productpage"
    cookie = headers["set-cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "Path=/" in cookie
    return cookie.split(";")[0]


def test_title_and_v1_page_without_stars() -> None:
    """With reviews v1 the page has the title, both reviews, no stars and who served them."""
    with mesh("v1") as m:
        status, headers, page = m.get("/productpage")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "<title>Simple Bookstore App</title>" in page
    assert "The Comedy of Errors" in page and "Book Details" in page and "1234567890" in page
    assert "Book Reviews" in page and "Reviewer1" in page and "Reviewer2" in page
    assert STAR not in page
    assert page.count("Reviews served by: reviews-v1") == 2


@pytest.mark.parametrize(("version", "css"), [("v2", "text-black-500"), ("v3", "text-red-500")])
def test_v2_black_and_v3_red_stars(version: str, css: str) -> None:
    """v2 shows 5+4 black filled stars (9 star elements), v3 the same in red."""
    with mesh(version) as m:
        _, _, page = m.get("/productpage")
    assert page.count(STAR) == 9
    assert page.count(f'<div class="flex gap-x-1 {css}">') == 2
    assert f"Reviews served by: reviews-{version}" in page


def test_details_down_shows_details_error_and_reviews_still_render() -> None:
    """Unreachable details: the details error texts, while reviews render with stars."""
    with mesh("v2", details_down=True) as m:
        status, _, page = m.get("/productpage")
    assert status == 200
    assert "Error fetching product details" in page
    assert "Sorry, product details are currently unavailable for this book." in page
    assert "Book Details" not in page and page.count(STAR) == 9


def test_details_error_status_is_shown_as_error() -> None:
    """A details answer other than 200 (the 555 fault) is a details error too."""
    broken = Recorder(respond=lambda _r: json_response({"error": "fault"}, 555))
    with mesh("v1", details_app=broken.app()) as m:
        _, _, page = m.get("/productpage")
        _, _, metrics = m.get("/metrics")
    assert "Error fetching product details" in page
    assert 'request_result_total{destination_app="details",response_code="555"} 1.0' in metrics


def test_reviews_down_shows_reviews_error() -> None:
    """Unreachable reviews: the reviews error texts; the page is still a 200 with details."""
    with mesh("v2", reviews_down=True) as m:
        status, _, page = m.get("/productpage")
    assert status == 200 and "Book Details" in page
    assert "Error fetching product reviews" in page
    assert "Sorry, product reviews are currently unavailable for this book." in page


def test_ratings_error_text_is_rendered_per_review() -> None:
    """When reviews reports ratings unavailable, each review shows the ratings error and no stars."""
    body = {
        "id": "0",
        "podname": "reviews-v2",
        "clustername": "null",
        "reviews": [
            {"reviewer": "Reviewer1", "text": "t1", "rating": {"error": "Ratings service is currently unavailable"}},
            {"reviewer": "Reviewer2", "text": "t2", "rating": {"error": "Ratings service is currently unavailable"}},
        ],
    }
    stub = Recorder(respond=lambda _r: json_response(body))
    with mesh(reviews_app=stub.app()) as m:
        _, _, page = m.get("/productpage")
    assert page.count("Ratings service is currently unavailable") == 2 and STAR not in page


def test_reviews_loop_retries_a_failed_attempt_once() -> None:
    """A failed first reviews attempt (503) is retried once; the second answer is shown."""
    good = reviews.reviews_body(ReviewsConfig(version="v1", pod_name="reviews-v1"), 0, {})
    answers = [json_response({"error": "x"}, 503), json_response(good)]
    stub = Recorder(respond=lambda _r: answers.pop(0))
    with mesh(reviews_app=stub.app()) as m:
        _, _, page = m.get("/productpage")
    assert len(m.reviews_seen.requests) == 2
    assert "Book Reviews" in page and "Error fetching product reviews" not in page


def test_reviews_failing_twice_reports_last_status_in_metrics() -> None:
    """Two failed attempts show the reviews error; /metrics counts the last status."""
    stub = Recorder(respond=lambda _r: json_response({"error": "x"}, 503))
    with mesh(reviews_app=stub.app()) as m:
        _, _, page = m.get("/productpage")
        _, _, metrics = m.get("/metrics")
    assert len(m.reviews_seen.requests) == 2 and "Error fetching product reviews" in page
    assert 'request_result_total{destination_app="reviews",response_code="503"} 1.0' in metrics
    assert 'request_result_total{destination_app="details",response_code="200"} 1.0' in metrics


@pytest.mark.slow
def test_reviews_timeout_is_3_seconds_times_2_attempts() -> None:
    """A reviews that takes 4 s is abandoned after 3 s, twice: the error page arrives after about 6 s."""
    slow = Recorder(delay=4.0, respond=lambda _r: json_response({}))
    with mesh(reviews_app=slow.app()) as m:
        started = time.monotonic()
        _, _, page = m.get("/productpage")
        elapsed = time.monotonic() - started
    assert 5.8 <= elapsed < 7.9
    assert len(m.reviews_seen.requests) == 2
    assert "Sorry, product reviews are currently unavailable for this book." in page


def test_login_sets_session_and_end_user_reaches_reviews_and_ratings() -> None:
    """After login as jason the page shows the user, and reviews and ratings receive end-user: jason."""
    with mesh("v2") as m:
        cookie = _login(m, "jason")
        _, _, page = m.get("/productpage", {"Cookie": cookie})
    assert "jason" in page and "Sign out" in page
    assert m.reviews_seen.requests[-1].headers.get("end-user") == "jason"
    assert m.ratings_seen.requests[-1].headers.get("end-user") == "jason"
    assert m.reviews_seen.requests[-1].headers.get("cookie") == cookie


def test_anonymous_and_forged_sessions_send_no_end_user() -> None:
    """No cookie, a forged cookie or an incoming end-user header give no end-user towards reviews."""
    forged = "session=" + SessionCodec(b"other-key").dumps({"user": "jason"})
    with mesh("v1") as m:
        _, _, anonymous = m.get("/productpage", {"end-user": "jason"})
        m.get("/productpage", {"Cookie": forged})
    assert "Sign in" in anonymous
    assert all("end-user" not in r.headers for r in m.reviews_seen.requests)


def test_logout_clears_the_session() -> None:
    """Logout expires the session cookie and redirects back."""
    with mesh("v1") as m:
        cookie = _login(m, "jason")
        status, headers, _ = m.get("/logout", {"Cookie": cookie, "Referer": "/productpage"})
    assert status == 302 and headers["location"] == "/productpage"
    assert headers["set-cookie"].startswith("session=;") and "Max-Age=0" in headers["set-cookie"]


def test_login_without_referrer_redirects_to_the_product_page() -> None:
    """A login posted by curl (no Referer) still sets the cookie and redirects to /productpage."""
    with mesh("v1") as m:
        status, headers, _ = m.request(
            "POST", "/login", "username=jason&passwd=x", {"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert status == 302 and headers["location"] == "/productpage" and headers["set-cookie"].startswith("session=")


def test_trace_headers_are_propagated() -> None:
    """B3 context is re-injected (64-bit trace id padded, sampled normalised) and x-request-id copied."""
    with mesh("v1") as m:
        m.get(
            "/productpage",
            {
                "x-b3-traceid": "1" * 16,
                "x-b3-spanid": "2" * 16,
                "x-b3-sampled": "true",
                "x-request-id": "req-9",
                "traceparent": "00-" + "3" * 32 + "-" + "4" * 16 + "-01",
            },
        )
    sent = m.reviews_seen.requests[-1].headers
    assert sent["x-b3-traceid"] == "0" * 16 + "1" * 16 and sent["x-b3-spanid"] == "2" * 16
    assert sent["x-b3-sampled"] == "1" and sent["x-request-id"] == "req-9"
    assert sent["traceparent"].startswith("00-333")


def _json(m: Mesh, path: str) -> tuple[int, Any]:
    status, _, body = m.get(path)
    return status, json.loads(body)


def test_api_routes_proxy_the_backends() -> None:
    """The /api/v1/products routes answer the catalogue and proxy details, reviews and ratings."""
    with mesh("v3") as m:
        status, products = _json(m, "/api/v1/products")
        assert status == 200 and products[0]["id"] == 0 and products[0]["title"] == "The Comedy of Errors"
        assert _json(m, "/api/v1/products/0")[1]["ISBN-13"] == "123-1234567890"
        assert _json(m, "/api/v1/products/0/reviews")[1]["reviews"][0]["rating"]["color"] == "red"
        assert _json(m, "/api/v1/products/0/ratings") == (200, {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})


def test_health_landing_page_and_stylesheet() -> None:
    """/health, the landing page (service tree, user links) and the stylesheet are served."""
    with mesh("v1") as m:
        assert m.get("/health")[::2] == (200, "Product page is healthy")
        status, _, index = m.get("/")
        assert status == 200 and "simple bookstore application" in index and "/productpage?u=test" in index
        status, headers, css = m.get("/static/bookinfo.css")
        assert status == 200 and headers["content-type"].startswith("text/css") and STAR not in css
        assert m.get("/static/missing.png")[0] == 404
