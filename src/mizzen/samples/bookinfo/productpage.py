"""productpage: the Bookinfo web page (the original is Python/Flask).

``/productpage`` calls details, then reviews, and renders both; it always answers 200, showing backend
failures in the page. The client behaviour is the point of the sample and is kept exactly:

- details: one attempt, 3 s timeout;
- reviews: a loop of two attempts with a 3 s timeout each (the original's deliberate "bug", which makes
  the fault-injection lesson fail after about 6 s);
- ratings (API route only): one attempt, 3 s.

Each call carries the forwarded headers: B3 trace context, ``end-user`` when signed in (taken from the
signed ``session`` cookie, never copied from the request), and the original's copy list.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mizzen.samples.bookinfo import page
from mizzen.samples.bookinfo._http import (
    App,
    Request,
    Response,
    fetch,
    json_response,
    pick_headers,
    run_main,
    service_url,
    text_response,
)
from mizzen.samples.bookinfo.session import SessionCodec

#: Headers copied verbatim from the incoming request (the original's list).
COPIED_HEADERS = (
    "x-request-id",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "traceparent",
    "tracestate",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "sw8",
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)

DETAILS_ERROR = "Sorry, product details are currently unavailable for this book."
REVIEWS_ERROR = "Sorry, product reviews are currently unavailable for this book."
RATINGS_ERROR = "Sorry, product ratings are currently unavailable for this book."
BACKEND_TIMEOUT = 3.0
REVIEWS_ATTEMPTS = 2

PRODUCTS = [
    {
        "id": 0,
        "title": "The Comedy of Errors",
        "descriptionHtml": '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: '
        "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his "
        "shortest and one of his most farcical comedies, with a major part of the humour "
        "coming from slapstick and mistaken identity, in addition to puns and word play.",
    }
]

_HEX16 = re.compile(r"[0-9a-f]{16}")
_TRACE_ID = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


def b3_headers(incoming: Mapping[str, str]) -> dict[str, str]:
    """The B3 multi-header context re-injected from the incoming one (as OpenTelemetry's propagator does).

    Trace and span id carry over (a 64-bit trace id is padded to 128 bits); ``x-b3-sampled`` becomes
    ``1`` or ``0``; an invalid context is dropped entirely.
    """
    trace = incoming.get("x-b3-traceid", "").lower()
    span = incoming.get("x-b3-spanid", "").lower()
    if not (_TRACE_ID.fullmatch(trace) and _HEX16.fullmatch(span)):
        return {}
    sampled = incoming.get("x-b3-sampled", "").lower() in ("1", "true", "d")
    sampled = sampled or incoming.get("x-b3-flags") == "1"
    return {"x-b3-traceid": trace.rjust(32, "0"), "x-b3-spanid": span, "x-b3-sampled": "1" if sampled else "0"}


@dataclass
class Metrics:
    """The ``request_result`` counter by destination app and response code."""

    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inc(self, app: str, code: int) -> None:
        """Count one backend call outcome."""
        with self.lock:
            self.counts[(app, code)] = self.counts.get((app, code), 0) + 1

    def exposition(self) -> str:
        """Prometheus text exposition."""
        lines = ["# HELP request_result_total Request result", "# TYPE request_result_total counter"]
        with self.lock:
            for (app, code), n in sorted(self.counts.items()):
                lines.append(f'request_result_total{{destination_app="{app}",response_code="{code}"}} {n}.0')
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ProductPageConfig:
    """Where the backends are and how the page behaves."""

    details_url: str = "http://details:9080"
    reviews_url: str = "http://reviews:9080"
    ratings_url: str = "http://ratings:9080"
    flood_factor: int = 0
    secret: bytes = b""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ProductPageConfig:
        """The original's ``<SVC>_HOSTNAME``/``<SVC>_SERVICE_PORT``/``SERVICES_DOMAIN``/``FLOOD_FACTOR``."""
        return cls(
            details_url=service_url(environ, "details"),
            reviews_url=service_url(environ, "reviews"),
            ratings_url=service_url(environ, "ratings"),
            flood_factor=int(environ.get("FLOOD_FACTOR") or 0),
            secret=environ.get("BOOKINFO_SECRET_KEY", "").encode(),
        )


class Backends:
    """The productpage's calls to details, reviews and ratings, with the original's timeouts and loop."""

    def __init__(self, config: ProductPageConfig, metrics: Metrics) -> None:
        self._config = config
        self._metrics = metrics

    def _result(self, app: str, status: int | None, body: Any, error: str) -> tuple[int, dict[str, Any]]:
        if status == 200 and isinstance(body, dict):
            self._metrics.inc(app, 200)
            return 200, body
        code = status if status and status != 200 else 500
        self._metrics.inc(app, code)
        return code, {"error": error}

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            return None

    def details(self, product_id: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """details, one attempt of at most 3 s."""
        got = fetch(f"{self._config.details_url}/details/{product_id}", headers, BACKEND_TIMEOUT)
        return self._result("details", got.status, self._json(got.body) if got.status == 200 else None, DETAILS_ERROR)

    def reviews(self, product_id: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """reviews, two attempts of at most 3 s each (kept on purpose: the fault lesson relies on it)."""
        status: int | None = None
        for _ in range(REVIEWS_ATTEMPTS):
            got = fetch(f"{self._config.reviews_url}/reviews/{product_id}", headers, BACKEND_TIMEOUT)
            status = got.status
            body = self._json(got.body) if got.status == 200 else None
            if isinstance(body, dict):
                return self._result("reviews", 200, body, REVIEWS_ERROR)
        return self._result("reviews", status, None, REVIEWS_ERROR)

    def ratings(self, product_id: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """ratings (API route only), one attempt of at most 3 s."""
        got = fetch(f"{self._config.ratings_url}/ratings/{product_id}", headers, BACKEND_TIMEOUT)
        return self._result("ratings", got.status, self._json(got.body) if got.status == 200 else None, RATINGS_ERROR)

    def flood(self, product_id: str, headers: Mapping[str, str]) -> None:
        """Fire ``FLOOD_FACTOR`` extra reviews calls without waiting for them (load generation)."""
        for _ in range(self._config.flood_factor):
            threading.Thread(
                target=fetch,
                daemon=True,
                args=(f"{self._config.reviews_url}/reviews/{product_id}", headers, BACKEND_TIMEOUT),
            ).start()


def _redirect_back(request: Request, set_cookie: str) -> Response:
    # The original redirects to the referrer; without one (curl) we go to the product page.
    location = request.headers.get("referer") or "/productpage"
    headers = [("Location", location), ("Set-Cookie", set_cookie)]
    return Response(302, b"", "text/html; charset=utf-8", headers)


class _Handlers:
    """The productpage's request handlers over its backends and session cookies."""

    def __init__(self, config: ProductPageConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.backends = Backends(config, self.metrics)
        self.sessions = SessionCodec(config.secret) if config.secret else SessionCodec()

    def session_user(self, request: Request) -> str:
        user = self.sessions.from_cookie_header(request.headers.get("cookie", "")).get("user")
        return user if isinstance(user, str) else ""

    def forward_headers(self, request: Request) -> dict[str, str]:
        headers = b3_headers(request.headers)
        user = self.session_user(request)
        if user:
            headers["end-user"] = user
        headers.update(pick_headers(request.headers, COPIED_HEADERS))
        return headers

    def index(self, _: Request) -> Response:
        c = self.config
        tree = {
            "name": "http://localhost:9080",
            "endpoint": "productpage",
            "children": [
                {"name": c.details_url, "endpoint": "details", "children": []},
                {
                    "name": c.reviews_url,
                    "endpoint": "reviews",
                    "children": [{"name": c.ratings_url, "endpoint": "ratings", "children": []}],
                },
            ],
        }
        return text_response(page.index_page(tree), content_type="text/html; charset=utf-8")

    def health(self, _: Request) -> Response:
        return text_response("Product page is healthy")

    def login(self, request: Request) -> Response:
        user = request.form().get("username", "")
        return _redirect_back(request, self.sessions.set_cookie({"user": user} if user else {}))

    def logout(self, request: Request) -> Response:
        return _redirect_back(request, self.sessions.set_cookie({}))

    def productpage(self, request: Request) -> Response:
        headers = self.forward_headers(request)
        details_status, details = self.backends.details("0", headers)
        if self.config.flood_factor > 0:
            self.backends.flood("0", headers)
        reviews_status, reviews = self.backends.reviews("0", headers)
        user = self.session_user(request)
        html = page.product_page(PRODUCTS[0], user, details_status, details, reviews_status, reviews)
        return text_response(html, content_type="text/html; charset=utf-8")

    def products(self, _: Request) -> Response:
        return json_response(PRODUCTS)

    def product(self, request: Request) -> Response:
        status, body = self.backends.details(request.params["id"], self.forward_headers(request))
        return json_response(body, status)

    def product_reviews(self, request: Request) -> Response:
        status, body = self.backends.reviews(request.params["id"], self.forward_headers(request))
        return json_response(body, status)

    def product_ratings(self, request: Request) -> Response:
        status, body = self.backends.ratings(request.params["id"], self.forward_headers(request))
        return json_response(body, status)

    def prometheus(self, _: Request) -> Response:
        return text_response(self.metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")

    def stylesheet(self, _: Request) -> Response:
        return text_response(page.asset("bookinfo.css"), content_type="text/css; charset=utf-8")


def build_app(config: ProductPageConfig) -> App:
    """The productpage's routes."""
    app, h = App("productpage"), _Handlers(config)
    for method, path, handler in (
        ("GET", r"/|/index\.html", h.index),
        ("GET", r"/health", h.health),
        ("POST", r"/login", h.login),
        ("GET", r"/logout", h.logout),
        ("GET", r"/productpage", h.productpage),
        ("GET", r"/api/v1/products", h.products),
        ("GET", r"/api/v1/products/(?P<id>[^/]+)", h.product),
        ("GET", r"/api/v1/products/(?P<id>[^/]+)/reviews", h.product_reviews),
        ("GET", r"/api/v1/products/(?P<id>[^/]+)/ratings", h.product_ratings),
        ("GET", r"/metrics", h.prometheus),
        ("GET", r"/static/bookinfo\.css", h.stylesheet),
    ):
        app.route(method, path)(handler)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run productpage: ``python -m mizzen.samples.bookinfo.productpage --port 9080``."""

    def factory(_: argparse.Namespace) -> App:
        return build_app(ProductPageConfig.from_env(os.environ))

    run_main(factory, "Bookinfo productpage service", argv)


if __name__ == "__main__":
    main()
