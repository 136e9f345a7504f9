"""The agent's SDS server: Envoy's ``sds-grpc`` cluster is this UNIX socket.

It serves the ``default`` (certificate chain + key) and ``ROOTCA`` secrets that
:class:`~mizzen.agent.certs.CertificateKeeper` hands to :meth:`SecretServer.publish`, with the xDS layer's
State-of-the-World server (the one module of the agent that uses it; Istio's agent embeds an SDS server
too). Envoy opens one SDS stream per secret, so streams of one
node do not replace each other here. The socket's folder is private to this user; no credential is needed.

Istio's file-based names are served on demand, as Istio's agent does for DestinationRule TLS given by
path: ``file-root:<ca file>`` (``file-root:system`` is this host's CA bundle) and
``file-cert:<cert file>~<key file>``. The files are read when Envoy first asks for the name, with this
user's permissions, so Envoy gets nothing the agent's user could not read; a file that cannot be read is
logged and not served (Envoy's TLS context then stays without it: the cluster fails closed). As Istio's
agent watches such files, the served files are polled (size and modification time, every
:data:`FILE_POLL_SECONDS`; no inotify) and a changed one is read again and pushed over SDS, so the next
connection uses the rotated certificate; a file that cannot be read after a change keeps the last good
secret (logged), as an Envoy that had it would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mizzen.security.sds import SECRET_TYPE, SYSTEM_ROOTS, file_secret, file_secret_paths
from mizzen.xds import Snapshot, SnapshotCache, XdsServer

log = logging.getLogger("mizzen.agent.sds")

FILE_POLL_SECONDS = 2.0
"""How often the files behind served ``file-root:``/``file-cert:`` names are checked for a change."""

Stamp = tuple[tuple[int, int], ...]
"""(size, mtime in ns) of each file behind a name."""


def system_bundle() -> str | None:
    """This host's CA bundle file, as OpenSSL is configured to find it."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _resolved(name: str) -> list[str | None] | None:
    paths = file_secret_paths(name)
    if paths is None:
        return None
    return [system_bundle() if p == SYSTEM_ROOTS and len(paths) == 1 else p for p in paths]


def file_stamp(name: str) -> Stamp | None:
    """What identifies the current contents of the files behind ``name`` (``None``: not all readable)."""
    resolved = _resolved(name)
    if resolved is None or None in resolved:
        return None
    try:
        stats = [Path(p).stat() for p in resolved if p is not None]
    except OSError:
        return None
    return tuple((st.st_size, st.st_mtime_ns) for st in stats)


def read_file_secret(name: str) -> dict[str, Any] | None:
    """The Secret for a file-based SDS name read from disk now, or ``None`` (not such a name, or unreadable)."""
    paths = file_secret_paths(name)
    resolved = _resolved(name)
    if paths is None or resolved is None:
        return None
    try:
        contents = tuple(Path(p).read_bytes() for p in resolved if p is not None)
    except OSError as exc:
        log.warning("SDS %s: cannot read %s: %s", name, exc.filename, exc.strerror or exc)
        return None
    if len(contents) != len(paths) or not all(contents):
        log.warning("SDS %s: no such file or an empty one", name)
        return None
    return file_secret(name, contents)


class SecretServer:
    """SDS on a UNIX socket, fed through :meth:`publish` and, for file-based names, on demand."""

    def __init__(self, poll_seconds: float = FILE_POLL_SECONDS) -> None:
        """An empty secret cache; :meth:`publish` fills ``default`` and ``ROOTCA``."""
        self.cache = SnapshotCache()
        self._server = XdsServer(self.cache, sds=True, one_stream_per_node=False, on_request=self._requested)
        self._own: dict[str, dict[str, Mapping[str, Any]]] = {}  # node -> default, ROOTCA
        self._files: dict[str, dict[str, Mapping[str, Any]]] = {}  # node -> file-root:/file-cert: secrets
        self._stamps: dict[str, Stamp | None] = {}  # file-based name -> its files when last read
        self._poll_seconds = poll_seconds
        self._watch: asyncio.Task[None] | None = None

    def publish(self, node_id: str, secrets: Mapping[str, Mapping[str, Any]]) -> None:
        """Make ``secrets`` (name -> Secret proto-JSON) what ``node_id``'s Envoy has; open streams get them now."""
        self._own[node_id] = dict(secrets)
        self._update(node_id)

    def _requested(self, node_id: str, type_url: str, names: tuple[str, ...]) -> None:
        if type_url != SECRET_TYPE:
            return
        files = self._files.setdefault(node_id, {})
        # Small local files, read on the event loop: once per name, then again only when they change.
        new: dict[str, Mapping[str, Any]] = {}
        for n in names:
            if n in files:
                continue
            stamp = file_stamp(n)
            if (secret := read_file_secret(n)) is not None:
                new[n] = secret
                self._stamps.setdefault(n, stamp)
        if new:
            files.update(new)
            self._update(node_id)

    def reread_changed_files(self) -> list[str]:
        """Read again the served file-based names whose files changed, push them; the names re-read."""
        changed: list[str] = []
        for name, seen in list(self._stamps.items()):
            stamp = file_stamp(name)
            if stamp is None or stamp == seen:
                continue  # unchanged, or mid-rotation / unreadable: keep the last good secret
            secret = read_file_secret(name)
            if secret is None:
                continue
            self._stamps[name] = stamp
            changed.append(name)
            for node_id, files in self._files.items():
                if name in files:
                    files[name] = secret
                    self._update(node_id)
        if changed:
            log.info("SDS: re-read changed files of %s", ", ".join(changed))
        return changed

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            self.reread_changed_files()

    def _update(self, node_id: str) -> None:
        merged = {**self._files.get(node_id, {}), **self._own.get(node_id, {})}
        self.cache.set(node_id, Snapshot.from_dicts({SECRET_TYPE: merged}))

    async def start(self, path: str) -> None:
        """Serve on the UNIX socket ``path``."""
        await self._server.start_unix(path)
        self._watch = asyncio.create_task(self._watch_files(), name="sds-file-watch")

    async def stop(self) -> None:
        """Stop watching files, close every stream and the socket."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await self._server.stop()
