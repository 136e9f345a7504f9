"""details: the book's publication details (the original is Ruby/WEBrick).

``GET /details/<id>`` answers the fixed record below for any numeric id (400 otherwise);
``GET /health`` answers ``{"status": "Details is healthy"}``. The original's optional Google Books
lookup (``ENABLE_EXTERNAL_BOOK_SERVICE``) is not reproduced: Mizzen's sample runs on loopback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mizzen.samples.bookinfo._http import App, Request, Response, json_response, run_main


def book_details(product_id: int) -> dict[str, Any]:
    """The details record, in the original's key order."""
    return {
        "id": product_id,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


def build_app() -> App:
    """The details service's routes."""
    app = App("details")

    @app.route("GET", r"/health")
    def health(_: Request) -> Response:
        return json_response({"status": "Details is healthy"})

    @app.route("GET", r"/details(?:/(?P<rest>.*))?")
    def details(request: Request) -> Response:
        last = (request.params.get("rest") or "").rstrip("/").split("/")[-1]
        try:
            product_id = int(last)
        except ValueError:
            return json_response({"error": "please provide numeric product id"}, 400)
        return json_response(book_details(product_id))

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run details: ``python -m mizzen.samples.bookinfo.details --port 9080``."""

    def factory(_: argparse.Namespace) -> App:
        return build_app()

    run_main(factory, "Bookinfo details service", argv)


if __name__ == "__main__":
    main()
