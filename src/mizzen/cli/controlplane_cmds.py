"""``mizzen controlplane`` (foreground), ``mizzen up`` (background), ``mizzen down`` and ``mizzen status``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import click

from mizzen.controlplane.home import DEFAULT_ADDRESS, DEFAULT_PORT, DEFAULT_XDS_PORT, Home, resolve_home
from mizzen.controlplane.process import (
    ProcessError,
    controlplane_command,
    info,
    start_background,
    status,
    stop_background,
)

if TYPE_CHECKING:  # `mizzen controlplane` execs the server at once: it never loads the API client
    from mizzen.cli.client import ClientSettings

_ADDRESS = click.option("--address", default=DEFAULT_ADDRESS, show_default=True, help="Address to listen on.")
_PORT = click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="HTTP API port.")
_XDS_PORT = click.option("--xds-port", type=int, default=DEFAULT_XDS_PORT, show_default=True, help="xDS gRPC port.")
_STORE = click.option(
    "--store",
    envvar="MIZZEN_STORE",
    default=None,
    metavar="URL",
    help="postgresql://user@host:port/db (no password: see --store-password-file, PGPASSFILE, PGPASSWORD) "
    "or a SQLite file; default: mizzen.db in $MIZZEN_HOME.",
)
_STORE_PASSWORD_FILE = click.option(
    "--store-password-file",
    envvar="MIZZEN_STORE_PASSWORD_FILE",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True, path_type=Path),
    default=None,
    help="A file holding the PostgreSQL password.",
)


def _checked_store(store: str | None) -> str | None:
    """The --store value, refused before any process starts when it carries a password or no store takes it.

    The server checks it again (``mizzen.store.factory``); this copy keeps a password off the child's
    command line, using the standard library only (the CLI does not import the store).
    """
    if not store:
        return store
    scheme, sep, _ = store.partition("://")
    if sep and scheme not in ("postgresql", "postgres", "sqlite"):
        raise click.BadParameter(
            f'unsupported store "{scheme}://...": use postgresql://user@host:port/db or a SQLite file path',
            param_hint="--store",
        )
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(store)
        userinfo, at, _ = parts.netloc.rpartition("@")
        if (at and ":" in userinfo) or "password" in parse_qs(parts.query, keep_blank_values=True):
            raise click.BadParameter(
                "the store URL must not contain a password (command lines and logs would show it): "
                "put it in a file (--store-password-file), in PGPASSFILE or ~/.pgpass, or in PGPASSWORD",
                param_hint="--store",
            )
    return store


def _security_options(func: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--ca-dir",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=None,
            help="Plug in your CA: a folder with Istio's ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem "
            "(default: a self-signed root in $MIZZEN_HOME/ca).",
        ),
        click.option("--tls", is_flag=True, help="Serve TLS on loopback too (always on for other addresses)."),
        click.option(
            "--insecure", is_flag=True, help="Serve plaintext even on a non-loopback address (credentials unprotected)."
        ),
        click.option(
            "--tls-san", "tls_sans", multiple=True, metavar="NAME|IP", help="Extra name in the serving certificate."
        ),
        click.option(
            "--advertise-address",
            default=None,
            metavar="IP|NAME",
            help="The address agents on other hosts reach this control plane at, handed to them at start "
            "[default: --address; for 0.0.0.0 the host's primary address].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _security_args(
    ca_dir: Path | None, tls: bool, insecure: bool, tls_sans: Sequence[str], advertise: str | None = None
) -> list[str]:
    """The server options for the CA and transport choices (checked here, before any process starts)."""
    if tls and insecure:
        raise click.UsageError("--tls and --insecure contradict each other")
    args = ["--ca-dir", str(ca_dir.resolve())] if ca_dir is not None else []
    args += ["--advertise-address", advertise] if advertise else []
    args += ["--tls"] if tls else []
    args += ["--insecure"] if insecure else []
    for san in tls_sans:
        args += ["--tls-san", san]
    return args


@click.command("controlplane")
@_ADDRESS
@_PORT
@_XDS_PORT
@_STORE
@_STORE_PASSWORD_FILE
@_security_options
def controlplane(
    address: str,
    port: int,
    xds_port: int,
    store: str | None,
    store_password_file: Path | None,
    ca_dir: Path | None,
    tls: bool,
    insecure: bool,
    tls_sans: Sequence[str],
    advertise_address: str | None,
) -> None:
    """Run the control plane in the foreground (Ctrl-C stops it)."""
    # The CLI reaches the control plane over HTTP only, so the server is its own entry point: after the
    # same checks as `up`, this process becomes `python -m mizzen.controlplane` (same pid and signals).
    extra = _security_args(ca_dir, tls, insecure, tls_sans, advertise_address)
    command = controlplane_command(address, port, xds_port, _checked_store(store), store_password_file, extra)
    os.execv(command[0], command)


@click.command("up")
@_ADDRESS
@_PORT
@_XDS_PORT
@_STORE
@_STORE_PASSWORD_FILE
@_security_options
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for readiness.")
def up(
    address: str,
    port: int,
    xds_port: int,
    store: str | None,
    store_password_file: Path | None,
    ca_dir: Path | None,
    tls: bool,
    insecure: bool,
    tls_sans: Sequence[str],
    advertise_address: str | None,
    timeout: float,
) -> None:
    """Start the control plane in the background (pid and log in $MIZZEN_HOME)."""
    from mizzen.security import x509  # the certificate library loads only here, not for every CLI command

    home = Home(resolve_home())
    extra = _security_args(ca_dir, tls, insecure, tls_sans, advertise_address)
    try:
        pid = start_background(
            home, address, port, xds_port, timeout, _checked_store(store), store_password_file, extra
        )
    except ProcessError as exc:
        raise click.ClickException(str(exc)) from exc
    url = home.address_file.read_text(encoding="utf-8").strip()
    host = f"[{address}]" if ":" in address else address
    tls_note = " (TLS)" if url.startswith("https://") else ""
    click.echo(f"control plane running (pid {pid}): API {url}, xDS {host}:{xds_port}{tls_note}")
    where = info(home)
    if where:
        click.echo(f"agents on other hosts: --control-plane {where['apiAddress']} (xDS {where['xdsAddress']})")
    click.echo(f"home {home.root}, log {home.log_file}")
    root = home.root / "root-cert.pem"
    click.echo(f"mesh root: {root} (SHA-256 {x509.fingerprint(root.read_bytes())}); copy it to agents on other hosts")


@click.command("down")
def down() -> None:
    """Stop the background control plane."""
    home = Home(resolve_home())
    pid = stop_background(home)
    click.echo(f"control plane stopped (pid {pid})" if pid else "the control plane is not running")


@click.command("status")
@click.pass_context
def status_cmd(ctx: click.Context) -> None:
    """Report whether the control plane is running, healthy and ready; its replicas, store and leader."""
    from mizzen.cli.client import ClientSettings

    home = Home(resolve_home())
    st = status(home)
    settings = ctx.find_object(ClientSettings) or ClientSettings()
    remote = bool(settings.server or os.environ.get("MIZZEN_ADDRESS"))
    if st.pid is None and not remote:
        click.echo(f"control plane: not running (home {home.root})")
        raise SystemExit(1)
    if st.pid is not None:
        state = "ready" if st.ready else "healthy, not ready" if st.healthy else "not answering"
        click.echo(f"control plane: running (pid {st.pid}), {state}")
        click.echo(f"API: {st.url or 'unknown'}")
        where = info(home) if st.healthy else {}
        if where:
            click.echo(f"advertised to agents: API {where['apiAddress']}, xDS {where['xdsAddress']}")
        click.echo(f"home: {home.root}")
    healthy = _print_replicas(settings) if st.healthy or remote else False
    if not (st.healthy or healthy):
        raise SystemExit(1)


def _print_replicas(settings: ClientSettings) -> bool:
    """Print the replicas, the store and the leader as the control plane sees them; False if it cannot."""
    from mizzen.cli.client import ApiClient, ClientError

    client = ApiClient(settings.address(), settings.resolve_token())
    try:
        info = client.get_json("/api/mizzen/v1/replicas")
    except ClientError as exc:
        click.echo(f"replicas: unknown ({exc})")
        return False
    finally:
        client.close()
    store = info["store"]
    reach = "reachable" if store["reachable"] else f"UNREACHABLE ({store['error']})"
    click.echo(f"store: {store['description']}, {reach}")
    click.echo(f"leader: {info.get('leader') or 'none'}")
    for r in info["replicas"]:
        marks = [m for m, on in (("leader", r["leader"]), ("this replica", r["self"])) if on]
        state = "alive" if r["alive"] else f"gone (last heartbeat {r['heartbeatAgeSeconds']:.0f}s ago)"
        extra = f" [{', '.join(marks)}]" if marks else ""
        click.echo(f"replica {r['name']}: {state}, API {r['api']}, xDS {r['xds']}{extra}")
    return True


COMMANDS = (controlplane, up, down, status_cmd)
