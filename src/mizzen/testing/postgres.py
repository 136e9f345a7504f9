"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temp folder, ``postgres`` on a free port, stopped by PID.

    with running_cluster() as pg:
        store = PostgresStore(pg.url(pg.create_database()), password_file=pg.password_file)

The cluster never touches a system cluster: its data, socket, log and password files live in one
temporary folder that is removed afterwards, it listens on 127.0.0.1 and a socket in that folder
only, and it is stopped by the postmaster's PID (fast shutdown, then immediate, then SIGKILL of the
postmaster and its children). PostgreSQL refuses to run as root, so as root the cluster runs as the
system user :data:`PG_USER`, created here if missing.

Clients connect as the superuser ``mizzen``: over the socket without a password (``trust``), over TCP
with the random password in :attr:`Cluster.password_file` (``scram-sha-256``), as a deployment would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mizzen.agent.ports import free_port

PG_USER = "mizzen-pg"
"""The unprivileged system user that runs test clusters when the tests run as root."""

SUPERUSER = "mizzen"
"""The cluster's superuser (a database role, not a system user)."""

DEBIAN_ROOT = Path("/usr/lib/postgresql")  # Debian's layout: /usr/lib/postgresql/<major>/bin
_TOOLS = ("initdb", "postgres", "psql")


class PostgresUnavailable(Exception):
    """PostgreSQL cannot run here (not installed, no unprivileged user); the message says why."""


