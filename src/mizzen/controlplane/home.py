"""``$MIZZEN_HOME``: where the control plane keeps its database, API token, pid file and log.

The token is created on first start with :func:`secrets.token_urlsafe` in a file of mode 0600 inside
a directory of mode 0700; clients read it from there (or from ``MIZZEN_TOKEN``).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 15014
DEFAULT_XDS_PORT = 15010

ENV_HOME = "MIZZEN_HOME"
DEFAULT_HOME = "~/.mizzen"


def resolve_home(explicit: Path | str | None = None) -> Path:
    """The home directory: ``explicit``, else ``$MIZZEN_HOME``, else ``~/.mizzen``."""
    raw = explicit if explicit is not None else os.environ.get(ENV_HOME) or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class Home:
    """The files inside one ``$MIZZEN_HOME``."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "mizzen.db"

    @property
    def token_file(self) -> Path:
        return self.root / "token"

    @property
    def pid_file(self) -> Path:
        return self.root / "controlplane.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "controlplane.log"

    @property
    def address_file(self) -> Path:
        """The API address the running control plane listens on (written at start)."""
        return self.root / "controlplane.address"

    def ensure(self) -> None:
        """Create the directory (mode 0700) if it does not exist."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def read_token(self) -> str | None:
        """The API token, or ``None`` before the first start."""
        try:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def ensure_token(self) -> str:
        """The API token, created (mode 0600) when missing."""
        existing = self.read_token()
        if existing:
            return existing
        self.ensure()
        token = secrets.token_urlsafe(32)
        # O_EXCL: if two processes race, one wins and the other re-reads the winner's token.
        try:
            fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.read_token() or token
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
        return token


def running_pid(home: Home) -> int | None:
    """The pid recorded in ``home`` if that process is alive, else ``None``."""
    try:
        pid = int(home.pid_file.read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by someone else
    # After a crash the pid may have been reused by an unrelated process.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc here: trust the signal check
    return pid if b"mizzen" in cmdline else None
