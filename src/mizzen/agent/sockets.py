"""The agent's private socket folder: where Envoy finds the agent (xDS, SDS, spans) and its own admin.

``$MIZZEN_HOME/run/<namespace>.<name>`` (mode 0700, inside the 0700 home), so no other local user can
connect to any of them. A killed agent cannot remove its folder; the next run of the same workload
replaces it (a second live run is refused before this point). UNIX socket paths are limited to 108
bytes, so a home with a long path falls back to a fresh ``mkdtemp`` folder (mode 0700 too).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mizzen.agent.bootstrap import AgentPaths

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; keep a margin


@dataclass(frozen=True)
class AgentSockets:
    """Socket paths of one running workload."""

    folder: Path

    @classmethod
    def create(cls, home: Path, namespace: str, name: str) -> AgentSockets:
        """The workload's private folder, emptied of what a previous (killed) run left."""
        folder = home / "run" / f"{namespace}.{name}"
        if len(str(folder / "admin.sock").encode()) > MAX_SOCKET_PATH:
            return cls(Path(tempfile.mkdtemp(prefix=f"mz-{name[:20]}-")))
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        return cls(folder)

    @property
    def xds(self) -> Path:
        """Where the agent serves Envoy's ADS stream (the bootstrap's ``xds-grpc`` cluster)."""
        return self.folder / "xds.sock"

    @property
    def sds(self) -> Path:
        """Where the agent serves SDS ``default`` and ``ROOTCA`` (the bootstrap's ``sds-grpc`` cluster)."""
        return self.folder / "sds.sock"

    @property
    def spans(self) -> Path:
        """Where Envoy's Zipkin tracer posts spans for the agent to forward."""
        return self.folder / "spans.sock"

    @property
    def admin(self) -> Path:
        """Envoy's admin interface, reachable only by the agent's user (mode 0600)."""
        return self.folder / "admin.sock"

    def paths(self) -> AgentPaths:
        """The socket paths as the bootstrap needs them."""
        return AgentPaths(xds=str(self.xds), sds=str(self.sds), spans=str(self.spans), admin=str(self.admin))

    def remove(self) -> None:
        """Delete the folder and whatever sockets are left in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
