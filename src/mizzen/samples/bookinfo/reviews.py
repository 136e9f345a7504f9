"""reviews: two reviews of the book, with star ratings from v2 on (the original is Java/Open Liberty).

Versions differ only by configuration, as the original's build arguments do:

======= ============== ============ ============================
version ENABLE_RATINGS STAR_COLOR   ratings call timeout
======= ============== ============ ============================
v1      false          (unused)     (never calls ratings)
v2      true           black        10 s
v3      true           red          2.5 s
======= ============== ============ ============================

The timeout follows the star colour exactly as the original does (10 s for black, 2.5 s otherwise); the
fault-injection lesson depends on it. A failed ratings call (error, timeout, non-200) turns every
review's rating into ``{"error": "Ratings service is currently unavailable"}``; reviews still answers 200.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mizzen.samples.bookinfo._http import (
    App,
    Request,
    Response,
    fetch,
    json_response,
    pick_headers,
    pod_name,
    run_main,
    service_url,
)

#: Headers copied from the incoming request onto the ratings call (the original's list, in its order).
FORWARD_HEADERS = (
    "x-request-id",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "traceparent",
    "tracestate",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "sw8",
    "end-user",
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)

RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"

REVIEWS = (
    ("Reviewer1", "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"),
    (
        "Reviewer2",
        "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
    ),
)


@dataclass(frozen=True)
class ReviewsConfig:
    """How one reviews version behaves."""

    version: str = "v1"
    ratings_enabled: bool = False
    star_color: str = "black"
    ratings_url: str = "http://ratings:9080"
    pod_name: str = "reviews"
    cluster_name: str = "null"  # the original prints the literal string null when CLUSTER_NAME is unset

    @property
    def ratings_timeout(self) -> float:
        """Seconds the ratings call may take: 10 s when the stars are black (v2), 2.5 s otherwise (v3)."""
        return 10.0 if self.star_color == "black" else 2.5

    @classmethod
    def from_env(cls, environ: Mapping[str, str], version: str | None = None) -> ReviewsConfig:
        """Read ``SERVICE_VERSION``/``ENABLE_RATINGS``/``STAR_COLOR``; ``version`` (``--version``) wins.

        Unset variables take the value the original image bakes in for that version.
        """
        version = version or environ.get("SERVICE_VERSION") or "v1"
        enabled_env = environ.get("ENABLE_RATINGS")
        enabled = enabled_env.lower() == "true" if enabled_env else version != "v1"
        color = environ.get("STAR_COLOR") or ("red" if version == "v3" else "black")
        return cls(
            version=version,
            ratings_enabled=enabled,
            star_color=color,
            ratings_url=service_url(environ, "ratings"),
            pod_name=pod_name(environ),
            cluster_name=environ.get("CLUSTER_NAME") or "null",
        )


def _stars(config: ReviewsConfig, product_id: int, headers: Mapping[str, str]) -> dict[str, int] | None:
    """Reviewer name -> stars from ratings, or None when the ratings call failed."""
    got = fetch(
        f"{config.ratings_url}/ratings/{product_id}",
        pick_headers(headers, FORWARD_HEADERS),
        timeout=config.ratings_timeout,
    )
    if got.status != 200:
        return None
    try:
        ratings = got.json().get("ratings", {})
    except (ValueError, AttributeError):
        return None
    return {k: v for k, v in ratings.items() if isinstance(v, int)}


def reviews_body(config: ReviewsConfig, product_id: int, headers: Mapping[str, str]) -> dict[str, Any]:
    """The JSON reviews answers for ``product_id`` (calls ratings when this version shows ratings)."""
    stars = _stars(config, product_id, headers) if config.ratings_enabled else None
    reviews: list[dict[str, Any]] = []
    for reviewer, text in REVIEWS:
        review: dict[str, Any] = {"reviewer": reviewer, "text": text}
        if config.ratings_enabled:
            if stars is not None and reviewer in stars:
                review["rating"] = {"stars": stars[reviewer], "color": config.star_color}
            else:
                review["rating"] = {"error": RATINGS_UNAVAILABLE}
        reviews.append(review)
    return {"id": str(product_id), "podname": config.pod_name, "clustername": config.cluster_name, "reviews": reviews}


def build_app(config: ReviewsConfig) -> App:
    """The reviews service's routes for one version."""
    app = App("reviews")

    @app.route("GET", r"/health")
    def health(_: Request) -> Response:
        return json_response({"status": "Reviews is healthy"})

    @app.route("GET", r"/reviews/(?P<id>-?\d+)")
    def reviews(request: Request) -> Response:
        return json_response(reviews_body(config, int(request.params["id"]), request.headers))

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run reviews: ``python -m mizzen.samples.bookinfo.reviews --port 9080 --version v2``."""

    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--version",
            choices=("v1", "v2", "v3"),
            default=None,
            help="reviews version (default $SERVICE_VERSION or v1)",
        )

    def factory(args: argparse.Namespace) -> App:
        return build_app(ReviewsConfig.from_env(os.environ, args.version))

    run_main(factory, "Bookinfo reviews service", argv, extra)


if __name__ == "__main__":
    main()
