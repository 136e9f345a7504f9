"""``$MIZZEN_HOME``: where the control plane keeps its database, API token, pid file and log.

The home is private: directories 0700, files 0600 (the database holds secrets). :meth:`Home.ensure`
creates it so and tightens an older, looser home; files are created private (:meth:`Home.write_private`).
The token is created on first start with :func:`secrets.token_urlsafe`; clients read it from there (or
from ``MIZZEN_TOKEN``).

One control plane per home: :func:`lock_home` takes an exclusive ``flock`` on ``controlplane.lock``
for the life of the process (the kernel drops it when the process dies, so a crash leaves no stale
lock); a second control plane started on the same home, even at the same instant, is refused and
told the holder's pid.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

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
        """The SQLite config store."""
        return self.root / "mizzen.db"

    @property
    def token_file(self) -> Path:
        """The API token (mode 0600)."""
        return self.root / "token"

    @property
    def pid_file(self) -> Path:
        """The running control plane's pid (``mizzen status``/``down``)."""
        return self.root / "controlplane.pid"

    @property
    def log_file(self) -> Path:
        """The background control plane's output (``mizzen up``)."""
        return self.root / "controlplane.log"

    @property
    def address_file(self) -> Path:
        """The API address the running control plane listens on (written at start)."""
        return self.root / "controlplane.address"

    @property
    def lock_file(self) -> Path:
        """Held (``flock``) by the running control plane; holds its pid."""
        return self.root / "controlplane.lock"

    def ensure(self) -> None:
        """Create the directory (mode 0700) if needed and make everything in it private."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tighten(self.root)

    def write_private(self, path: Path, text: str) -> None:
        """Write ``text`` to ``path`` (in this home) as a 0600 file, whatever the umask."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
            fh.write(text)

    def create_private(self, path: Path) -> None:
        """Create ``path`` empty and 0600 if it does not exist (e.g. the database, before SQLite opens it)."""
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))

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


def tighten(root: Path) -> None:
    """Remove group and other permissions from ``root`` and everything under it (symlinks untouched)."""
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
                continue
            path.chmod(stat.S_IMODE(st.st_mode) & 0o700)
        except OSError as exc:  # another user's file, or gone meanwhile: say so, keep going
            log.warning("cannot make %s private: %s", path, exc.strerror or exc)


class HomeLocked(Exception):
    """Another control plane holds this home's lock."""

    def __init__(self, home: Home, pid: int | None) -> None:
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "a process whose pid it did not record yet"
        super().__init__(f"a control plane is already running with home {home.root} ({holder})")


def lock_home(home: Home) -> int:
    """Take the home's exclusive lock for this process; return its descriptor (close it to release).

    Raises :class:`HomeLocked` naming the holder's pid when another process has it.
    """
    home.ensure()
    fd = os.open(home.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_pid(fd)
        os.close(fd)
        raise HomeLocked(home, holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holder_pid(fd: int, wait_s: float = 2.0) -> int | None:
    # The holder writes its pid right after it gets the lock; a loser of a same-instant race may look
    # in between, so it reads again for a moment.
    deadline = time.monotonic() + wait_s
    while True:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


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
