"""Run a test in its own sandbox: new user, network, mount and PID namespaces (Linux, no root needed).

    @isolated(hosts={"edition.cnn.com": "127.0.0.1"})
    def test_egress(tmp_path): ...

    @isolated(addresses=["198.35.26.96"])  # a task's public address, local to the namespace
    def test_endpoints(tmp_path): ...

Istio's egress tasks name real hosts (``edition.cnn.com``, port 443) resolved by DNS. Inside the namespace
the test gets only a loopback interface (nothing can leave the machine, and ports below 1024 are free to
bind) with any ``addresses`` a task names (Endpoints of public IPs) added to it, an ``/etc/hosts``
mapping those names to local servers the test starts, an ``/etc/resolv.conf`` pointing at nothing, and
its own ``/proc``; the host's files are never written (the mounts are private to the namespace). Every
process the test starts lives in the PID namespace and is killed by the kernel when the test ends,
however it ends.

The decorated test runs in a forked child. Its failure comes back to the parent as text (an
``AssertionError`` carrying the child's traceback; a skip stays a skip), so pytest reports it as usual.
Fixtures are evaluated in the parent: they may create files, but servers must be started in the test.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time
import traceback
import unittest
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
DEFAULT_TIMEOUT = 900.0


class NamespaceUnavailable(RuntimeError):
    """This kernel or sandbox does not let an unprivileged process create the namespaces."""


class IsolatedFailure(AssertionError):
    """The isolated test failed with an exception that could not be carried back as itself."""


def isolated(
    hosts: Mapping[str, str] | None = None, *, addresses: Sequence[str] = (), timeout: float = DEFAULT_TIMEOUT
) -> Callable[[Callable[P, R]], Callable[P, None]]:
    """Decorate a test so it runs in fresh namespaces with ``hosts`` (name -> address) in ``/etc/hosts``
    and ``addresses`` on the namespace's loopback interface."""

    def wrap(fn: Callable[P, R]) -> Callable[P, None]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            call = functools.partial(fn, *args, **kwargs)
            run_isolated(call, hosts=hosts or {}, addresses=addresses, timeout=timeout)

        return run

    return wrap


def available() -> str:
    """``""`` when namespaces can be created here, else why not (for a skip reason)."""
    try:
        run_isolated(lambda: None, hosts={}, timeout=30.0)
    except NamespaceUnavailable as exc:
        return str(exc)
    return ""


def _fork_and_run(
    fn: Callable[[], object], hosts: Mapping[str, str], addresses: Sequence[str], timeout: float
) -> tuple[bytes, int]:
    """Run ``fn`` in a forked child inside new namespaces; what it reported (empty if it died) and its wait status."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        _outer_child(fn, hosts, addresses, write_end)
    os.close(write_end)
    payload = _read_all(read_end, pid, time.monotonic() + timeout)
    _, status = os.waitpid(pid, 0)
    return payload, status


def run_isolated(
    fn: Callable[[], object],
    *,
    hosts: Mapping[str, str],
    addresses: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Call ``fn`` in new namespaces; re-raise what it raised; kill everything it started when done.

    A child that dies before reporting anything is forked once more: forking a process whose native
    libraries (gRPC's abseil) hold a lock in another thread can abort the child at its first use of that
    lock ("Mutex::Fer with pending CondVar"), before the test has run. Its PID namespace took everything it
    started with it, so the second attempt starts clean. A test that fails reports its failure and is not retried.
    """
    payload, status = _fork_and_run(fn, hosts, addresses, timeout)
    if not payload:
        payload, status = _fork_and_run(fn, hosts, addresses, timeout)
    if not payload:
        raise IsolatedFailure(f"the isolated test died without a result (wait status {status})")
    result = json.loads(payload)
    kind, message = str(result["kind"]), str(result.get("message", ""))
    if kind == "unavailable":
        raise NamespaceUnavailable(message)
    if kind == "skip":
        raise unittest.SkipTest(message)  # pytest reports it as a skip
    if kind != "ok":
        raise IsolatedFailure(f"{message}\n\n(raised in the isolated namespace)\n{result.get('traceback', '')}")


