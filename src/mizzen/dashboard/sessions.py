"""Browser sessions for the dashboard: random ids in memory, short-lived, and single-use sign-in codes.

Sans-IO (the clock is passed in): :class:`Sessions` maps random session ids to the principal that signed
in (an opaque value the control plane gives it: its admin credential). A session ends at logout, after
``ttl`` seconds, when its principal stops being valid (a revoked credential), and with the process: the
table lives only in memory, so a control-plane restart signs every browser out. Sign-in codes are
single-use and short-lived, so a link that leaks (browser history, a screen share) is already spent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P")

LINKS_PATH = "/api/mizzen/v1/dashboard/links"  # POST with the admin bearer token: a single-use sign-in link
SESSION_TTL_S = 3600.0
CODE_TTL_S = 120.0


@dataclass(frozen=True)
class _Entry(Generic[P]):
    principal: P
    expires: float


class Sessions(Generic[P]):
    """Session ids and sign-in codes for principals that ``verify_token`` accepts."""

    def __init__(
        self,
        verify_token: Callable[[str], P | None],
        *,
        still_valid: Callable[[P], bool] = lambda _p: True,
        ttl: float = SESSION_TTL_S,
        code_ttl: float = CODE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verify = verify_token
        self._still_valid = still_valid
        self.ttl, self.code_ttl = ttl, code_ttl
        self._clock = clock
        self._sessions: dict[str, _Entry[P]] = {}
        self._codes: dict[str, _Entry[P]] = {}

    def sign_in(self, token: str) -> str | None:
        """A new session id for the principal of ``token``, or None when the token is not accepted."""
        principal = self._verify(token) if token else None
        return self.start(principal) if principal is not None else None

    def start(self, principal: P) -> str:
        """A new session id for ``principal``."""
        self._prune()
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Entry(principal, self._clock() + self.ttl)
        return session_id

    def issue_code(self, principal: P) -> str:
        """A single-use sign-in code for ``principal`` (``/?code=...``)."""
        self._prune()
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Entry(principal, self._clock() + self.code_ttl)
        return code

    def redeem(self, code: str) -> str | None:
        """Spend ``code``: a new session id, or None when it is unknown, used or expired."""
        entry = self._codes.pop(code, None)
        if entry is None or entry.expires <= self._clock() or not self._still_valid(entry.principal):
            return None
        return self.start(entry.principal)

    def lookup(self, session_id: str | None) -> P | None:
        """The principal of a live session, or None."""
        entry = self._sessions.get(session_id or "")
        if entry is None:
            return None
        if entry.expires <= self._clock() or not self._still_valid(entry.principal):
            self._sessions.pop(session_id or "", None)
            return None
        return entry.principal

    def end(self, session_id: str | None) -> bool:
        """End a session (logout); True when there was one."""
        return self._sessions.pop(session_id or "", None) is not None

    def __len__(self) -> int:
        return len(self._sessions)

    def _prune(self) -> None:
        now = self._clock()
        for table in (self._sessions, self._codes):
            for key in [k for k, e in table.items() if e.expires <= now]:
                del table[key]
