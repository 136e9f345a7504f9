"""A lab of several "hosts" on one machine: Linux network namespaces on a private bridge (needs root).

    with Lab() as lab:
        cp, b = lab.add_host("cp"), lab.add_host("b")
        proc = b.spawn(["python", "-m", "http.server", "8000"], log=tmp / "b.log")
        cp.run(["python", "-c", f"import urllib.request; urllib.request.urlopen('http://{b.address}:8000/')"])
        lab.partition(cp, b)   # silent drop both ways, as a lost route looks to TCP
        lab.heal(cp, b)
        b.link_down(); b.link_up()

Layout: one namespace holds only a bridge (``br0``); each host is a namespace with a loopback and an
``eth0`` veth whose peer is a port of that bridge, an address in a private /24 and no default route
(the lab has no gateway, and a DNS query then fails at once instead of timing out). Nothing is created
in the machine's own namespace, so the lab can neither clash with the machine's routes nor leak
traffic beyond it.

Namespaces are named ``mzlab<pid>-<host>`` after the process that made them: :func:`remove_leftovers`
deletes those of processes that no longer run (a test run killed before its cleanup), and
:meth:`Lab.close` deletes everything the lab made, killing every process it started (by pid) first.
Partitions are nftables rules inside the two hosts (``nft``, which ``tools/dev.py`` installs): packets
are dropped both ways without an ICMP error or a reset, as when a host vanishes or a route is lost.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "mzlab"
DEFAULT_SUBNET = "10.213.77.0/24"  # private, and only ever configured inside the lab's own namespaces
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")


class LabUnavailable(RuntimeError):
    """Network namespaces cannot be created here (not root, no ``ip``, no netns support)."""


class LabError(RuntimeError):
    """A lab command failed (the message holds the command and its output)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def unavailable_reason() -> str | None:
    """Why this machine cannot host a lab, or None when it can (root, ``ip`` present, netns works)."""
    if os.geteuid() != 0:
        return "network namespaces need root (the multi-host lab creates them with `ip netns`)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def lab_namespaces() -> list[str]:
    """Every namespace on the machine named like a lab's."""
    listed = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(PREFIX)]


def _owner(namespace: str) -> int | None:
    match = re.match(rf"^{PREFIX}(\d+)-", namespace)
    return int(match.group(1)) if match else None


def remove_leftovers() -> list[str]:
    """Delete lab namespaces whose creating process is gone (and the processes still inside them)."""
    removed = []
    for ns in lab_namespaces():
        owner = _owner(ns)
        if owner is not None and _alive(owner):
            continue
        _kill_inside(ns)
        _ip("netns", "del", ns, check=False)
        removed.append(ns)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(namespace: str) -> None:
    """SIGKILL the processes still running in ``namespace`` (those of a crashed test run)."""
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


