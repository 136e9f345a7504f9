"""What a ``mizzen run`` says to the host agent and what it hears back (:mod:`mizzen.agent.host`).

One UNIX stream connection per workload. The client sends JSON lines, each at most :data:`MAX_LINE` bytes:

- first: an :class:`Attach` (the parsed spec, how to reach the control plane, the environment the app and
  Envoy start from, the client's pid and folder, the Envoy binary it checked);
- later: ``{"stop": "SIGTERM"}`` when the client is signalled. A closed connection (the client was
  killed) stops the workload too.

The agent answers in frames (:func:`frame`: a kind byte, a 4-byte big-endian length, UTF-8 text with
control characters escaped), so that the relay reading them needs no module beyond the interpreter's
built-in ones (``json``, ``socket`` and ``signal`` would cost it ~1.6 MB): :data:`OUT` (a stdout line),
:data:`LOG` (a stderr line), then exactly one of :data:`EXIT` (the exit code) or :data:`ERROR` (the
workload could not start).

The socket lives in the 0700 ``$MIZZEN_HOME/host`` folder, mode 0600, so only the user who runs the
workloads can attach; the control-plane credential travels over it as it travels from the token file.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mizzen.agent.errors import AgentError
from mizzen.agent.readiness import ProbePolicy
from mizzen.agent.spec import PortSpec, UpstreamSpec, WorkloadSpec

MAX_LINE = 4 * 1024 * 1024  # a spec with a large bootstrap override still fits; a runaway peer does not
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; keep a margin
PROTOCOL = 1
OUT, LOG, EXIT, ERROR = b"o", b"l", b"x", b"e"


class HostWireError(AgentError):
    """A malformed or oversized message on the host agent's socket."""


@dataclass(frozen=True)
class Attach:
    """One workload to run in the host agent, on behalf of the ``mizzen run`` process ``pid``."""

    spec: WorkloadSpec
    control_plane: dict[str, Any]  # mizzen.agent.runner.ControlPlane's fields, as encode_control_plane gives them
    environ: Mapping[str, str]
    pid: int
    envoy: str
    cwd: str
    verbose: bool = False


def socket_path(home: Path) -> Path:
    """Where the host agent of ``home`` listens: in ``home/host``, or (a long home) in a 0700 folder of
    ``$TMPDIR`` named after the home, which :func:`private_folder` checks before use."""
    path = home / "host" / "agent.sock"
    if len(str(path).encode()) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mizzen-host-{os.getuid()}-{digest}" / "agent.sock"


def private_folder(folder: Path) -> Path:
    """``folder``, created 0700 if missing; refused if another user owns it or others may enter it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise AgentError(f"{folder} must be a folder of this user with mode 0700, to hold the host agent's socket")
    return folder


def frame(kind: bytes, text: str) -> bytes:
    """One agent -> client frame; control characters other than newline and tab are shown escaped."""
    shown = "".join(c if c in "\n\t" or c.isprintable() else repr(c)[1:-1] for c in text)
    body = shown.encode("utf-8", "replace")
    return kind + len(body).to_bytes(4, "big") + body


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as a JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One JSON line as a message (an object); :class:`HostWireError` otherwise."""
    if len(line) > MAX_LINE:
        raise HostWireError(f"a host-agent message of {len(line)} bytes is over the {MAX_LINE}-byte limit")
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise HostWireError(f"a host-agent message is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise HostWireError("a host-agent message must be a JSON object")
    return message


def encode_attach(attach: Attach) -> bytes:
    """The first line a client sends."""
    return encode(
        {
            "protocol": PROTOCOL,
            "spec": _plain(dataclasses.asdict(attach.spec)),
            "controlPlane": attach.control_plane,
            "environ": dict(attach.environ),
            "pid": attach.pid,
            "envoy": attach.envoy,
            "cwd": attach.cwd,
            "verbose": attach.verbose,
        }
    )


def decode_attach(message: Mapping[str, Any]) -> Attach:
    """The client's first line as an :class:`Attach`; :class:`HostWireError` if it is not one."""
    if message.get("protocol") != PROTOCOL:
        raise HostWireError(
            f"this host agent speaks protocol {PROTOCOL}, the client {message.get('protocol')!r}: "
            "restart the host agent after upgrading Mizzen (stop its workloads)"
        )
    try:
        environ = {str(k): str(v) for k, v in dict(message["environ"]).items()}
        return Attach(
            spec=decode_spec(message["spec"]),
            control_plane=dict(message["controlPlane"]),
            environ=environ,
            pid=int(message["pid"]),
            envoy=str(message["envoy"]),
            cwd=str(message["cwd"]),
            verbose=bool(message.get("verbose", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HostWireError(f"a malformed attach message: {exc!r}") from exc


def decode_spec(raw: Mapping[str, Any]) -> WorkloadSpec:
    """A :class:`WorkloadSpec` from :func:`dataclasses.asdict` output that went through JSON."""
    fields = dict(raw)
    fields["labels"] = dict(fields.get("labels", {}))
    fields["env"] = dict(fields.get("env", {}))
    fields["annotations"] = dict(fields.get("annotations", {}))
    fields["ports"] = tuple(PortSpec(**p) for p in fields.get("ports", ()))
    fields["upstreams"] = tuple(UpstreamSpec(**u) for u in fields.get("upstreams", ()))
    fields["command"] = tuple(fields.get("command", ()))
    probe = dict(fields.get("probe", {}))
    probe["headers"] = tuple((str(k), str(v)) for k, v in probe.get("headers", ()))
    probe["exec_command"] = tuple(probe.get("exec_command", ()))
    fields["probe"] = ProbePolicy(**probe)
    return WorkloadSpec(**fields)


def encode_control_plane(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A ``ControlPlane``'s fields (:func:`dataclasses.asdict`) for JSON: the mesh roots as base64."""
    out = _plain(dict(fields))
    roots = fields.get("roots")
    out["roots"] = base64.b64encode(roots).decode() if isinstance(roots, bytes) else None
    return cast(dict[str, Any], out)


def decode_control_plane(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``ControlPlane`` again (tuples and bytes restored)."""
    fields = dict(raw)
    fields["roots"] = base64.b64decode(fields["roots"]) if fields.get("roots") else None
    fields["xds_address"] = _address(fields["xds_address"])
    fields["other_api_urls"] = tuple(str(u) for u in fields.get("other_api_urls", ()))
    fields["other_xds_addresses"] = tuple(_address(a) for a in fields.get("other_xds_addresses", ()))
    return fields


def _address(value: Any) -> tuple[str, int]:
    host, port = value
    return str(host), int(port)


def _plain(value: Any) -> Any:
    """Tuples as lists, mappings as dicts, recursively (what JSON holds)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
