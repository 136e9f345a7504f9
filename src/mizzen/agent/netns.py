"""A captured app's network namespace and veth pair: the only module that runs ``ip`` (issue 18 item 6).

``mizzen run --capture`` runs the app in a namespace of its own, as Kubernetes runs a pod, joined to the
host's namespace (where Envoy and the agent stay) by a veth pair; ``docs/design.md``, "Transparent capture".

Names are derived from the workload and the agent's home, so two hosts' (or two homes') workloads of one
name never meet, and bounded by Linux's IFNAMSIZ (15 characters): namespace ``mz-<h>``, host end
``mz<h>h``, app end ``mz<h>a`` (``<h>``: 10 hex digits of a SHA-256). Addresses: one /30 per workload out
of :data:`CAPTURE_RANGE` (``10.250.0.0/16``: 16384 workloads per host), the host end ``.1`` and the app
``.2`` with its default route via the host end. The /30 is the first one free on this host at or after an
index derived from the name, so a workload usually gets the same one; "free" means no address of this
namespace falls in it (another workload's host end, or a network the machine already uses).

:func:`layout` and :func:`pick_subnet` are pure; :func:`create`, :func:`destroy` and
:func:`used_networks` run ``ip``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

CAPTURE_RANGE = ipaddress.IPv4Network("10.250.0.0/16")
PREFIX = 30
IFNAMSIZ = 15  # Linux's limit on an interface name (16 bytes with the terminating NUL)
NETNS_ETC = Path("/etc/netns")  # `ip netns exec` bind-mounts /etc/netns/<name>/<file> over /etc/<file>


class NetnsError(Exception):
    """The app's namespace or veth cannot be created or removed (not root, no ``ip``, ``ip`` refused)."""


@dataclass(frozen=True)
class Layout:
    """Everything one captured app's network consists of (recorded before any of it is created)."""

    netns: str  # the app's named network namespace (/run/netns/<netns>)
    host_veth: str  # the host's end, in the agent's namespace
    app_veth: str  # the app's end, inside ``netns``
    host_address: str  # the host end's address: the app's gateway (and its mesh services' name address)
    app_address: str  # the app's address: where Envoy's inbound clusters reach it
    prefix: int = PREFIX

    @property
    def hosts_file(self) -> Path:
        """The app's /etc/hosts (``ip netns exec`` mounts it over /etc/hosts for the app)."""
        return NETNS_ETC / self.netns / "hosts"

    def record(self) -> dict[str, object]:
        """The layout as the state file records it."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: object) -> Layout:
        """The layout a state file recorded (:class:`NetnsError` if it is not one)."""
        try:
            layout = cls(**record) if isinstance(record, dict) else None
        except TypeError as exc:
            raise NetnsError(f"not a capture layout: {exc}") from None
        if layout is None or not all(_is_ifname(n) for n in (layout.netns, layout.host_veth, layout.app_veth)):
            raise NetnsError(f"not a capture layout: {record!r}")
        return layout


def _is_ifname(name: object) -> bool:
    return isinstance(name, str) and name.startswith("mz") and 0 < len(name) <= IFNAMSIZ and name.isascii()


def digest(workload: str, salt: str) -> str:
    """10 hex digits naming ``workload`` (``<name>.<namespace>``) of the agent home ``salt``."""
    return hashlib.sha256(f"{workload}\0{salt}".encode()).hexdigest()[:10]


def pick_subnet(start: int, used: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first /30 of :data:`CAPTURE_RANGE` at or after index ``start`` (wrapping) overlapping none of ``used``."""
    subnets = list(CAPTURE_RANGE.subnets(new_prefix=PREFIX))
    taken = [n for n in used if n.overlaps(CAPTURE_RANGE)]
    for i in range(len(subnets)):
        candidate = subnets[(start + i) % len(subnets)]
        if not any(candidate.overlaps(n) for n in taken):
            return candidate
    raise NetnsError(f"capture: every /{PREFIX} of {CAPTURE_RANGE} is in use on this host")


