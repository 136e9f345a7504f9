"""HTML for the productpage: the landing page and the product page (stdlib ``string.Template``).

The product page keeps the markers Istio's tasks and tests look for: the title
``Simple Bookstore App``, one ``<svg id="glyphicon glyphicon-star">`` per filled star inside a
``text-<color>-500`` block (outline stars carry no such id, so a 4-star review shows 4), and the
original error texts.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from typing import Any

_STAR_POINTS = "12,2.5 14.9,8.8 21.5,9.3 16.5,13.8 18,20.5 12,17 6,20.5 7.5,13.8 2.5,9.3 9.1,8.8"
FILLED_STAR = (
    f'<svg id="glyphicon glyphicon-star" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" '
    f'fill="currentColor" class="w-6 h-6"><polygon points="{_STAR_POINTS}"/></svg>'
)
OUTLINE_STAR = (
    f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
    f'stroke="currentColor" stroke-width="1.5" class="w-6 h-6">'
    f'<polygon points="{_STAR_POINTS}"/></svg>'
)


@cache
def asset(name: str) -> str:
    """A file from ``templates/`` (templates and the stylesheet), read once."""
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _user_nav(user: str) -> str:
    if user:
        return (
            f'<div class="user"><span class="avatar">{_e(user[:1].upper())}</span>'
            f'<span>{_e(user)}</span><a href="logout">Sign out</a></div>'
        )
    return (
        '<button type="button" class="btn" '
        "onclick=\"document.getElementById('login-modal').showModal()\">Sign in</button>"
    )


def _details_section(status: int, details: dict[str, Any]) -> str:
    if status != 200:
        return f"        <h4>Error fetching product details</h4>\n        <p>{_e(details.get('error', ''))}</p>"
    columns = ("ISBN-10", "Publisher", "Pages", "Type", "Language")
    keys = ("ISBN-10", "publisher", "pages", "type", "language")
    head = "".join(f"<th>{c}</th>" for c in columns)
    row = "".join(f"<td>{_e(details.get(k, ''))}</td>" for k in keys)
    return (
        f"        <h4>Book Details</h4>\n"
        f"        <table><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>"
    )


def _rating(rating: dict[str, Any]) -> str:
    stars = rating.get("stars")
    if isinstance(stars, int) and stars:
        filled = FILLED_STAR * stars + OUTLINE_STAR * max(0, 5 - stars)
        return f'<div class="flex gap-x-1 text-{_e(rating.get("color", "black"))}-500">{filled}</div>'
    if rating.get("error"):
        return f'<p class="text-red-500">{_e(rating["error"])}</p>'
    return ""


def _review(review: dict[str, Any], podname: str, clustername: str) -> str:
    rating = review.get("rating")
    stars = _rating(rating) if isinstance(rating, dict) else ""
    cluster = f" on cluster {_e(clustername)}" if clustername != "null" else ""
    return (
        f'        <section class="review">\n'
        f"          {stars}\n"
        f"          <blockquote>&ldquo;{_e(review.get('text', ''))}&rdquo;</blockquote>\n"
        f"          <p>&mdash; {_e(review.get('reviewer', ''))}</p>\n"
        f'          <p class="served-by">Reviews served by: {_e(podname)}{cluster}</p>\n'
        f"        </section>"
    )


def _reviews_section(status: int, reviews: dict[str, Any]) -> str:
    if status != 200:
        return f"        <h4>Error fetching product reviews</h4>\n        <p>{_e(reviews.get('error', ''))}</p>"
    podname = str(reviews.get("podname", ""))
    clustername = str(reviews.get("clustername", "null"))
    items = [_review(r, podname, clustername) for r in reviews.get("reviews", []) if isinstance(r, dict)]
    return "        <h4>Book Reviews</h4>\n" + "\n".join(items)


def product_page(
    product: dict[str, Any],
    user: str,
    details_status: int,
    details: dict[str, Any],
    reviews_status: int,
    reviews: dict[str, Any],
) -> str:
    """The product page for ``product`` with the backends' results (errors rendered in place)."""
    return Template(asset("productpage.html")).substitute(
        user_nav=_user_nav(user),
        title=_e(product["title"]),
        description=product["descriptionHtml"],  # trusted HTML from our own catalogue, as the original
        details_section=_details_section(details_status, details),
        reviews_section=_reviews_section(reviews_status, reviews),
    )


def _tree_table(node: dict[str, Any]) -> str:
    """A nested table of the service tree (the original renders it with json2html)."""
    children = "".join(f"<li>{_tree_table(child)}</li>" for child in node.get("children", []))
    return (
        f'<table border="1"><tr><th>name</th><td>{_e(node["name"])}</td></tr>'
        f"<tr><th>endpoint</th><td>{_e(node['endpoint'])}</td></tr>"
        f"<tr><th>children</th><td><ul>{children}</ul></td></tr></table>"
    )


def index_page(service_tree: dict[str, Any]) -> str:
    """The landing page describing the service tree."""
    return Template(asset("index.html")).substitute(service_table=_tree_table(service_tree))
