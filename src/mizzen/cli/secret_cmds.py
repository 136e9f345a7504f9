"""``mizzen create secret tls NAME --cert FILE --key FILE [-n NS]``: kubectl's command for the TLS
credentials a Gateway server names with ``credentialName``.

It stores a ``v1`` ``Secret`` of type ``kubernetes.io/tls`` (base64 ``data.tls.crt``/``data.tls.key``,
plus ``data.ca.crt`` with ``--ca-cert`` for MUTUAL servers, like Istio's ``generic`` secrets) through the
API; like ``kubectl create`` it fails when the secret already exists. ``--dry-run`` prints the object.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import click
import yaml

from mizzen.cli.client import ApiClient, ClientError
from mizzen.config.kinds import by_kind

TLS_SECRET_TYPE = "kubernetes.io/tls"


class SecretFileError(click.ClickException):
    """A certificate or key file is missing or not PEM of the expected kind."""


def _read_pem(path: Path, what: str, markers: tuple[str, ...]) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretFileError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if not any(f"-----BEGIN {m}".encode() in data for m in markers):
        raise SecretFileError(f"{path} does not contain a PEM {what}")
    return data


def tls_secret(name: str, namespace: str, cert: bytes, key: bytes, ca_cert: bytes | None = None) -> dict[str, Any]:
    """The Kubernetes JSON of a ``kubernetes.io/tls`` Secret holding PEM ``cert`` and ``key``."""
    data = {"tls.crt": cert, "tls.key": key, **({"ca.crt": ca_cert} if ca_cert else {})}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": TLS_SECRET_TYPE,
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in data.items()},
    }


@click.group("create")
def create_group() -> None:
    """Create an object from command-line arguments (kubectl create)."""


@create_group.group("secret")
def secret_group() -> None:
    """Create a Secret."""


@secret_group.command("tls")
@click.argument("name")
@click.option(
    "--cert", "cert_path", required=True, type=click.Path(path_type=Path), help="PEM certificate (chain) file."
)
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path), help="PEM private key file.")
@click.option(
    "--ca-cert",
    "ca_path",
    type=click.Path(path_type=Path),
    default=None,
    help="PEM CA certificate(s) to verify clients with (Gateway tls.mode MUTUAL).",
)
@click.option(
    "-n",
    "--namespace",
    default="default",
    show_default=True,
    help="Namespace (a Gateway reads credentials from its own namespace).",
)
@click.option("--dry-run", is_flag=True, help="Print the Secret instead of creating it.")
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json", "name"]), default=None, help="Print the Secret in this format."
)
@click.pass_context
def create_secret_tls(
    ctx: click.Context,
    name: str,
    cert_path: Path,
    key_path: Path,
    ca_path: Path | None,
    namespace: str,
    dry_run: bool,
    output: str | None,
) -> None:
    """Create a TLS secret from a certificate and key (for a Gateway server's credentialName)."""
    cert = _read_pem(cert_path, "certificate", ("CERTIFICATE",))
    key = _read_pem(key_path, "private key", ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"))
    ca = _read_pem(ca_path, "CA certificate", ("CERTIFICATE",)) if ca_path else None
    secret = tls_secret(name, namespace, cert, key, ca)
    if not dry_run:
        _create(ctx, secret)
    if output == "yaml":
        click.echo(yaml.safe_dump(secret, sort_keys=False), nl=False)
    elif output == "json":
        click.echo(json.dumps(secret, indent=2))
    else:
        suffix = " (dry run)" if dry_run else " created"
        click.echo(f"secret/{name}" + ("" if output == "name" else suffix))


def _create(ctx: click.Context, secret: dict[str, Any]) -> None:
    info = by_kind("Secret")
    if info is None:  # the kind table always has it; guard for a clear error rather than a crash
        raise ClientError('the server doesn\'t have a resource type "secrets"')
    meta = secret["metadata"]
    client = ApiClient.from_context(ctx)
    try:  # POST on the collection: 409 AlreadyExists when the name is taken, as kubectl create
        client.post_json(info.api_path(meta["namespace"]), secret)
    finally:
        client.close()


COMMANDS: tuple[click.Command, ...] = (create_group,)

__all__ = ["COMMANDS", "create_group", "tls_secret"]
