"""The ``mizzen`` console script: ``mizzen run`` and ``mizzen gateway`` load only the agent.

A workload's agent lives as long as its workload, so every module it imports is private memory paid per
workload; the full CLI (configuration models, translator, simulator, dashboard) would add ~20 MB to each.
Every other command goes to :mod:`mizzen.cli.main`, which also offers ``run`` and ``gateway`` (the same
click commands), so help and behaviour are identical either way.
"""

from __future__ import annotations

import sys

AGENT_COMMANDS = frozenset({"run", "gateway"})


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] and sys.argv[1] in AGENT_COMMANDS:
        from mizzen.agent.__main__ import main as agent
        from mizzen.cli.terminal import escaped_stderr

        with escaped_stderr():  # as the full CLI does: control characters from input are escaped
            agent(prog_name="mizzen")
    else:
        from mizzen.cli.main import main as full

        full()


if __name__ == "__main__":
    main()
