"""``mizzen dashboard``: print (and open) the URL that logs a browser into the dashboard.

The integrator adds :data:`dashboard_command` to the root group; it reads the control plane's address
and token from the root command's settings object (``ctx.obj``: ``address()`` and ``resolve_token()``).
"""

from __future__ import annotations

import webbrowser
from typing import Protocol
from urllib.parse import quote

import click


class Settings(Protocol):
    """What the command needs from the CLI's client settings."""

    def address(self) -> str: ...

    def resolve_token(self) -> str | None: ...


def login_url(address: str, token: str) -> str:
    """The dashboard URL that sets the login cookie and then drops the token from the address bar."""
    return f"{address.rstrip('/')}/?token={quote(token, safe='')}"


@click.command("dashboard")
@click.option("--browser/--no-browser", default=True, help="Open the URL in the default web browser.")
@click.pass_context
def dashboard_command(ctx: click.Context, browser: bool) -> None:
    """Open the Mizzen dashboard (mesh graph, metrics, proxies, config, traces)."""
    settings: Settings = ctx.obj
    token = settings.resolve_token()
    if not token:
        raise click.ClickException(
            "no API token: set MIZZEN_TOKEN or MIZZEN_HOME (the token is in "
            "$MIZZEN_HOME/token once the control plane has started)"
        )
    url = login_url(settings.address(), token)
    click.echo(f"Dashboard: {url}")
    click.echo("(the link logs this browser in; keep it private, it contains the API token)")
    if browser and not webbrowser.open(url):
        click.echo("No browser could be opened here; copy the link above into one.")
