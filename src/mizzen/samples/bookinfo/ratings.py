"""ratings: star ratings per product (the original is Node.js), in-memory like its v1.

``GET /ratings/<id>`` answers ``{"id": <id>, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}`` or the
ratings POSTed for that id; a non-numeric id is a 400. ratings is a leaf: it calls nothing and
propagates no headers. The database-backed variants (v2, mysql) are not reproduced.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Sequence

from mizzen.samples.bookinfo._http import App, Request, Response, json_response, run_main

DEFAULT_RATINGS = {"Reviewer1": 5, "Reviewer2": 4}


def build_app() -> App:
    """The ratings service's routes, with its own in-memory store."""
    app = App("ratings")
    stored: dict[int, dict[str, int]] = {}
    lock = threading.Lock()

    def product_id(request: Request) -> int | None:
        try:
            return int(request.params["id"])
        except ValueError:
            return None

    @app.route("GET", r"/health")
    def health(_: Request) -> Response:
        return json_response({"status": "Ratings is healthy"})

    @app.route("GET", r"/ratings/(?P<id>[^/]*)")
    def get_ratings(request: Request) -> Response:
        pid = product_id(request)
        if pid is None:
            return json_response({"error": "please provide numeric product ID"}, 400)
        with lock:
            ratings = stored.get(pid, DEFAULT_RATINGS)
        return json_response({"id": pid, "ratings": ratings})

    @app.route("POST", r"/ratings/(?P<id>[^/]*)")
    def post_ratings(request: Request) -> Response:
        pid = product_id(request)
        if pid is None:
            return json_response({"error": "please provide numeric product ID"}, 400)
        try:
            ratings = json.loads(request.body)
        except ValueError:
            return json_response({"error": "please provide valid ratings JSON"}, 400)
        if not isinstance(ratings, dict):
            return json_response({"error": "please provide valid ratings JSON"}, 400)
        with lock:
            stored[pid] = ratings
        return json_response({"id": pid, "ratings": ratings})

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run ratings: ``python -m mizzen.samples.bookinfo.ratings --port 9080``."""

    def factory(_: argparse.Namespace) -> App:
        return build_app()

    run_main(factory, "Bookinfo ratings service", argv)


if __name__ == "__main__":
    main()
