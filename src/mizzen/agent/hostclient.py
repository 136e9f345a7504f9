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

# The relay. It runs with -I -S and imports only built-in modules (_signal, _socket, sys), so it stays at a
# bare interpreter's size; it reads the agent's frames (hostwire.frame) and writes stop requests as JSON lines.
RELAY = r"""
import _signal, _socket, sys
sock = _socket.socket(fileno=int(sys.argv[1]))
def stop(signum, frame):
    try:
        sock.sendall(b'{"stop":"SIGINT"}\n' if signum == _signal.SIGINT else b'{"stop":"SIGTERM"}\n')
    except OSError:
        pass
_signal.signal(_signal.SIGINT, stop)
_signal.signal(_signal.SIGTERM, stop)
pending = b""
def take(n):
    global pending
    while len(pending) < n:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        pending += chunk
    out, pending = pending[:n], pending[n:]
    return out
while True:
    head = take(5)
    body = None if head is None else take(int.from_bytes(head[1:], "big"))
    if body is None:
        break
    kind = head[:1]
    if kind == b"o":
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.buffer.flush()
    elif kind == b"l":
        sys.stderr.buffer.write(body + b"\n")
        sys.stderr.buffer.flush()
    elif kind == b"x":
        sys.exit(int(body))
    elif kind == b"e":
        sys.stderr.buffer.write(b"Error: " + body + b"\n")
        sys.exit(1)
sys.stderr.buffer.write(b"Error: the host agent went away; its log is in $MIZZEN_HOME/logs/host-agent.log\n")
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