@dataclass
class Host:
    """One namespace: a loopback and ``eth0`` with :attr:`address` on the lab's bridge."""

    lab: Lab
    name: str
    namespace: str
    address: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as run inside this host (``ip netns exec``, which execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def spawn(self, argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside this host in its own session, output appended to ``log``; stopped at close."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                self.argv(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        self.processes.append(proc)
        return proc

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside this host to completion and return its output."""
        proc = subprocess.run(
            self.argv(argv),
            input=input,
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else None,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise LabError(f"{self.name}: {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def signal(self, proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """Send ``sig`` to ``proc`` (by pid) unless it exited."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
        """SIGTERM the process group of ``proc``, SIGKILL it after ``timeout``; return the exit code."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        return proc.returncode

    def link_down(self) -> None:
        """Take this host's ``eth0`` down: its peers' packets go nowhere, its own sends fail."""
        _ip("-n", self.namespace, "link", "set", "eth0", "down")

    def link_up(self) -> None:
        """Bring ``eth0`` back (its address stayed; the kernel restores the /24's route with the link)."""
        _ip("-n", self.namespace, "link", "set", "eth0", "up")

    def stop_all(self) -> None:
        """Stop every process started here, each by its pid's group, side by side."""
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.processes.clear()


class Lab:
    """Network namespaces on a private bridge; a context manager that removes everything it made."""

    def __init__(self, subnet: str = DEFAULT_SUBNET) -> None:
        self.network = ipaddress.ip_network(subnet)
        self.tag = f"{PREFIX}{os.getpid()}"
        self.bridge_ns = f"{self.tag}-br"
        self.hosts: dict[str, Host] = {}
        self._made: list[str] = []
        self._captures: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Lab:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Create the bridge namespace (call once; :meth:`__enter__` does)."""
        reason = unavailable_reason()
        if reason is not None:
            raise LabUnavailable(reason)
        if self.bridge_ns in lab_namespaces():
            raise LabError(f"{self.bridge_ns} exists already: one lab per process at a time")
        self._netns_add(self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")

    def add_host(self, name: str) -> Host:
        """A new host with the next free address of the lab's /24 (``.1`` for the first)."""
        if not _NAME.match(name):
            raise ValueError(f"host name {name!r}: 1-8 lower-case letters or digits, starting with a letter")
        if name in self.hosts:
            raise ValueError(f"host {name!r} exists already")
        address = str(self.network.network_address + len(self.hosts) + 1)
        ns = f"{self.tag}-{name}"
        self._netns_add(ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        # Both ends are created inside the lab's namespaces: the machine's own namespace is never touched.
        _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p-{name}", "netns", self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "set", f"p-{name}", "master", "br0")
        _ip("-n", self.bridge_ns, "link", "set", f"p-{name}", "up")
        _ip("-n", ns, "addr", "add", f"{address}/{self.network.prefixlen}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        host = Host(self, name, ns, address)
        self.hosts[name] = host
        return host

    def partition(self, a: Host, b: Host) -> None:
        """Drop every packet between ``a`` and ``b`` silently, both ways (an nftables rule in each)."""
        if shutil.which("nft") is None:
            raise LabUnavailable("partitions need nftables' `nft` command (tools/dev.py installs it)")
        for here, there in ((a, b), (b, a)):
            table = f"{PREFIX}_{there.name}"
            rules = (
                f"table inet {table} {{\n"
                f"  chain in {{ type filter hook input priority 0; ip saddr {there.address} drop; }}\n"
                f"  chain out {{ type filter hook output priority 0; ip daddr {there.address} drop; }}\n}}\n"
            )
            here.run(["nft", "delete", "table", "inet", table], check=False)
            here.run(["nft", "-f", "-"], input=rules)

    def heal(self, a: Host, b: Host) -> None:
        """Undo :meth:`partition` (every lab rule in both hosts)."""
        for here, there in ((a, b), (b, a)):
            here.run(["nft", "delete", "table", "inet", f"{PREFIX}_{there.name}"], check=False)

    def capture(self, out: Path, log: Path) -> subprocess.Popen[bytes]:
        """Start recording every frame crossing the bridge (all traffic between hosts) into ``out``; stop it
        with :meth:`Host.stop`-style SIGTERM (it is stopped at close too). Read with ``netclient.frames``."""
        import sys

        argv = ["ip", "netns", "exec", self.bridge_ns, sys.executable, "-u", "-m", "mizzen.testing.netclient"]
        argv += ["capture", "--iface", "any", "--out", str(out)]  # every bridge port
        with open(log, "ab") as sink:
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        self._captures.append(proc)
        deadline = time.monotonic() + 20
        while b"capturing" not in log.read_bytes() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return proc

    def close(self) -> None:
        """Stop every process the hosts started, then delete every namespace (and so every link) of the lab."""
        for host in self.hosts.values():
            host.stop_all()
        for proc in self._captures:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        self._captures.clear()
        for ns in reversed(self._made):
            _kill_inside(ns)
            _ip("netns", "del", ns, check=False)
        self._made.clear()
        self.hosts.clear()
        deadline = time.monotonic() + 5.0
        while any(ns.startswith(f"{self.tag}-") for ns in lab_namespaces()) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _netns_add(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self._made.append(ns)


@contextlib.contextmanager
def lab_or_skip(subnet: str = DEFAULT_SUBNET) -> Iterator[Lab]:
    """A :class:`Lab` for a test: skipped with the reason where namespaces cannot be made (an error with
    ``CI=true``); stale labs of dead runs are removed first, and nothing of this one is left afterwards."""
    import pytest  # only tests use this helper

    from mizzen.testing.samples import required

    remove_leftovers()
    reason = unavailable_reason()
    if reason is not None:
        if required():
            pytest.fail(f"CI=true and the multi-host lab cannot run: {reason}")
        pytest.skip(reason)
    lab = Lab(subnet)
    try:
        lab.open()
        yield lab
    finally:
        lab.close()
    left = [ns for ns in lab_namespaces() if ns.startswith(f"{lab.tag}-")]
    if left:
        raise LabError(f"the lab left namespaces behind: {left}")
