"""HTTP side of the dashboard: the page, its static files, sign-in, sign-out and the session cookie."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from mizzen.dashboard.sessions import LINKS_PATH, Sessions

COOKIE_NAME = "mizzen_session"
STATIC_DIR = Path(__file__).parent / "static"
# Paths the control plane's auth middleware must let through without a credential.
PUBLIC_PATHS = frozenset({"/", "/login", "/logout"})
PUBLIC_PREFIXES = ("/static/",)

_SESSIONS: web.AppKey[Sessions[Any]] = web.AppKey("mizzen_dashboard_sessions")
_PRINCIPAL: web.AppKey[Callable[[web.Request], Any]] = web.AppKey("mizzen_dashboard_principal")
_SECURE: web.AppKey[bool] = web.AppKey("mizzen_dashboard_secure")


def register(
    app: web.Application,
    sessions: Sessions[Any],
    principal_of: Callable[[web.Request], Any],
    *,
    secure: bool = False,
) -> None:
    """Add ``/``, ``/login``, ``/logout``, the sign-in link endpoint and ``/static/...`` to ``app``.

    ``principal_of(request)`` is who made an authenticated API request (the link endpoint is not public:
    the control plane's auth runs first). ``secure``: mark the cookie Secure (the API is served over TLS).
    """
    app[_SESSIONS] = sessions
    app[_PRINCIPAL] = principal_of
    app[_SECURE] = secure
    app.router.add_get("/", _index)
    app.router.add_post("/login", _login)
    app.router.add_post("/logout", _logout)
    app.router.add_post(LINKS_PATH, _link)
    app.router.add_static("/static/", STATIC_DIR, name="dashboard-static", append_version=False)


def session_of(request: web.Request) -> Any:
    """The principal of the request's session cookie, or None (the auth middleware's session lookup)."""
    return request.app[_SESSIONS].lookup(request.cookies.get(COOKIE_NAME))


def _set_cookie(request: web.Request, response: web.StreamResponse, session_id: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        httponly=True,
        samesite="Strict",
        secure=request.app[_SECURE],
        path="/",
        max_age=int(request.app[_SESSIONS].ttl),
    )


async def _index(request: web.Request) -> web.StreamResponse:
    """The app page; ``?code=`` (a single-use link) starts a session and redirects so the code leaves the URL."""
    code = request.query.get("code")
    if code is not None:
        session_id = request.app[_SESSIONS].redeem(code)
        if session_id is None:
            raise web.HTTPFound("/#/login?error=invalid")
        response = web.HTTPFound("/")
        _set_cookie(request, response, session_id)
        raise response
    page = web.FileResponse(STATIC_DIR / "index.html")
    page.headers["Cache-Control"] = "no-store"
    page.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; img-src 'self' data:"
    page.headers["X-Frame-Options"] = "DENY"
    return page


async def _login(request: web.Request) -> web.Response:
    """Body ``{"token": "..."}`` (JSON or form) with the admin token: 204 with a session cookie, or 401."""
    if request.content_type == "application/json":
        body = await request.json()
        given = str(body.get("token", "")) if isinstance(body, dict) else ""
    else:
        given = str((await request.post()).get("token", ""))
    session_id = request.app[_SESSIONS].sign_in(given.strip())
    if session_id is None:
        return web.json_response({"message": "that token is not valid for this control plane"}, status=401)
    response = web.Response(status=204)
    _set_cookie(request, response, session_id)
    return response


async def _logout(request: web.Request) -> web.Response:
    """End the session server-side (the cookie is then worthless even if kept) and drop the cookie."""
    request.app[_SESSIONS].end(request.cookies.get(COOKIE_NAME))
    response = web.Response(status=204)
    response.del_cookie(COOKIE_NAME, path="/")
    return response


async def _link(request: web.Request) -> web.Response:
    """A single-use sign-in path for the authenticated caller: ``{"path": "/?code=..."}``."""
    code = request.app[_SESSIONS].issue_code(request.app[_PRINCIPAL](request))
    return web.json_response({"path": f"/?code={code}", "expiresInSeconds": int(request.app[_SESSIONS].code_ttl)})
