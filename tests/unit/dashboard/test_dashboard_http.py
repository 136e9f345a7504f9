"""The dashboard's HTTP side: the page, static files, login by form or one-time URL, the cookie."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mizzen import dashboard
from mizzen.dashboard.server import STATIC_DIR

TOKEN = "t0ken-for-tests"
Client = TestClient[web.Request, web.Application]


@web.middleware
async def auth(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """What the control plane's middleware does with the dashboard's exports."""
    public = request.path in dashboard.PUBLIC_PATHS or request.path.startswith(dashboard.PUBLIC_PREFIXES)
    if public or dashboard.token_from_request(request) == TOKEN:
        return await handler(request)
    return web.json_response({"message": "Unauthorized"}, status=401)


async def _api(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest_asyncio.fixture
async def client() -> AsyncIterator[Client]:
    app = web.Application(middlewares=[auth])
    dashboard.register(app, lambda: TOKEN)
    app.router.add_get("/api/mizzen/v1/graph", _api)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.asyncio
async def test_index_is_public_and_locked_down(client: Client) -> None:
    """GET / serves the app page without a token, with a strict CSP and no caching."""
    resp = await client.get("/")
    assert resp.status == 200
    assert "<title>Mizzen</title>" in await resp.text()
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.asyncio
async def test_api_needs_token_or_cookie(client: Client) -> None:
    """The API answers 401 without credentials and 200 with the bearer header."""
    assert (await client.get("/api/mizzen/v1/graph")).status == 401
    ok = await client.get("/api/mizzen/v1/graph", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200


@pytest.mark.asyncio
async def test_one_time_url_sets_httponly_cookie_and_drops_token_from_url(client: Client) -> None:
    """/?token=<right> redirects to / with an HttpOnly SameSite=Strict cookie the API accepts."""
    resp = await client.get(f"/?token={TOKEN}", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{dashboard.COOKIE_NAME}={TOKEN}")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert (await client.get("/api/mizzen/v1/graph")).status == 200


@pytest.mark.asyncio
async def test_one_time_url_with_wrong_token_goes_to_login(client: Client) -> None:
    """A wrong token in the URL sets no cookie and lands on the login view with an error."""
    resp = await client.get("/?token=wrong", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/#/login?error=invalid"
    assert "Set-Cookie" not in resp.headers


@pytest.mark.asyncio
async def test_login_form_and_logout(client: Client) -> None:
    """POST /login with the token sets the cookie; a wrong token is 401; logout clears it."""
    assert (await client.post("/login", json={"token": "nope"})).status == 401
    assert (await client.post("/login", json={"token": TOKEN})).status == 204
    assert (await client.get("/api/mizzen/v1/graph")).status == 200
    assert (await client.post("/logout")).status == 204
    assert (await client.get("/api/mizzen/v1/graph")).status == 401


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


def test_token_from_request_prefers_bearer_header() -> None:
    """The bearer header wins over the cookie."""
    from aiohttp.test_utils import make_mocked_request

    req = make_mocked_request("GET", "/", headers={"Authorization": "Bearer a", "Cookie": "mizzen_token=b"})
    assert dashboard.token_from_request(req) == "a"
    req = make_mocked_request("GET", "/", headers={"Cookie": "mizzen_token=b"})
    assert dashboard.token_from_request(req) == "b"
