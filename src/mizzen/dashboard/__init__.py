"""Mizzen dashboard: a single-page app served by the control plane at ``/``.

The page itself and its static files are public (they hold no data); everything it shows comes from
the authenticated API. A browser signs in either by pasting the admin token into the form (``POST
/login``) or through the single-use link ``/?code=...`` that ``mizzen dashboard`` prints; both give it a
random session id in the HttpOnly cookie :data:`COOKIE_NAME` (never the token), which the API accepts for
reads. Logout and a control-plane restart end the session.

Everything is plain files in ``static/`` (vanilla JS + SVG): nothing is fetched from a CDN or built
with npm, so the dashboard works offline and ships inside the wheel.
"""

from typing import Any

__all__ = ["COOKIE_NAME", "LINKS_PATH", "PUBLIC_PATHS", "PUBLIC_PREFIXES", "Sessions", "register", "session_of"]


def __getattr__(name: str) -> Any:
    # The web server (aiohttp) loads only when asked for, so `mizzen dashboard` and the CLI start fast.
    if name == "Sessions":
        from mizzen.dashboard.sessions import Sessions

        return Sessions
    if name in __all__:
        from mizzen.dashboard import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
