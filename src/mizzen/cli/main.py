"""The ``mizzen`` command: kubectl habits for Istio configuration, without Kubernetes.

Every failure prints one line ``error: ...`` on stderr, with control characters from input escaped
(:mod:`mizzen.cli.terminal`). Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from mizzen import __version__
from mizzen.cli import config_cmds, controlplane_cmds
from mizzen.cli.client import ClientError, ClientSettings
from mizzen.cli.terminal import escaped_stderr


class MizzenGroup(click.Group):
    """The root group: turns client errors into one-line messages and resolves command aliases."""

    aliases: dict[str, str] = {}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command for ``cmd_name``, resolving short aliases (``ps`` -> ``proxy-status``)."""
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the CLI; everything it prints on stderr (click's own errors too) has control characters escaped."""
        with escaped_stderr():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a client error becomes one ``error: ...`` line and exit code 1."""
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=MizzenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--server",
    "-s",
    envvar="MIZZEN_ADDRESS",
    default=None,
    metavar="URL",
    help="Control plane API address; several replicas: URL,URL (the first that answers) "
    "(default: $MIZZEN_ADDRESS, else http://127.0.0.1:15014).",
)
@click.version_option(__version__, prog_name="mizzen")
@click.pass_context
def cli(ctx: click.Context, server: str | None) -> None:
    """Mizzen: Istio's traffic management without Kubernetes."""
    ctx.obj = ClientSettings(server=server)


def add_commands(commands: tuple[click.Command, ...], aliases: dict[str, str] | None = None) -> None:
    """Register a module's commands (and short aliases such as ``ps`` -> ``proxy-status``)."""
    for command in commands:
        cli.add_command(command)
    MizzenGroup.aliases.update(aliases or {})


add_commands(controlplane_cmds.COMMANDS)
add_commands(config_cmds.COMMANDS)

# --- Integrator: register other command modules below -------------------------------------------------
from mizzen.agent.commands import gateway_command, run_command  # noqa: E402  (the agent's own commands)
from mizzen.cli import analyze_cmd, demo_cmd, inspect_cmds, workload_cmds  # noqa: E402
from mizzen.dashboard.cli import dashboard_command  # noqa: E402

add_commands(inspect_cmds.COMMANDS, inspect_cmds.ALIASES)
add_commands(workload_cmds.COMMANDS)
for _command in workload_cmds.PROXY_CONFIG_COMMANDS:
    inspect_cmds.proxy_config.add_command(_command)
    inspect_cmds.proxy_config.add_command(_command, name="envoy-stats")
add_commands(
    (
        run_command,
        gateway_command,
        analyze_cmd.analyze_command,
        demo_cmd.demo_command,
        dashboard_command,
    )
)

from mizzen.cli import secret_cmds, token_cmds  # noqa: E402

add_commands(secret_cmds.COMMANDS)
add_commands(__import__("mizzen.cli.test_cmd", fromlist=["COMMANDS"]).COMMANDS)  # offline: imports simulate

from mizzen.cli import backup_cmds  # noqa: E402

add_commands(backup_cmds.COMMANDS)
add_commands(token_cmds.COMMANDS)
# --- end of integrator block ----------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mizzen")


if __name__ == "__main__":
    main()
