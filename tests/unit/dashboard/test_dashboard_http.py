"""The dashboard's HTTP side: the page, static files, sign-in by form or single-use link, the session cookie."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mizzen import dashboard
from mizzen.dashboard.server import STATIC_DIR
from mizzen.dashboard.sessions import Sessions

TOKEN = "t0ken-for-tests"
Client = TestClient[web.Request, web.Application]
PRINCIPAL = "admin"


@web.middleware
async def auth(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """What the control plane's middleware does with the dashboard's exports (sessions for reads only)."""
    public = request.path in dashboard.PUBLIC_PATHS or request.path.startswith(dashboard.PUBLIC_PREFIXES)
    bearer = request.headers.get("Authorization") == f"Bearer {TOKEN}"
    session = request.method == "GET" and dashboard.session_of(request) is not None
    if public or bearer or session:
        return await handler(request)
    return web.json_response({"message": "Unauthorized"}, status=401)


async def _api(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest_asyncio.fixture
async def client() -> AsyncIterator[Client]:
    app = web.Application(middlewares=[auth])
    sessions: Sessions[str] = Sessions(lambda t: PRINCIPAL if t == TOKEN else None)
    dashboard.register(app, sessions, lambda _request: PRINCIPAL)
    app.router.add_get("/api/mizzen/v1/graph", _api)
    async with TestClient(TestServer(app)) as c:
        yield c


def _cookie_value(client: Client) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == dashboard.COOKIE_NAME)


@pytest.mark.asyncio
async def test_index_is_public_and_locked_down(client: Client) -> None:
    """GET / serves the app page without a token, with a strict CSP and no caching."""
    resp = await client.get("/")
    assert resp.status == 200
    assert "<title>Mizzen</title>" in await resp.text()
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.asyncio
async def test_sign_in_sets_a_session_cookie_that_is_not_the_token(client: Client) -> None:
    """POST /login with the token sets an HttpOnly SameSite=Strict session cookie holding a random id."""
    assert (await client.get("/api/mizzen/v1/graph")).status == 401
    resp = await client.post("/login", json={"token": TOKEN})
    assert resp.status == 204
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{dashboard.COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN not in cookie and len(_cookie_value(client)) >= 40
    assert (await client.get("/api/mizzen/v1/graph")).status == 200


@pytest.mark.asyncio
async def test_wrong_token_gets_no_session(client: Client) -> None:
    """A wrong token is 401 and sets no cookie."""
    resp = await client.post("/login", json={"token": "nope"})
    assert resp.status == 401 and "Set-Cookie" not in resp.headers


@pytest.mark.asyncio
async def test_logout_revokes_the_session_server_side(client: Client) -> None:
    """After logout the old session id is refused even if a client kept and replays it."""
    await client.post("/login", json={"token": TOKEN})
    kept = _cookie_value(client)
    assert (await client.post("/logout")).status == 204
    replay = await client.get("/api/mizzen/v1/graph", headers={"Cookie": f"{dashboard.COOKIE_NAME}={kept}"})
    assert replay.status == 401


@pytest.mark.asyncio
async def test_sign_in_link_is_single_use(client: Client) -> None:
    """The link from POST /api/mizzen/v1/dashboard/links signs in once, then leads to the login view."""
    link = await (await client.post(dashboard.LINKS_PATH, headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert link["path"].startswith("/?code=") and TOKEN not in link["path"]
    first = await client.get(link["path"], allow_redirects=False)
    assert first.status == 302 and first.headers["Location"] == "/"
    assert "HttpOnly" in first.headers["Set-Cookie"]
    again = await client.get(link["path"], allow_redirects=False)
    assert again.status == 302 and again.headers["Location"] == "/#/login?error=invalid"
    assert "Set-Cookie" not in again.headers


@pytest.mark.asyncio
async def test_login_accepts_a_form_post(client: Client) -> None:
    """A plain HTML form post works as well as JSON."""
    assert (await client.post("/login", data={"token": TOKEN})).status == 204


@pytest.mark.asyncio
async def test_every_module_the_page_loads_is_served(client: Client) -> None:
    """index.html's script and stylesheet and every ES module import resolve to served files."""
    index = (STATIC_DIR / "index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', index))
    for js in STATIC_DIR.glob("*.js"):
        wanted |= {f"/static/{m}" for m in re.findall(r'from "\./([^"]+)"', js.read_text())}
    assert "/static/app.js" in wanted and "/static/graph.js" in wanted
    for path in sorted(wanted):
        resp = await client.get(path)
        assert resp.status == 200, path
        if path.endswith(".js"):
            assert resp.content_type in ("application/javascript", "text/javascript"), path
