"""``mizzen run --capture``: sets up and tears down one workload's transparent capture (issue 18 item 6).

The order is what makes a crash harmless: the state record (``$MIZZEN_HOME/capture/<ns>.<name>/
capture.json``) names the namespace, veth pair, addresses and nft table *before* any of them is created,
so whatever a killed agent left behind is found and removed at the next start of that workload
(:func:`remove_stale`), and a clean stop removes the same things (:meth:`Capture.close`). The pieces are
:mod:`mizzen.agent.netns` (``ip``: the app's namespace and veth) and :mod:`mizzen.agent.capture` (``nft``:
the redirect rules).

The app's names: ``ip netns exec`` mounts ``/etc/netns/<netns>/hosts`` over its /etc/hosts, which lists
every service name its sidecar can reach at the app's gateway address: the domains of its route
configurations (:func:`mesh_names`) and the hosts of its outbound clusters (:func:`cluster_names`; TCP
services have no routes), read from Envoy's admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mizzen.agent import capture, netns
from mizzen.agent.errors import CaptureSetupError

log = logging.getLogger("mizzen.agent")

_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*")


def check_prerequisites() -> None:
    """Refuse clearly when capture cannot work here: not root, no ``nft``, no ``ip``."""
    if os.geteuid() != 0:
        raise CaptureSetupError(
            "--capture needs root (it creates a network namespace, a veth pair and nftables rules); "
            "without root, leave --capture out: the app then gets its sidecar as HTTP_PROXY"
        )
    for tool, package in (("nft", "nftables"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            raise CaptureSetupError(f"--capture needs the `{tool}` command (Debian package {package})")


def state_dir(home: Path, name: str, namespace: str) -> Path:
    """Where one workload's capture record lives."""
    return home / "capture" / f"{namespace}.{name}"


def ipv4_hosts(urls: Sequence[str]) -> list[str]:
    """The IPv4 literals among the hosts of ``urls`` (``https://10.0.0.1:15014``, ``10.0.0.1:15010``)."""
    out = []
    for url in urls:
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        with contextlib.suppress(ValueError):
            out.append(str(ipaddress.IPv4Address(host)))
    return sorted(set(out))


def mesh_names(config_dump: Mapping[str, Any]) -> set[str]:
    """The host names of every virtual host in an Envoy routes config dump (``echo:9080`` gives ``echo``;
    wildcards and addresses are left out)."""
    names: set[str] = set()
    for entry in _entries(config_dump, "dynamic_route_configs"):
        for vhost in entry.get("route_config", {}).get("virtual_hosts", []):
            for domain in vhost.get("domains", []):
                host, _, port = str(domain).rpartition(":") if ":" in str(domain) else (str(domain), "", "")
                if _is_name(host) and (not port or port.isdigit()):
                    names.add(host)
    return names


def cluster_names(config_dump: Mapping[str, Any], namespace: str) -> set[str]:
    """The names of the services an Envoy clusters config dump has ``outbound|...`` clusters for, with
    Kubernetes' short forms (``name.ns``, ``name.ns.svc``; ``name`` in the proxy's own ``namespace``): TCP
    services have no route configuration, so :func:`mesh_names` alone would miss them."""
    names: set[str] = set()
    for entry in _entries(config_dump, "dynamic_active_clusters"):
        direction, _, rest = str(entry.get("cluster", {}).get("name", "")).partition("|")
        host = rest.rpartition("|")[2]
        if direction != "outbound" or not _is_name(host):
            continue
        names.add(host)
        short, _, domain = host.partition(".svc.")
        name, _, ns = short.partition(".")
        if domain and ns and "." not in ns:
            names.update({f"{name}.{ns}", f"{name}.{ns}.svc"} | ({name} if ns == namespace else set()))
    return names


