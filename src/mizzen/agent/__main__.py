"""``python -m mizzen.agent run|gateway ...``: the agent's commands without the full ``mizzen`` CLI."""

import click

from mizzen.agent.commands import gateway_command, run_command


@click.group()
def main() -> None:
    """Mizzen agent: run a workload with its sidecar, or an ingress gateway."""


main.add_command(run_command)
main.add_command(gateway_command)

if __name__ == "__main__":
    main()