def layout(workload: str, salt: str, used: Iterable[ipaddress.IPv4Network]) -> Layout:
    """The names and addresses of ``workload``'s app network, avoiding the networks in ``used``."""
    h = digest(workload, salt)
    count = CAPTURE_RANGE.num_addresses >> (32 - PREFIX)
    subnet = pick_subnet(int(h, 16) % count, used)
    host, app = list(subnet.hosts())
    return Layout(
        netns=f"mz-{h}", host_veth=f"mz{h}h", app_veth=f"mz{h}a", host_address=str(host), app_address=str(app)
    )


def create_commands(lay: Layout) -> list[list[str]]:
    """The ``ip`` commands that build ``lay`` (in order; each undone by :func:`destroy`)."""
    inside = ["ip", "-n", lay.netns]
    return [
        ["ip", "netns", "add", lay.netns],
        ["ip", "link", "add", lay.host_veth, "type", "veth", "peer", "name", lay.app_veth, "netns", lay.netns],
        ["ip", "addr", "add", f"{lay.host_address}/{lay.prefix}", "dev", lay.host_veth],
        ["ip", "link", "set", lay.host_veth, "up"],
        [*inside, "addr", "add", f"{lay.app_address}/{lay.prefix}", "dev", lay.app_veth],
        [*inside, "link", "set", "lo", "up"],
        [*inside, "link", "set", lay.app_veth, "up"],
        [*inside, "route", "add", "default", "via", lay.host_address],
    ]


def exec_prefix(lay: Layout) -> list[str]:
    """What runs a command inside the app's namespace (with its /etc/hosts)."""
    return ["ip", "netns", "exec", lay.netns]


def hosts_text(lay: Layout, names: Iterable[str]) -> str:
    """The app's /etc/hosts: loopback, itself, and every mesh name at its gateway (the sidecar routes by
    Host and port, as Istio's per-port listeners do; Mizzen's services have no ClusterIP)."""
    lines = ["127.0.0.1\tlocalhost", f"{lay.app_address}\t{lay.netns}"]
    lines += [f"{lay.host_address}\t{name}" for name in sorted(set(names))]
    return "\n".join(lines) + "\n"


def write_hosts(lay: Layout, names: Iterable[str]) -> bool:
    """(Re)write the app's /etc/hosts in place (a running app's bind mount keeps the inode); True if changed."""
    text = hosts_text(lay, names)
    path = lay.hosts_file
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as fh:  # truncate + write: not a rename, see above
        fh.write(text)
    return True


# --- the shell: running ip -------------------------------------------------------------------------


def _ip_exe() -> str:
    exe = shutil.which("ip")
    if exe is None:
        raise NetnsError("capture needs iproute2's `ip` command (Debian package iproute2)")
    return exe


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([_ip_exe(), *argv[1:]], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc


def used_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of every address in this namespace (``ip -j addr``)."""
    out = _run(["ip", "-j", "-4", "addr", "show"]).stdout
    nets = []
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            nets.append(ipaddress.IPv4Network(f"{addr['local']}/{addr['prefixlen']}", strict=False))
    return nets


def create(lay: Layout) -> None:
    """Build ``lay`` (the caller has recorded it first); on a failure, undo what was built and raise."""
    try:
        for argv in create_commands(lay):
            _run(argv)
    except NetnsError:
        destroy(lay)
        raise


def destroy(lay: Layout) -> list[str]:
    """Remove ``lay``'s namespace (which takes the app's veth end along), host veth and /etc/netns entry,
    whichever exist; returns what was removed."""
    removed = []
    if _run(["ip", "netns", "del", lay.netns], check=False).returncode == 0:
        removed.append(f"netns {lay.netns}")
    if _run(["ip", "link", "del", lay.host_veth], check=False).returncode == 0:
        removed.append(f"link {lay.host_veth}")
    folder = lay.hosts_file.parent
    if folder.exists():
        shutil.rmtree(folder)
        removed.append(str(folder))
    with contextlib.suppress(OSError):  # /etc/netns itself, if this made it and nothing else is in it
        folder.parent.rmdir()
    return removed
