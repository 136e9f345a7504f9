"""`mizzen dashboard` prints the login URL built from the CLI's settings."""

from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner

from mizzen.dashboard.cli import dashboard_command, login_url


@dataclass
class Settings:
    server: str
    token: str | None

    def address(self) -> str:
        return self.server

    def resolve_token(self) -> str | None:
        return self.token


def test_prints_login_url_without_opening_a_browser() -> None:
    """--no-browser prints the one-time login URL with the token."""
    result = CliRunner().invoke(dashboard_command, ["--no-browser"], obj=Settings("http://127.0.0.1:15014", "abc"))
    assert result.exit_code == 0
    assert "http://127.0.0.1:15014/?token=abc" in result.output


def test_missing_token_is_a_clear_error() -> None:
    """Without a token the command says where the token comes from."""
    result = CliRunner().invoke(dashboard_command, ["--no-browser"], obj=Settings("http://x", None))
    assert result.exit_code != 0 and "MIZZEN_TOKEN" in result.output


def test_token_is_url_quoted() -> None:
    """Characters outside the URL-safe set are percent-encoded."""
    assert login_url("http://h:1/", "a+b/c") == "http://h:1/?token=a%2Bb%2Fc"
