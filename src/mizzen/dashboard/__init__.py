"""Mizzen dashboard: a single-page app served by the control plane at ``/``.

The page itself and its static files are public (they hold no data); everything it shows comes from
the token-protected API. A browser authenticates once, either by pasting the token into the login
form (``POST /login``) or through the one-time URL ``/?token=...`` that ``mizzen dashboard`` prints;
both set the HttpOnly cookie :data:`COOKIE_NAME`, which the API accepts like a bearer header.

Everything is plain files in ``static/`` (vanilla JS + SVG): nothing is fetched from a CDN or built
with npm, so the dashboard works offline and ships inside the wheel.
"""

from typing import Any

__all__ = ["COOKIE_NAME", "PUBLIC_PATHS", "PUBLIC_PREFIXES", "register", "token_from_request"]


def __getattr__(name: str) -> Any:
    # The web server (aiohttp) loads only when asked for, so `mizzen dashboard` and the CLI start fast.
    if name in __all__:
        from mizzen.dashboard import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
