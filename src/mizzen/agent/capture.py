"""Transparent capture's nftables rules: the only module that runs ``nft`` (issue 18 item 6, first part).

The design (``docs/design.md``, "Transparent capture"): the app of a captured workload runs in a network
namespace of its own, joined to the host by a veth pair, as a pod is; Envoy stays in the host's namespace.
Everything the app sends enters the host through its veth, so "this workload's app" is simply
``iifname <veth>``: no uid, no cgroup, and Envoy's own traffic, which never crosses that veth, is excluded
without a rule (Istio needs uid 1337 for that because its Envoy shares the pod's namespace). The rules:

- outbound: TCP from the veth to anything but loopback, the control plane and the excluded ports (and, when
  ``includeOutboundIPRanges`` is given, only to those ranges) is redirected to Envoy's outbound capture port
  (Istio's 15001), where ``SO_ORIGINAL_DST`` gives Envoy the address the app dialled;
- inbound: TCP arriving from elsewhere for a local address on one of the workload's endpoint ports (less
  the excluded ones) is redirected to the inbound capture port (Istio's 15006); so is TCP that a process of
  this host (another workload's Envoy) sends there, in an ``output`` chain, since prerouting never sees it.

Each workload's rules are one table, ``mizzen_<workload>``, installed in one ``nft -f`` transaction (all
or nothing) and deleted on stop. The table's name is recorded in the agent's state directory *before*
it is installed, so the next start after a crash finds and deletes a stale table (:func:`remove_stale`).

:func:`ruleset` is pure (unit-tested text); :func:`install`, :func:`remove` and :func:`remove_stale` are
the thin shell that runs ``nft``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

OUTBOUND_CAPTURE_PORT = 15001  # Istio's virtualOutbound
INBOUND_CAPTURE_PORT = 15006  # Istio's virtualInbound
STATE_FILE = "capture.json"
TABLE_PREFIX = "mizzen_"


class CaptureError(Exception):
    """Capture cannot be set up or torn down (not root, no ``nft``, nft refused the rules)."""


@dataclass(frozen=True)
class CapturePlan:
    """What one workload's capture redirects; every field is validated by :func:`ruleset`."""

    workload: str  # e.g. "reviews-v2.default": names the table
    veth: str  # the host end of the app's veth pair
    inbound_ports: Sequence[int]  # the app's ports, as the workload serves them
    control_plane: Sequence[str] = ()  # addresses never redirected (the agent reaches them directly)
    include_outbound_ranges: Sequence[str] = ("0.0.0.0/0",)  # Istio's includeOutboundIPRanges, default "*"
    exclude_outbound_ranges: Sequence[str] = ()  # Istio's excludeOutboundIPRanges
    exclude_outbound_ports: Sequence[int] = ()  # Istio's excludeOutboundPorts
    exclude_inbound_ports: Sequence[int] = ()  # Istio's excludeInboundPorts
    outbound_port: int = OUTBOUND_CAPTURE_PORT
    inbound_port: int = INBOUND_CAPTURE_PORT
    extra: dict[str, object] = field(default_factory=dict, compare=False)  # recorded with the state, not in rules


def table_name(workload: str) -> str:
    """The nftables table of ``workload``'s rules (nft names allow letters, digits and ``_`` only)."""
    return TABLE_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", workload)


