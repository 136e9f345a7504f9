"""$MIZZEN_HOME: private files and directories (tightened when looser), and one control plane per home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mizzen.controlplane.home import Home, HomeLocked, lock_home


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_home_is_private(tmp_path: Path) -> None:
    """ensure() creates the home 0700; the token and files written through the home are 0600."""
    old = os.umask(0o022)
    try:
        home = Home(tmp_path / "home")
        home.ensure()
        home.ensure_token()
        home.write_private(home.pid_file, "1\n")
        home.create_private(home.db)
    finally:
        os.umask(old)
    assert mode(home.root) == 0o700
    assert {p.name: mode(p) for p in home.root.iterdir()} == {
        "token": 0o600,
        "controlplane.pid": 0o600,
        "mizzen.db": 0o600,
    }


def test_an_old_loose_home_is_tightened(tmp_path: Path) -> None:
    """Group and other bits are removed from every file and folder of an existing home; symlinks are left."""
    root = tmp_path / "home"
    (root / "logs").mkdir(parents=True)
    for path, m in (
        (root, 0o755),
        (root / "logs", 0o775),
        (root / "mizzen.db", 0o644),
        (root / "logs" / "a.log", 0o666),
    ):
        if not path.exists():
            path.write_text("x")
        path.chmod(m)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (root / "link").symlink_to(outside)
    Home(root).ensure()
    assert [mode(p) for p in (root, root / "logs", root / "mizzen.db", root / "logs" / "a.log")] == [
        0o700,
        0o700,
        0o600,
        0o600,
    ]
    assert mode(outside) == 0o644


def test_write_private_tightens_an_existing_file(tmp_path: Path) -> None:
    """Rewriting a file that was 0644 leaves it 0600 (O_CREAT alone would keep the old mode)."""
    home = Home(tmp_path)
    home.address_file.write_text("old")
    home.address_file.chmod(0o644)
    home.write_private(home.address_file, "http://127.0.0.1:1\n")
    assert mode(home.address_file) == 0o600 and home.address_file.read_text() == "http://127.0.0.1:1\n"


def test_the_lock_admits_one_holder_and_names_it(tmp_path: Path) -> None:
    """While one process holds the home's lock another is refused with the holder's pid; closing releases it."""
    home = Home(tmp_path / "home")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home.root)], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(HomeLocked) as refused:
            lock_home(home)
        assert refused.value.pid == holder.pid
        assert f"already running with home {home.root} (pid {holder.pid})" in str(refused.value)
    finally:
        holder.communicate("", timeout=10)  # the holder exits when its stdin closes: the kernel drops the lock
    fd = lock_home(home)
    assert home.lock_file.read_text().strip() == str(os.getpid()) and mode(home.lock_file) == 0o600
    os.close(fd)


HOLD = """
import sys
from pathlib import Path
from mizzen.controlplane.home import Home, lock_home
fd = lock_home(Home(Path(sys.argv[1])))
print("locked", flush=True)
sys.stdin.read()
"""