def find_bin_dir() -> Path:
    """The folder with ``initdb``/``postgres``: ``$MIZZEN_PG_BIN``, Debian's newest version, or ``PATH``."""
    explicit = os.environ.get("MIZZEN_PG_BIN")
    candidates: list[Path] = [Path(explicit)] if explicit else []  # an explicit choice is the only one
    if not explicit and DEBIAN_ROOT.is_dir():
        versions = [p for p in DEBIAN_ROOT.iterdir() if p.name.isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: int(p.name), reverse=True)]
    on_path = None if explicit else shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in _TOOLS):
            return folder
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no initdb/postgres in $MIZZEN_PG_BIN, /usr/lib/postgresql/*/bin or PATH); "
        "`python3 tools/dev.py setup` installs Debian's postgresql package where it can (root with apt-get)"
    )


def ensure_user(name: str = PG_USER) -> pwd.struct_passwd:
    """The system user ``name``, created (as a locked system account) if missing; needs root to create."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0 or not shutil.which("useradd"):
        raise PostgresUnavailable(f"the system user {name} does not exist and cannot be created here (needs root)")
    cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    result = subprocess.run([*cmd, "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True)
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise PostgresUnavailable(f"cannot create the system user {name}: {result.stderr.strip()}")
    return pwd.getpwnam(name)


@dataclass
class Cluster:
    """A running throwaway cluster: where it is, how to reach it, how to stop it."""

    root: Path
    bin_dir: Path
    port: int
    password: str
    run_as: pwd.struct_passwd | None
    pid: int = 0
    _databases: int = field(default=0, repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (initdb's)."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server puts its UNIX socket."""
        return self.root

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        """A file holding just the superuser's password (for ``--store-password-file``)."""
        return self.root / "client" / "password"

    @property
    def pgpass_file(self) -> Path:
        """A libpq password file (for ``PGPASSFILE``) covering this cluster."""
        return self.root / "client" / "pgpass"

    def url(self, database: str = "postgres") -> str:
        """A password-less TCP URL for ``database`` (the password comes from a file)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a new, empty database and return its name."""
        self._databases += 1
        name = name or f"test_{self._databases}_{secrets.token_hex(3)}"
        self.sql("postgres", f'CREATE DATABASE "{name}"')
        return name

    def sql(self, database: str, statement: str) -> str:
        """Run one SQL statement with ``psql`` over the socket; its unaligned output."""
        cmd = [str(self.bin_dir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement]
        cmd += ["-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({statement!r}): {result.stderr.strip()}")
        return result.stdout.strip()

    def processes(self) -> list[int]:
        """PIDs of the postmaster and its children that are still alive."""
        if not self.pid or not _alive(self.pid):
            return []
        return [self.pid, *(pid for pid in _children(self.pid) if _alive(pid))]

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the server and wait until it accepts connections.

        The test process starts ``postgres`` itself rather than through ``pg_ctl`` (which daemonises):
        the postmaster is then our child, its PID is known for certain and it is reaped as soon as it
        exits, so no zombie can hold its PID (and block a restart) under an init that reaps slowly.
        """
        cmd = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        cmd += ["-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        uid, gid, groups = _ids(self.run_as)
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.root,
                env=_env(self.root),
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        self.pid = self._process.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.pid = 0
                raise PostgresUnavailable(f"postgres exited with code {self._process.returncode}: {self._log_tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        self.stop()
        raise PostgresUnavailable(f"postgres did not accept connections within {timeout:.0f}s: {self._log_tail()}")

    def _ready(self) -> bool:
        # The postmaster writes its state on line 8 of postmaster.pid; "ready" once it accepts connections.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(self.pid) and lines[7].strip() == "ready"

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-10:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server by PID: fast shutdown, then immediate, then SIGKILL; wait until all are gone."""
        if not self.pid:
            return
        family = self.processes()
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            targets = [self.pid] if sig != signal.SIGKILL else family
            for pid in targets:
                if _alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
            if self._reap(wait) and _wait_gone(family, wait):
                break
        self.pid = 0

    def _reap(self, timeout: float) -> bool:
        if self._process is None:
            return True
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the postmaster and its children at once (a crash of the database host)."""
        family = self.processes()
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reap(10.0)
        _wait_gone(family, 10.0)
        self.pid = 0

    def destroy(self) -> None:
        """Stop the server (if running) and remove the cluster's folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def create_cluster(root: Path | None = None) -> Cluster:
    """``initdb`` a new cluster (not started) in a new temp folder (or ``root``)."""
    bin_dir = find_bin_dir()
    run_as = ensure_user() if os.geteuid() == 0 else None
    # Short and outside pytest's private tmp tree: the socket path must fit in 107 bytes and the
    # unprivileged user must be able to reach the folder.
    root = root or Path(tempfile.mkdtemp(prefix="mzpg-"))
    cluster = Cluster(root, bin_dir, free_port(), secrets.token_urlsafe(18), run_as)
    client = cluster.password_file.parent
    client.mkdir(mode=0o700)
    cluster.password_file.write_text(cluster.password + "\n", encoding="utf-8")
    cluster.pgpass_file.write_text(f"127.0.0.1:{cluster.port}:*:{SUPERUSER}:{cluster.password}\n", encoding="utf-8")
    for path in (cluster.password_file, cluster.pgpass_file):
        path.chmod(0o600)
    init_pw = root / "initdb-password"
    init_pw.write_text(cluster.password + "\n", encoding="utf-8")
    if run_as is not None:
        os.chown(root, run_as.pw_uid, run_as.pw_gid)
        os.chown(init_pw, run_as.pw_uid, run_as.pw_gid)
    root.chmod(0o700)
    init_pw.chmod(0o600)
    cmd = [str(bin_dir / "initdb"), "-D", str(cluster.data_dir), "-U", SUPERUSER, f"--pwfile={init_pw}"]
    cmd += ["--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]
    try:
        _run_as(run_as, cmd, root)
    finally:
        init_pw.unlink(missing_ok=True)
    return cluster


def start_cluster() -> Cluster:
    """A new, started throwaway cluster (call :meth:`Cluster.destroy` when done)."""
    cluster = create_cluster()
    try:
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A started throwaway cluster; stopped by PID and its folder removed on exit."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(home)}


def _ids(user: pwd.struct_passwd | None) -> tuple[int | None, int | None, list[int] | None]:
    """(uid, gid, extra groups) for Popen: run as ``user`` with every other group dropped, or unchanged."""
    return (user.pw_uid, user.pw_gid, []) if user is not None else (None, None, None)


def _run_as(user: pwd.struct_passwd | None, cmd: Sequence[str], cwd: Path) -> None:
    uid, gid, groups = _ids(user)
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env=_env(cwd),
        capture_output=True,
        text=True,
        timeout=120,
        user=uid,
        group=gid,
        extra_groups=groups,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(f"{Path(cmd[0]).name} failed: {(result.stderr or result.stdout).strip()}")


def _children(parent: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name (field 2) is in parentheses and may hold spaces: split after it.
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (exited, not yet reaped by its parent, possibly a PID 1 that never reaps) is gone.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: Sequence[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return not any(_alive(pid) for pid in pids)
