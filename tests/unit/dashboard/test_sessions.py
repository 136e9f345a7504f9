"""Dashboard sessions: random ids, expiry, revocation through the principal, single-use codes."""

from __future__ import annotations

from mizzen.dashboard.sessions import Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_and_end() -> None:
    """A session lasts ``ttl`` seconds; logout ends it at once; unknown ids find nothing."""
    clock = Clock()
    sessions: Sessions[str] = Sessions(lambda t: "admin" if t == "tok" else None, ttl=60, clock=clock)
    sid = sessions.sign_in("tok")
    assert sid is not None and sid != "tok" and sessions.lookup(sid) == "admin"
    assert sessions.sign_in("wrong") is None and sessions.lookup("made-up") is None
    clock.now = 61
    assert sessions.lookup(sid) is None
    other = sessions.sign_in("tok")
    assert sessions.end(other) and sessions.lookup(other) is None


def test_codes_are_single_use_and_short_lived() -> None:
    """A sign-in code works once and only within ``code_ttl``."""
    clock = Clock()
    sessions: Sessions[str] = Sessions(lambda _t: None, code_ttl=120, clock=clock)
    code = sessions.issue_code("admin")
    assert sessions.redeem(code) is not None and sessions.redeem(code) is None
    late = sessions.issue_code("admin")
    clock.now = 121
    assert sessions.redeem(late) is None


def test_a_revoked_principal_ends_its_sessions() -> None:
    """When the principal stops being valid (its credential revoked), its sessions stop working."""
    valid = {"admin": True}
    sessions: Sessions[str] = Sessions(lambda _t: "admin", still_valid=lambda p: valid[p])
    sid = sessions.sign_in("tok")
    valid["admin"] = False
    assert sessions.lookup(sid) is None
