"""``mizzen run`` as a client of the host agent (:mod:`mizzen.agent.host`).

The command has parsed and checked its options; :func:`run_in_host_agent` connects to the host agent of
``$MIZZEN_HOME`` (starting it when none runs), sends the workload, and then *execs* :data:`RELAY`: a few
lines of Python in a bare interpreter (``-I -S``: no site, standard library only) that keep the same pid,
print what the workload reports, pass Ctrl-C or SIGTERM on as a stop request and exit with the workload's
exit code. So what the user sees (foreground, Ctrl-C, the exit code, the pid in the state file) is what a
per-workload agent gives, and the process that stays per workload costs a bare interpreter, not an agent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from mizzen.agent import hostwire
from mizzen.agent.errors import AgentError

START_TIMEOUT_S = 30.0

# The relay. It must not import anything beyond the standard library: it runs with -I -S.
RELAY = r"""
import json, signal, socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
def shown(text):
    return "".join(c if c in "\n\t" or c.isprintable() else repr(c)[1:-1] for c in text)
def stop(signum, frame):
    try:
        sock.sendall(json.dumps({"stop": signal.Signals(signum).name}).encode() + b"\n")
    except OSError:
        pass
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
for line in sock.makefile("rb"):
    message = json.loads(line)
    if "out" in message:
        print(shown(message["out"]), flush=True)
    elif "log" in message:
        print(shown(message["log"]), file=sys.stderr, flush=True)
    elif "exit" in message:
        sys.exit(int(message["exit"]))
    elif "error" in message:
        print("Error: " + shown(message["error"]), file=sys.stderr, flush=True)
        sys.exit(1)
print("Error: the host agent went away; its log is in $MIZZEN_HOME/logs/host-agent.log", file=sys.stderr)
sys.exit(1)
"""


def run_in_host_agent(home: Path, attach: hostwire.Attach) -> NoReturn:
    """Hand the workload to the host agent and become its relay; :class:`AgentError` if none can be reached."""
    sock = connect(home)
    sock.sendall(hostwire.encode_attach(attach))
    os.set_inheritable(sock.fileno(), True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", RELAY, str(sock.fileno())])


def connect(home: Path) -> socket.socket:
    """A connection to the host agent of ``home``; starts one (detached) when none listens."""
    path = hostwire.socket_path(home)
    hostwire.private_folder(path.parent)  # no other user can have put a socket there to catch the token
    sock = _try_connect(path)
    if sock is not None:
        return sock
    log_path = home / "logs" / "host-agent.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mizzen.agent.host", "--home", str(home), "--detach"]
    with log_path.open("ab") as log:
        # --detach forks at once and this parent exits: the host agent is never this process's child.
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, check=False)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        sock = _try_connect(path)
        if sock is not None:
            return sock
        time.sleep(0.05)
    raise AgentError(f"the host agent did not start listening on {path} within {START_TIMEOUT_S:.0f}s; see {log_path}")


def _try_connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock
