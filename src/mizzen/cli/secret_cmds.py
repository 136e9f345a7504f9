"""``mizzen create secret tls|generic NAME ... [-n NS]``: kubectl's commands for the credentials a Gateway
server or a DestinationRule names with ``credentialName``.

``tls`` stores a ``v1`` ``Secret`` of type ``kubernetes.io/tls`` (base64 ``data.tls.crt``/``data.tls.key``,
plus ``data.ca.crt`` with ``--ca-cert`` for MUTUAL servers, like Istio's ``generic`` secrets). ``generic``
stores an ``Opaque`` Secret from ``--from-file=[KEY=]PATH`` (a folder adds each regular file in it) and
``--from-literal=KEY=VALUE``, as kubectl does; Istio's egress tasks create their client credentials so.
Like ``kubectl create`` both fail when the secret already exists. ``--dry-run`` prints the object.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml

from mizzen.cli.client import ApiClient, ClientError
from mizzen.config.kinds import by_kind

TLS_SECRET_TYPE = "kubernetes.io/tls"
OPAQUE_SECRET_TYPE = "Opaque"
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
"""Kubernetes' rule for the keys of a Secret's ``data``."""


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
    return secret_object(name, namespace, TLS_SECRET_TYPE, data)


def secret_object(name: str, namespace: str, secret_type: str, data: Mapping[str, bytes]) -> dict[str, Any]:
    """The Kubernetes JSON of a Secret of ``secret_type`` holding ``data`` (base64 encoded)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": secret_type,
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in data.items()},
    }


def generic_data(from_files: tuple[str, ...], from_literals: tuple[str, ...]) -> dict[str, bytes]:
    """The ``data`` of ``kubectl create secret generic``: files (``[KEY=]PATH``, a folder's regular files
    under their names) and literals (``KEY=VALUE``); a key given twice or not a valid key is an error."""
    entries: list[tuple[str, bytes]] = []
    for spec in from_files:
        key, sep, raw = spec.partition("=")
        path = Path(raw if sep else spec)
        if not sep and path.is_dir():
            entries += [(f.name, _read(f)) for f in sorted(path.iterdir()) if f.is_file()]
            continue
        entries.append((key if sep else path.name, _read(path)))
    for spec in from_literals:
        name, sep, text = spec.partition("=")
        if not sep or not name:
            raise SecretFileError(f"invalid literal source {spec}, expected key=value")
        entries.append((name, text.encode()))
    data: dict[str, bytes] = {}
    for name, value in entries:
        if not SECRET_KEY.match(name):
            raise SecretFileError(f'"{name}" is not a valid key name for a Secret (letters, digits, "-", "_", ".")')
        if name in data:
            raise SecretFileError(f'cannot add key "{name}", another key by that name already exists')
        data[name] = value
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecretFileError(f"cannot read {path}: {exc.strerror}") from exc


@click.group("create")
def create_group() -> None:
    """Create an object from command-line arguments (kubectl create)."""


@create_group.group("secret")
def secret_group() -> None:
    """Create a Secret."""


_NAMESPACE = click.option(
    "-n",
    "--namespace",
    default="default",
    show_default=True,
    help="Namespace (a Gateway reads credentials from its own namespace).",
)
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Print the Secret instead of creating it.")
_OUTPUT = click.option(
    "-o", "--output", type=click.Choice(["yaml", "json", "name"]), default=None, help="Print the Secret in this format."
)


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
@_NAMESPACE
@_DRY_RUN
@_OUTPUT
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
    _finish(ctx, tls_secret(name, namespace, cert, key, ca), dry_run, output)


@secret_group.command("generic")
@click.argument("name")
@click.option("--from-file", "from_files", multiple=True, help="[KEY=]PATH: a file (or a folder's files) to add.")
@click.option("--from-literal", "from_literals", multiple=True, help="KEY=VALUE to add.")
@click.option("--type", "secret_type", default=OPAQUE_SECRET_TYPE, show_default=True, help="The Secret's type.")
@_NAMESPACE
@_DRY_RUN
@_OUTPUT
@click.pass_context
def create_secret_generic(
    ctx: click.Context,
    name: str,
    from_files: tuple[str, ...],
    from_literals: tuple[str, ...],
    secret_type: str,
    namespace: str,
    dry_run: bool,
    output: str | None,
) -> None:
    """Create a secret from files and literal values (e.g. a client credential for TLS origination)."""
    data = generic_data(from_files, from_literals)
    _finish(ctx, secret_object(name, namespace, secret_type, data), dry_run, output)


def _finish(ctx: click.Context, secret: dict[str, Any], dry_run: bool, output: str | None) -> None:
    """Store ``secret`` (unless a dry run) and print it or its name as kubectl does."""
    name = secret["metadata"]["name"]
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

__all__ = ["COMMANDS", "create_group", "generic_data", "secret_object", "tls_secret"]
