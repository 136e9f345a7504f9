"""Shared pieces of the security e2e tests: Istio's task YAML from ``security_tasks/``, waiting for a policy
to take effect, the plural REST paths of the security kinds, and Istio's public sample JWTs.

Istio's sample JWTs (istio/istio ``security/tools/jwt/samples``) are signed with the key inlined in
``security_tasks/authz-jwt.yaml``. DEMO: iss = sub = testing@secure.istio.io (expires 2118). GROUPS: the
same plus ``groups: [group1, group2]`` and ``scope: [scope1, scope2]`` (expires 2082).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

TASKS = Path(__file__).resolve().parent / "security_tasks"
PLURALS = {
    "AuthorizationPolicy": "authorizationpolicies",
    "RequestAuthentication": "requestauthentications",
    "PeerAuthentication": "peerauthentications",
}


def task_documents(name: str) -> list[str]:
    """The YAML documents of one task file, in order (the header comment dropped)."""
    text = (TASKS / name).read_text()
    return [doc.strip() + "\n" for doc in text.split("\n---\n") if doc.strip()]


def path_of(kind: str, namespace: str, name: str) -> str:
    """The REST path of a security object, for ``Mesh.delete``."""
    return f"/apis/security.istio.io/v1/namespaces/{namespace}/{PLURALS[kind]}/{name}"


def settle(check: Callable[[], bool], what: str, timeout: float = 45.0, in_a_row: int = 3) -> None:
    """Wait until ``check`` holds ``in_a_row`` times in a row: the new policy has reached every proxy
    (Istio's tasks say the same: "if you don't see the expected output, retry after a few seconds")."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        streak = streak + 1 if check() else 0
        if streak >= in_a_row:
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not observed within {timeout:.0f}s")


DEMO = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IkRIRmJwb0lVcXJZOHQyenBBMnFYZkNtcjVWTzVaRXI0UnpIVV8tZW52dlEiLCJ0eXAiOiJKV1QifQ"
    ".eyJleHAiOjQ2ODU5ODk3MDAsImZvbyI6ImJhciIsImlhdCI6MTUzMjM4OTcwMCwiaXNzIjoidGVzdGluZ0BzZWN1cmUuaXN0aW8uaW8iLCJzdWIi"
    "OiJ0ZXN0aW5nQHNlY3VyZS5pc3Rpby5pbyJ9.CfNnxWP2tcnR9q0vxyxweaF3ovQYHYZl82hAUsn21bwQd9zP7c-LS9qd_vpdLG4Tn1A15NxfCjp5"
    "f7QNBUo-KC9PJqYpgGbaXhaGx7bEdFWjcwv3nZzvc7M__ZpaCERdwU7igUmJqYGBYQ51vr2njU9ZimyKkfDe3axcyiBZde7G6dabliUosJvvKOPcK"
    "IWPccCgefSj_GNfwIip3-SsFdlR7BtbVUcqR-yv-XOxJ3Uc1MI0tz3uMiiZcyPV7sNCU4KRnemRIMHVOfuvHsU60_GhGbiSFzgPTAa9WTltbnarTbx"
    "udb_YEOx12JiwYToeX0DCPb43W1tzIBxgm8NxUg"
)
GROUPS = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IkRIRmJwb0lVcXJZOHQyenBBMnFYZkNtcjVWTzVaRXI0UnpIVV8tZW52dlEiLCJ0eXAiOiJKV1QifQ"
    ".eyJleHAiOjM1MzczOTExMDQsImdyb3VwcyI6WyJncm91cDEiLCJncm91cDIiXSwiaWF0IjoxNTM3MzkxMTA0LCJpc3MiOiJ0ZXN0aW5nQHNlY3Vy"
    "ZS5pc3Rpby5pbyIsInNjb3BlIjpbInNjb3BlMSIsInNjb3BlMiJdLCJzdWIiOiJ0ZXN0aW5nQHNlY3VyZS5pc3Rpby5pbyJ9.EdJnEZSH6X8hcyEii"
    "7c8H5lnhgjB5dwo07M5oheC8Xz8mOllyg--AHCFWHybM48reunF--oGaG6IXVngCEpVF0_P5DwsUoBgpPmK1JOaKN6_pe9sh0ZwTtdgK_RP01PuI7k"
    "UdbOTlkuUi2AO-qUyOm7Art2POzo36DLQlUXv8Ad7NBOqfQaKjE9ndaPWT7aexUsBHxmgiGbz1SyLH879f7uHYPbPKlpHU6P9S-DaKnGLaEchnoKn"
    "ov7ajhrEhGXAQRukhDPKUHO9L30oPIr5IJllEQfHYtt6IZvlNUGeLUcif3wpry1R5tBXRicx2sXMQ7LyuDremDbcNy_iE76Upg"
)
