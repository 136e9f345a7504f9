"""The agent's private socket folder: where Envoy finds the agent (xDS, SDS, spans) and its own admin.

A fresh directory of mode 0700 per run (``mkdtemp``), short enough for UNIX socket paths (108 bytes), so
no other local user can connect to any of them; removed when the agent stops.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mizzen.agent.bootstrap import AgentPaths


@dataclass(frozen=True)
class AgentSockets:
    """Socket paths of one running workload."""

    folder: Path

    @classmethod
    def create(cls, name: str) -> AgentSockets:
        """A new private folder (``/tmp/mz-<name>-XXXX``, mode 0700)."""
        return cls(Path(tempfile.mkdtemp(prefix=f"mz-{name[:20]}-")))

    @property
    def xds(self) -> Path:
        return self.folder / "xds.sock"

    @property
    def sds(self) -> Path:
        return self.folder / "sds.sock"

    @property
    def spans(self) -> Path:
        return self.folder / "spans.sock"

    @property
    def admin(self) -> Path:
        return self.folder / "admin.sock"

    def paths(self) -> AgentPaths:
        """The socket paths as the bootstrap needs them."""
        return AgentPaths(xds=str(self.xds), sds=str(self.sds), spans=str(self.spans), admin=str(self.admin))

    def remove(self) -> None:
        """Delete the folder and whatever sockets are left in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