def _read_all(fd: int, pid: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)  # its PID-1 child dies with it (PDEATHSIG), and the namespace
                raise IsolatedFailure("the isolated test timed out")
            ready, _, _ = select.select([fd], [], [], min(left, 5.0))
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
    finally:
        os.close(fd)


def _outer_child(  # pragma: no cover
    fn: Callable[[], object], hosts: Mapping[str, str], addresses: Sequence[str], out: int
) -> None:
    """The forked child: enter the namespaces, then fork the PID namespace's first process to run ``fn``."""
    code = 1
    try:
        uid, gid = os.getuid(), os.getgid()
        threads = len(os.listdir("/proc/self/task"))
        if threads > 1:  # unshare(CLONE_NEWUSER) fails with EINVAL; say why instead
            message = (
                f"the forked test process has {threads} threads (gRPC restarts its threads after fork "
                "unless GRPC_ENABLE_FORK_SUPPORT=false is set before grpc is imported)"
            )
            _send(out, {"kind": "error", "message": message})
            os._exit(0)
        try:
            _check(_libc().unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID), "unshare")
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"0 {uid} 1")
            _write("/proc/self/gid_map", f"0 {gid} 1")
        except OSError as exc:
            _send(out, {"kind": "unavailable", "message": f"cannot create user/network/mount/PID namespaces: {exc}"})
            os._exit(0)
        inner = os.fork()
        if inner == 0:
            _inner_child(fn, hosts, addresses, out)
        os.close(out)
        _, status = os.waitpid(inner, 0)
        code = os.waitstatus_to_exitcode(status)
    finally:
        os._exit(code & 0xFF)


def _inner_child(  # pragma: no cover
    fn: Callable[[], object], hosts: Mapping[str, str], addresses: Sequence[str], out: int
) -> None:
    """PID 1 of the new PID namespace: set the world up, run the test, report."""
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        _setup(hosts)
        _add_addresses(addresses)
        fn()
        result: dict[str, str] = {"kind": "ok"}
    except BaseException as exc:
        result = _describe(exc)
    _send(out, result)
    os._exit(0)


def _setup(hosts: Mapping[str, str]) -> None:
    libc = _libc()
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    _check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    lines = ["127.0.0.1 localhost", "::1 localhost", *(f"{addr} {name}" for name, addr in sorted(hosts.items()))]
    replace_file("/etc/hosts", "\n".join(lines) + "\n")
    # No DNS server answers inside the namespace: a name not in /etc/hosts fails at once, locally.
    replace_file("/etc/resolv.conf", "nameserver 127.0.0.1\n")
    _loopback_up()


def replace_file(target: str, text: str) -> None:
    """Inside an isolated test only: make ``target`` (an existing file) read as ``text``, for this
    namespace alone (e.g. the system CA bundle, so Istio's ``curl https://...`` trusts the test CA)."""
    # The mount keeps the file's inode: the temporary folder goes at once, nothing is left behind.
    with tempfile.TemporaryDirectory(prefix="mizzen-sandbox-") as folder:
        source = Path(folder) / Path(target).name
        source.write_text(text, encoding="utf-8")
        _check(_libc().mount(str(source).encode(), target.encode(), None, MS_BIND, None), f"bind {target}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _add_addresses(addresses: Sequence[str]) -> None:
    """Put ``addresses`` on the namespace's loopback (``ip address add``: the namespace's own, nothing else)."""
    for address in addresses:
        prefix = 32 if ipaddress.ip_address(address).version == 4 else 128
        subprocess.run(["ip", "address", "add", f"{address}/{prefix}", "dev", "lo"], check=True, capture_output=True)


def _describe(exc: BaseException) -> dict[str, str]:
    """What the parent needs to report ``exc``: a skip (pytest's or unittest's) or a failure with its traceback."""
    skipped = isinstance(exc, unittest.SkipTest) or type(exc).__name__ == "Skipped"
    return {
        "kind": "skip" if skipped else "error",
        "message": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _send(fd: int, value: dict[str, str]) -> None:
    view = memoryview(json.dumps(value).encode())
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err) if err else errno.errorcode.get(err, '?')}")
