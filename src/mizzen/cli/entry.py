"""The ``mizzen`` console script: ``mizzen run`` and ``mizzen gateway`` load only the agent, ``mizzen
controlplane`` only its own command.

A workload's agent lives as long as its workload, so every module it imports is private memory paid per
workload; the full CLI (configuration models, translator, simulator, dashboard) would add ~20 MB to each.
``mizzen controlplane`` checks its options and execs the server (``python -m mizzen.controlplane``): loading
the full CLI first delayed every (re)start of the control plane, and with it every proxy's resync, by ~1 s
(issue 15; ``bench/resync.py``). Every other command goes to :mod:`mizzen.cli.main`, which also offers
``run``, ``gateway`` and ``controlplane`` (the same click commands), so help and behaviour are identical.
"""

from __future__ import annotations

import sys

AGENT_COMMANDS = frozenset({"run", "gateway"})
CONTROLPLANE_COMMAND = "controlplane"


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] and sys.argv[1] in AGENT_COMMANDS:
        from mizzen.agent.__main__ import main as agent
        from mizzen.cli.terminal import escaped_stderr

        with escaped_stderr():  # as the full CLI does: control characters from input are escaped
            agent(prog_name="mizzen")
    elif sys.argv[1:2] == [CONTROLPLANE_COMMAND]:
        from mizzen.cli.controlplane_cmds import controlplane
        from mizzen.cli.terminal import escaped_stderr

        with escaped_stderr():
            controlplane(args=sys.argv[2:], prog_name=f"mizzen {CONTROLPLANE_COMMAND}")
    else:
        from mizzen.cli.main import main as full

        full()


if __name__ == "__main__":
    main()