def _entries(config_dump: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """A full dump nests the resources in one ``configs`` item under ``key``; ``?resource=`` lists them."""
    out: list[Mapping[str, Any]] = []
    for config in config_dump.get("configs", []):
        if any(k.startswith(("dynamic_", "static_")) for k in config):
            out += config.get(key, [])
        else:
            out.append(config)
    return out


def _is_name(host: str) -> bool:
    return bool(_HOSTNAME.fullmatch(host)) and not _is_address(host)


def _is_address(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Capture:
    """One workload's capture, set up: its network layout, nft table and record."""

    layout: netns.Layout
    table: str
    state: Path
    namespace: str = "default"  # the workload's: short service names resolve in it

    def close(self) -> list[str]:
        """Remove the table, the namespace, the veth and the record; what was removed."""
        return remove_stale(self.state)


def remove_stale(state: Path) -> list[str]:
    """Remove whatever the record in ``state`` names (a crashed run's leftovers, or a clean stop's)."""
    path = state / capture.STATE_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except ValueError as exc:
        raise CaptureSetupError(f"{path}: not a capture record ({exc}); remove its namespace by hand") from None
    try:
        removed = netns.destroy(netns.Layout.from_record(record.get("layout"))) if "layout" in record else []
        table = capture.remove(state)
    except (netns.NetnsError, capture.CaptureError, AttributeError) as exc:
        raise CaptureSetupError(f"{path}: {exc}") from exc
    return removed + ([f"nft table {table}"] if table else [])


# Root's, per machine, like iptables' /run/xtables.lock (iproute2 itself flocks /run/netns, so not that).
HOST_LOCK = Path("/run/mizzen-capture.lock")


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Serialize address allocation between the capturing agents of this machine, whatever their home (two
    starts must not pick one /30 between looking at the addresses in use and creating theirs). The lock file
    is root's (0600, in root's /run: no other user can open, hold or replace it); without /run, the home's."""
    path = HOST_LOCK if HOST_LOCK.parent.is_dir() else home / "capture" / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def start(
    home: Path,
    name: str,
    namespace: str,
    inbound_ports: Sequence[int],
    capture_ports: tuple[int, int],
    control_plane: Sequence[str],
) -> Capture:
    """Remove a crashed run's leftovers, then record and create the app's namespace, veth and nft table.

    ``inbound_ports`` are the workload's endpoint ports (what peers dial); ``capture_ports`` Envoy's
    (outbound, inbound) capture listeners; ``control_plane`` addresses the app's traffic is never sent to
    the sidecar for."""
    check_prerequisites()
    state = state_dir(home, name, namespace)
    workload = f"{name}.{namespace}"
    stale = remove_stale(state)
    if stale:
        log.warning("%s: removed what a previous run left behind: %s", workload, ", ".join(stale))
    try:
        with _locked(home):
            lay = netns.layout(workload, str(home.resolve()), netns.used_networks())
            plan = capture.CapturePlan(
                workload=workload,
                veth=lay.host_veth,
                inbound_ports=list(inbound_ports),
                control_plane=list(control_plane),
                outbound_port=capture_ports[0],
                inbound_port=capture_ports[1],
                extra={"layout": lay.record()},
            )
            _record(state, plan)
            netns.create(lay)
        table = capture.install(plan, state)
        netns.write_hosts(lay, ())
    except (netns.NetnsError, capture.CaptureError, OSError) as exc:
        with contextlib.suppress(CaptureSetupError):
            remove_stale(state)
        raise CaptureSetupError(f"{workload}: cannot set up capture: {exc}") from exc
    return Capture(layout=lay, table=table, state=state, namespace=namespace)


def _record(state: Path, plan: capture.CapturePlan) -> None:
    state.mkdir(parents=True, exist_ok=True)
    record = {"table": capture.table_name(plan.workload), "veth": plan.veth, **plan.extra}
    (state / capture.STATE_FILE).write_text(json.dumps(record) + "\n")


NAMES_REFRESH_S = 2.0
NAMES_FIRST_S = 0.2  # until the first names are written: an app may call out while it starts


async def keep_names(cap: Capture, admin: httpx.AsyncClient, interval_s: float = NAMES_REFRESH_S) -> None:
    """Keep the captured app's /etc/hosts listing the names its sidecar can reach (until cancelled); from
    Envoy's start, every :data:`NAMES_FIRST_S` until it has routes, then every ``interval_s``."""
    written = False
    while True:
        try:
            names: set[str] | None = await _sidecar_names(admin, cap.namespace)
        except (httpx.HTTPError, ValueError):
            names = None  # Envoy starting or restarting: the supervisor handles that; try again next round
        if names is not None and (names or written) and netns.write_hosts(cap.layout, names):
            log.info("%s: the app's /etc/hosts lists %d mesh names", cap.table, len(names))
            written = True
        await asyncio.sleep(interval_s if written else NAMES_FIRST_S)


async def _sidecar_names(admin: httpx.AsyncClient, namespace: str) -> set[str] | None:
    """What the sidecar routes (HTTP domains) and has clusters for (every service in scope), or None."""
    routes = await admin.get("/config_dump", params={"resource": "dynamic_route_configs"})
    clusters = await admin.get("/config_dump", params={"resource": "dynamic_active_clusters"})
    if routes.status_code != 200 or clusters.status_code != 200:
        return None
    return mesh_names(routes.json()) | cluster_names(clusters.json(), namespace)