def ruleset(plan: CapturePlan) -> str:
    """The ``nft -f`` text installing ``plan``'s table (replacing an older one of the same name)."""
    _check(plan)
    table = table_name(plan.workload)
    veth = plan.veth
    lines = [
        f"table ip {table}",  # create-if-missing, so the delete below cannot fail...
        f"delete table ip {table}",  # ...and a leftover of an earlier run is replaced, not merged
        f"table ip {table} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        f'    iifname "{veth}" ip daddr 127.0.0.0/8 return',
    ]
    lines += [f'    iifname "{veth}" ip daddr {_set(plan.control_plane)} return'] if plan.control_plane else []
    if plan.exclude_outbound_ranges:
        lines.append(f'    iifname "{veth}" ip daddr {_set(plan.exclude_outbound_ranges)} return')
    if plan.exclude_outbound_ports:
        lines.append(f'    iifname "{veth}" tcp dport {_set(plan.exclude_outbound_ports)} return')
    lines.append(
        f'    iifname "{veth}" ip daddr {_set(plan.include_outbound_ranges)} meta l4proto tcp '
        f"redirect to :{plan.outbound_port}"
    )
    inbound = sorted(set(plan.inbound_ports) - set(plan.exclude_inbound_ports))
    if inbound:
        lines.append(
            f'    iifname != "{veth}" fib daddr type local tcp dport {_set(inbound)} redirect to :{plan.inbound_port}'
        )
    lines.append("  }")
    if inbound:  # peers on this host (other sidecars) connect from the output path, which prerouting never sees
        lines += [
            "  chain output {",
            "    type nat hook output priority -100; policy accept;",  # dstnat: nft names it only for prerouting
            f"    fib daddr type local tcp dport {_set(inbound)} redirect to :{plan.inbound_port}",
            "  }",
        ]
    lines += ["}", ""]
    return "\n".join(lines)


def delete_text(table: str) -> str:
    """The ``nft -f`` text deleting ``table`` whether or not it exists."""
    return f"table ip {table}\ndelete table ip {table}\n"


def _set(items: Sequence[object]) -> str:
    values = [str(i) for i in items]
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


def _check(plan: CapturePlan) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", plan.veth):
        raise CaptureError(f"capture: {plan.veth!r} is not an interface name")
    ports = [*plan.inbound_ports, *plan.exclude_inbound_ports, *plan.exclude_outbound_ports]
    for port in [*ports, plan.outbound_port, plan.inbound_port]:
        if not 0 < port < 65536:
            raise CaptureError(f"capture: port {port} is out of range")
    for net in [*plan.control_plane, *plan.include_outbound_ranges, *plan.exclude_outbound_ranges]:
        try:
            ipaddress.IPv4Network(net, strict=False)
        except ValueError as exc:
            raise CaptureError(f"capture: {net!r} is not an IPv4 address or range: {exc}") from None


# --- the shell: running nft ------------------------------------------------------------------------


def _nft(text: str) -> None:
    exe = shutil.which("nft")
    if exe is None:
        raise CaptureError("capture needs nftables' `nft` command (Debian package nftables)")
    proc = subprocess.run([exe, "-f", "-"], input=text, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CaptureError(f"nft refused the capture rules: {proc.stderr.strip()}")


def install(plan: CapturePlan, state_dir: Path) -> str:
    """Record, then install ``plan``'s table (one transaction); return the table's name."""
    text = ruleset(plan)
    table = table_name(plan.workload)
    state_dir.mkdir(parents=True, exist_ok=True)
    record = {"table": table, "veth": plan.veth, **plan.extra}
    (state_dir / STATE_FILE).write_text(json.dumps(record) + "\n")
    _nft(text)
    return table


def remove(state_dir: Path) -> str | None:
    """Delete the table recorded in ``state_dir`` (if any) and the record; return the table's name."""
    path = state_dir / STATE_FILE
    try:
        table = str(json.loads(path.read_text())["table"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise CaptureError(
            f"{path}: not a capture record ({exc}); delete the table by hand (nft list tables)"
        ) from None
    if not table.startswith(TABLE_PREFIX) or not re.fullmatch(r"[A-Za-z0-9_]+", table):
        raise CaptureError(f"{path}: {table!r} is not a Mizzen capture table; not deleting it")
    _nft(delete_text(table))
    path.unlink()
    return table


def remove_stale(state_dir: Path) -> str | None:
    """At start: the table a crashed earlier run left behind, deleted (its name, or None if there was none)."""
    return remove(state_dir)
