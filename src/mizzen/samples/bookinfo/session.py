"""The productpage's signed session cookie (the original uses Flask's ``session`` cookie).

The cookie value is ``<base64url(JSON)>.<base64url(HMAC-SHA256)>``: readable by anyone, forgeable by no
one without the key, which is all a sample needs. The key is hard-coded like the original's, and may be
overridden with ``BOOKINFO_SECRET_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from http.cookies import CookieError, SimpleCookie
from typing import Any

COOKIE_NAME = "session"
DEFAULT_SECRET = b"mizzen-bookinfo-sample-secret"


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs session data into a cookie value and verifies it back."""

    def __init__(self, secret: bytes = DEFAULT_SECRET) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64encode(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def dumps(self, data: dict[str, Any]) -> str:
        """The cookie value carrying ``data``."""
        payload = _b64encode(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._sign(payload)}"

    def loads(self, value: str) -> dict[str, Any]:
        """The data in a cookie value; empty when the value is malformed or its signature is wrong."""
        payload, _, signature = value.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(payload)):
            return {}
        try:
            data = json.loads(_b64decode(payload))
        except (ValueError, binascii.Error):
            return {}
        return data if isinstance(data, dict) else {}

    def from_cookie_header(self, header: str) -> dict[str, Any]:
        """The session carried in a request's ``Cookie`` header (empty if none or invalid)."""
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(header)
        except CookieError:
            return {}
        morsel = cookies.get(COOKIE_NAME)
        return self.loads(morsel.value) if morsel is not None else {}

    def set_cookie(self, data: dict[str, Any]) -> str:
        """A ``Set-Cookie`` value storing ``data`` (or deleting the cookie when ``data`` is empty)."""
        if not data:
            return f"{COOKIE_NAME}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/"
        return f"{COOKIE_NAME}={self.dumps(data)}; HttpOnly; Path=/"
