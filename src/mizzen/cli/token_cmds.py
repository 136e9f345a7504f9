"""``mizzen token create|list|revoke``: scoped credentials for agents, gateways and other admins.

A created token is printed once, alone on stdout (``TOKEN=$(mizzen token create workload ...)``); the
control plane keeps only a salted hash of it.
"""

from __future__ import annotations

import json
from typing import Any

import click

from mizzen.cli.client import ApiClient
from mizzen.cli.configdump import table
from mizzen.security.durations import parse_duration

TOKENS = "/api/mizzen/v1/tokens"
_TTL = click.option("--ttl", default=None, metavar="DURATION", help="Lifetime, e.g. 24h or 30d [default: none].")
_NS = click.option("-n", "--namespace", default="default", show_default=True, help="The workload's namespace.")
_SA = click.option("--service-account", required=True, help="The workload's service account (its identity).")
HEADER = ("ID", "TYPE", "NAMESPACE", "NAME", "SERVICE ACCOUNT", "STATUS", "EXPIRES", "AUTO")


@click.group("token")
def token_group() -> None:
    """Create, list and revoke credentials (workload, gateway, admin)."""


def _create(ctx: click.Context, body: dict[str, Any], ttl: str | None) -> None:
    if ttl is not None:
        try:
            body["ttlSeconds"] = parse_duration(ttl)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--ttl") from exc
    client = ApiClient.from_context(ctx)
    try:
        answer = client.post_json(TOKENS, body)
    finally:
        client.close()
    cred = answer["credential"]
    who = cred["identity"] or "admin"
    click.echo(f"created {cred['type']} credential {cred['id']} for {who}; it is shown only now:", err=True)
    click.echo(answer["token"])


@token_group.group("create")
def create() -> None:
    """Create a credential and print its token once."""


@create.command("workload")
@click.argument("name")
@_NS
@_SA
@_TTL
@click.pass_context
def create_workload(ctx: click.Context, name: str, namespace: str, service_account: str, ttl: str | None) -> None:
    """A credential for one workload: its xDS stream, certificate and WorkloadEntry only."""
    body = {"type": "workload", "name": name, "namespace": namespace, "serviceAccount": service_account}
    _create(ctx, body, ttl)


@create.command("gateway")
@click.argument("name")
@click.option("-n", "--namespace", default="istio-system", show_default=True, help="The gateway's namespace.")
@_SA
@_TTL
@click.pass_context
def create_gateway(ctx: click.Context, name: str, namespace: str, service_account: str, ttl: str | None) -> None:
    """A credential for one gateway: as a workload, plus its namespace's credentialName secrets."""
    body = {"type": "gateway", "name": name, "namespace": namespace, "serviceAccount": service_account}
    _create(ctx, body, ttl)


@create.command("admin")
@click.argument("name")
@_TTL
@click.pass_context
def create_admin(ctx: click.Context, name: str, ttl: str | None) -> None:
    """Another admin credential (for a CLI on another host); never give it to Envoy or an app."""
    _create(ctx, {"type": "admin", "name": name}, ttl)


@token_group.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def list_tokens(ctx: click.Context, output: str) -> None:
    """Every credential with its scope and state (never a token)."""
    client = ApiClient.from_context(ctx)
    try:
        items = client.get_json(TOKENS)["items"]
    finally:
        client.close()
    if output == "json":
        click.echo(json.dumps(items, indent=2))
        return
    rows = [
        (
            c["id"],
            c["type"],
            c["namespace"],
            c["name"],
            c["serviceAccount"] or "-",
            "revoked" if c["revoked"] else "active",
            c["expires"] or "-",
            "yes" if c["auto"] else "-",
        )
        for c in items
    ]
    click.echo(table(HEADER, rows), nl=False)


@token_group.command("revoke")
@click.argument("credential_id", metavar="ID")
@click.pass_context
def revoke(ctx: click.Context, credential_id: str) -> None:
    """Revoke a credential: new requests fail at once, open streams close within seconds."""
    client = ApiClient.from_context(ctx)
    try:
        cred = client.delete_json(f"{TOKENS}/{credential_id}")
    finally:
        client.close()
    click.echo(f"credential {cred['id']} ({cred['type']} {cred['namespace']}/{cred['name']}) revoked")


COMMANDS = (token_group,)
