"""``mizzen dashboard``: print (and open) a single-use link that signs a browser into the dashboard.

The integrator adds :data:`dashboard_command` to the root group. The link carries a one-time code, never
the admin token: the command asks the control plane for it with the CLI's own credential.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Mapping
from typing import Any

import click

from mizzen.dashboard.sessions import LINKS_PATH


def sign_in_url(address: str, answer: Mapping[str, Any]) -> str:
    """The full sign-in URL from the control plane's answer to ``POST`` :data:`LINKS_PATH`."""
    return f"{address.rstrip('/')}{answer['path']}"


@click.command("dashboard")
@click.option("--browser/--no-browser", default=True, help="Open the URL in the default web browser.")
@click.pass_context
def dashboard_command(ctx: click.Context, browser: bool) -> None:
    """Open the Mizzen dashboard (mesh graph, metrics, proxies, config, traces)."""
    from mizzen.cli.client import ApiClient  # the CLI's client: same address, credential and TLS checks

    client = ApiClient.from_context(ctx)
    try:
        url = sign_in_url(client.address, client.post_json(LINKS_PATH, {}))
    finally:
        client.close()
    click.echo(f"Dashboard: {url}")
    click.echo("(the link signs one browser in, once, within two minutes)")
    if browser and not webbrowser.open(url):
        click.echo("No browser could be opened here; copy the link above into one.")
