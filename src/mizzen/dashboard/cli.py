"""``mizzen dashboard``: print (and open) a single-use link that signs a browser into the dashboard.

The integrator adds :data:`dashboard_command` to the root group; it reads the control plane's address, the
CLI's credential and how to verify TLS from the root command's settings object (``ctx.obj``). The link
carries a one-time code, never the admin token.
"""

from __future__ import annotations

import ssl
import webbrowser
from collections.abc import Mapping
from typing import Any, Protocol

import click
import httpx

from mizzen.dashboard.sessions import LINKS_PATH


class Settings(Protocol):
    """What the command needs from the CLI's client settings."""

    def address(self) -> str:
        """The control plane's API address (``http://host:port``)."""

    def resolve_token(self) -> str | None:
        """The API token (from the flag, ``MIZZEN_TOKEN`` or the home's token file), or ``None``."""

    def verify(self) -> ssl.SSLContext | bool:
        """How to verify the control plane's TLS certificate (httpx's ``verify``: a context or a flag)."""


def sign_in_url(address: str, answer: Mapping[str, Any]) -> str:
    """The full sign-in URL from the control plane's answer to ``POST`` :data:`LINKS_PATH`."""
    return f"{address.rstrip('/')}{answer['path']}"


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
    address = settings.address()
    try:
        resp = httpx.post(
            address + LINKS_PATH,
            headers={"Authorization": f"Bearer {token}"},
            verify=settings.verify(),
            timeout=10,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the Mizzen control plane at {address}: {exc}") from exc
    if resp.status_code != 200:
        raise click.ClickException(f"the control plane refused a sign-in link ({resp.status_code}): {resp.text[:200]}")
    url = sign_in_url(address, resp.json())
    click.echo(f"Dashboard: {url}")
    click.echo("(the link signs one browser in, once, within two minutes)")
    if browser and not webbrowser.open(url):
        click.echo("No browser could be opened here; copy the link above into one.")
