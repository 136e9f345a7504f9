"""Process helpers of the agent: children that die with it, private files, liveness checks."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600 from the start (the bootstrap and state files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# Children must die with the agent (PR_SET_PDEATHSIG). Setting it in a preexec_fn would make Python fork
# the agent with gRPC's threads running, and gRPC's fork handlers then crash the child (seen: the app
# aborting on an epoll error). Without a preexec_fn Python spawns with vfork, and this small trampoline
# sets the signal in the child itself before exec'ing the real command.
_TRAMPOLINE = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "    if os.getppid() != int(sys.argv[1]): sys.exit(143)\n"  # the agent died before we got here
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def with_parent_death_signal(argv: list[str]) -> list[str]:
    """``argv`` run through the trampoline that asks Linux to SIGTERM it when the agent dies."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-S", "-c", _TRAMPOLINE, str(os.getpid()), *argv]  # -S: no site, starts faster
