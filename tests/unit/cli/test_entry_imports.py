"""What ``mizzen controlplane`` loads before it execs the server: its own command, not the full CLI."""

from __future__ import annotations

import subprocess
import sys

CODE = (
    "import sys\n"
    "sys.argv = ['mizzen', 'controlplane', '--help']\n"
    "from mizzen.cli.entry import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = ('mizzen.cli.main', 'mizzen.cli.client', 'mizzen.config', 'httpx')\n"
    "print('LOADED:', ' '.join(m for m in heavy if m in sys.modules))\n"
)


def test_controlplane_command_answers_without_loading_the_full_cli_or_config_models() -> None:
    """`mizzen controlplane --help` answers from the console script without the full CLI, API client, models or
    an HTTP client (each would delay every restart of the control plane, and every proxy's resync with it)."""
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, check=True)
    loaded = done.stdout.rstrip().splitlines()[-1]
    assert "Usage: mizzen controlplane [OPTIONS]" in done.stdout and "--xds-port" in done.stdout
    assert loaded == "LOADED:", f"loaded before the exec: {loaded}"
