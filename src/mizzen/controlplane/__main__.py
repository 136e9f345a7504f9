"""``python -m mizzen.controlplane``: the control-plane server in the foreground (what ``mizzen controlplane`` runs).

The server lives in its own entry point so the CLI never imports it: ``mizzen controlplane`` checks its
options and replaces itself with this module (same pid, same signals), ``mizzen up`` starts it as a
background process. The store URL is checked again here (``mizzen.store.factory``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import click
import yaml

from mizzen.controlplane.home import DEFAULT_ADDRESS, DEFAULT_PORT, DEFAULT_XDS_PORT, resolve_home
from mizzen.controlplane.identity import Transport
from mizzen.controlplane.server import ControlPlaneError
from mizzen.controlplane.startup import Timeline
from mizzen.controlplane.wiring import create_control_plane
from mizzen.security.errors import SecurityError

PROG = "mizzen controlplane"


@click.command(PROG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--address", default=DEFAULT_ADDRESS, show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="HTTP API port.")
@click.option("--xds-port", type=int, default=DEFAULT_XDS_PORT, show_default=True, help="xDS gRPC port.")
@click.option("--store", envvar="MIZZEN_STORE", default=None, metavar="URL", help="PostgreSQL URL or SQLite file.")
@click.option(
    "--store-password-file",
    envvar="MIZZEN_STORE_PASSWORD_FILE",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True, path_type=Path),
    default=None,
    help="A file holding the PostgreSQL password.",
)
@click.option("--ca-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--tls", is_flag=True, help="TLS on loopback too (always on for other addresses).")
@click.option("--insecure", is_flag=True, help="Plaintext even on a non-loopback address (warned about).")
@click.option("--tls-san", "tls_sans", multiple=True, help="Extra name in the serving certificate.")
@click.option("--advertise-address", default=None, help="Address agents reach this host at [default: see --address].")
def main(
    address: str,
    port: int,
    xds_port: int,
    store: str | None,
    store_password_file: Path | None,
    ca_dir: Path | None,
    tls: bool,
    insecure: bool,
    tls_sans: tuple[str, ...],
    advertise_address: str | None,
) -> None:
    """Run the control plane in the foreground (Ctrl-C stops it)."""
    timeline = Timeline()  # the control plane's start-up phases, for its ready log line
    timeline.mark("python and imports")
    os.umask(0o077)  # everything it writes in $MIZZEN_HOME (database, logs, CA material) is private
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cp = create_control_plane(
            resolve_home(),
            address=address,
            port=port,
            xds_port=xds_port,
            store_url=store,
            store_password_file=store_password_file,
            ca_dir=ca_dir,
            transport=Transport(tls=tls, insecure=insecure, sans=tls_sans),
            advertise_address=advertise_address,
            timeline=timeline,
            manage_heap=True,
        )
        asyncio.run(cp.run())
    except (ControlPlaneError, SecurityError) as exc:
        raise click.ClickException(str(exc)) from exc
    except (ValueError, yaml.YAMLError) as exc:  # mesh.yaml: malformed, or over an input limit
        raise click.ClickException(f"cannot start: {exc}") from exc


if __name__ == "__main__":
    main(prog_name=PROG)
