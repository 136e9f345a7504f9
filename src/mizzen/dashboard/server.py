"""HTTP side of the dashboard: the page, its static files, login/logout and the auth cookie."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

COOKIE_NAME = "mizzen_token"
STATIC_DIR = Path(__file__).parent / "static"
# Paths the control plane's auth middleware must let through without a token.
PUBLIC_PATHS = frozenset({"/", "/login", "/logout"})
PUBLIC_PREFIXES = ("/static/",)

_TOKEN_KEY: web.AppKey[Callable[[], str]] = web.AppKey("mizzen_dashboard_token")
_MAX_AGE_S = 7 * 24 * 3600


def register(app: web.Application, token: Callable[[], str]) -> None:
    """Add ``/``, ``/login``, ``/logout`` and ``/static/...`` to ``app``; ``token()`` gives the API token."""
    app[_TOKEN_KEY] = token
    app.router.add_get("/", _index)
    app.router.add_post("/login", _login)
    app.router.add_post("/logout", _logout)
    app.router.add_static("/static/", STATIC_DIR, name="dashboard-static", append_version=False)


def token_from_request(request: web.Request) -> str | None:
    """The token a request presents: ``Authorization: Bearer ...`` first, else the dashboard cookie.

    The cookie is SameSite=Strict, so other sites cannot make a browser send it; the integrator may
    still accept it only for safe methods (GET/HEAD), as the dashboard only reads.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE_NAME) or None


def _valid(request: web.Request, given: str) -> bool:
    expected = request.app[_TOKEN_KEY]()
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _set_cookie(response: web.StreamResponse, token: str) -> None:
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="Strict", path="/", max_age=_MAX_AGE_S)


async def _index(request: web.Request) -> web.StreamResponse:
    """The app page; ``?token=`` (the one-time URL) logs in and redirects so the token leaves the URL."""
    given = request.query.get("token")
    if given is not None:
        if not _valid(request, given):
            raise web.HTTPFound("/#/login?error=invalid")
        response = web.HTTPFound("/")
        _set_cookie(response, given)
        raise response
    page = web.FileResponse(STATIC_DIR / "index.html")
    page.headers["Cache-Control"] = "no-store"
    page.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; img-src 'self' data:"
    page.headers["X-Frame-Options"] = "DENY"
    return page


async def _login(request: web.Request) -> web.Response:
    """Body ``{"token": "..."}`` (JSON or form): 204 with the cookie, or 401."""
    if request.content_type == "application/json":
        body = await request.json()
        given = str(body.get("token", "")) if isinstance(body, dict) else ""
    else:
        given = str((await request.post()).get("token", ""))
    given = given.strip()
    if not _valid(request, given):
        return web.json_response({"message": "that token is not valid for this control plane"}, status=401)
    response = web.Response(status=204)
    _set_cookie(response, given)
    return response


async def _logout(_request: web.Request) -> web.Response:
    response = web.Response(status=204)
    response.del_cookie(COOKIE_NAME, path="/")
    return response
