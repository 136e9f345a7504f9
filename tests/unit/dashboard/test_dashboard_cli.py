"""`mizzen dashboard` prints a single-use sign-in URL it got from the control plane."""

from __future__ import annotations

from mizzen.dashboard.cli import sign_in_url


def test_sign_in_url_joins_the_address_and_the_path() -> None:
    """The control plane answers with a path; the URL is the API address plus that path."""
    assert sign_in_url("http://127.0.0.1:15014/", {"path": "/?code=abc"}) == "http://127.0.0.1:15014/?code=abc"
