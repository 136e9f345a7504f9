"""The host agent: one process that runs every workload of a ``$MIZZEN_HOME`` on this host (issue 15 item 4).

With ``MIZZEN_HOST_AGENT=1``, ``mizzen run`` and ``mizzen gateway`` parse their options as always, then
attach to this process over a UNIX socket (:mod:`mizzen.agent.hostwire`) instead of running the agent
themselves, and exec a tiny relay (:mod:`mizzen.agent.hostclient`) that prints what the workload reports
and passes on Ctrl-C or SIGTERM. Each workload is a :class:`~mizzen.agent.runner.WorkloadRunner` in this
event loop, with its own credential, certificate, sockets, xDS and agent-channel streams, exactly as a
per-workload agent has them, so the control plane sees no difference. What the workloads share is the
interpreter, asyncio, gRPC and the gRPC channel to each control plane (one connection and one keepalive
ping a second per host; every call still carries its workload's credential): paid once per host instead of
once per workload (docs/design.md).

- The first ``mizzen run`` starts the host agent (detached: its own session, its log in
  ``$MIZZEN_HOME/logs/host-agent.log``); a lock file makes a second one exit at once. When the last
  workload has stopped, it exits after :data:`IDLE_EXIT_S` (``MIZZEN_HOST_AGENT_IDLE_SECONDS``).
- A client that goes away (killed) stops its workload in order, as SIGTERM would. A killed host agent
  takes its apps and Envoys with it (``PR_SET_PDEATHSIG``), and every relay exits non-zero.
- Log lines of a workload go to its own ``mizzen run`` (a context variable follows the runner's tasks);
  the host agent's own lines go to its log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import fcntl
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mizzen.agent import hostwire
from mizzen.agent.errors import AgentError
from mizzen.agent.runner import ControlPlane, WorkloadRunner
from mizzen.agent.upstream import UpstreamPool

IDLE_EXIT_S = 10.0
ATTACH_TIMEOUT_S = 10.0  # a client sends its workload at once
LOCK_WAIT_S = 20.0  # a starting host agent waits this long for one that is exiting
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Client:
    """Where a workload's log records go, and from which level on (``--verbose``: DEBUG, else INFO)."""

    send: Callable[[str], None]
    level: int = logging.INFO


_client: contextvars.ContextVar[_Client | None] = contextvars.ContextVar("host_client", default=None)


class _RouteToClient(logging.Handler):
    """Log records of a workload's tasks go to its client's stderr; others to the host agent's log."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fallback: logging.Handler) -> None:
        super().__init__()
        self.loop, self.fallback = loop, fallback
        self.setFormatter(logging.Formatter("mizzen %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        client = _client.get()
        if client is None:
            if record.levelno >= logging.INFO:  # the root level is DEBUG while any client is verbose
                self.fallback.handle(record)
            return
        if record.levelno < client.level:  # one client's --verbose is not every workload's
            return
        text = self.format(record)
        if threading.current_thread() is threading.main_thread():
            client.send(text)
        else:  # gRPC's threads: the stream writer belongs to the loop
            self.loop.call_soon_threadsafe(client.send, text)


class HostAgent:
    """Serve attach requests on :func:`hostwire.socket_path` until idle for ``idle_exit_s``."""

    def __init__(self, home: Path, *, idle_exit_s: float = IDLE_EXIT_S) -> None:
        """Nothing happens before :meth:`serve`."""
        self.home, self.idle_exit_s = home, idle_exit_s
        self.socket = hostwire.socket_path(home)
        self.runners: set[WorkloadRunner] = set()
        self.connections = 0  # clients being served (attaching, running, or reporting their exit)
        self.upstreams = UpstreamPool()  # one gRPC channel per control plane, shared by the workloads
        self._idle: asyncio.TimerHandle | None = None
        self._done: asyncio.Event | None = None

    async def serve(self) -> None:
        """Listen, run workloads, return once no workload has run for ``idle_exit_s``."""
        self._done = asyncio.Event()
        hostwire.private_folder(self.socket.parent)
        self.socket.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._attach, path=str(self.socket), limit=hostwire.MAX_LINE)
        os.chmod(self.socket, 0o600)
        log.info("host agent %d serving %s", os.getpid(), self.socket)
        self._arm_idle()
        try:
            await self._done.wait()
        finally:
            server.close()
            self.socket.unlink(missing_ok=True)
            await server.wait_closed()
        # A connection accepted in the very loop turn the idle time ran out is still served to its end.
        await asyncio.sleep(0)
        while self.connections:
            await asyncio.sleep(0.1)
        await self.upstreams.close()
        log.info("host agent %d: no workload for %.0fs, exiting", os.getpid(), self.idle_exit_s)

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not self.connections:
            self._idle = asyncio.get_running_loop().call_later(self.idle_exit_s, self._idle_check)

    def _idle_check(self) -> None:
        if not self.connections and self._done is not None:
            self._done.set()

    async def _attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client, counted while it is served."""
        self.connections += 1
        self._arm_idle()
        try:
            await self._serve_client(reader, writer)
        finally:
            self.connections -= 1
            self._arm_idle()
            await _close(writer)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client: decode its workload, run it, relay output and stop requests, report the exit code."""

        def send(kind: bytes, text: str) -> None:
            if not writer.is_closing():
                writer.write(hostwire.frame(kind, text))

        try:
            line = await asyncio.wait_for(reader.readline(), ATTACH_TIMEOUT_S)
            attach = hostwire.decode_attach(hostwire.decode(line))
            cp = ControlPlane(**hostwire.decode_control_plane(attach.control_plane))
        except TimeoutError:
            send(hostwire.ERROR, f"no workload sent within {ATTACH_TIMEOUT_S:.0f}s")
            return
        except (hostwire.HostWireError, TypeError, ValueError) as exc:  # ValueError: an over-long line
            send(hostwire.ERROR, str(exc))
            return
        if attach.verbose:
            logging.getLogger().setLevel(logging.DEBUG)
        runner = WorkloadRunner(
            attach.spec,
            home=self.home,
            envoy=Path(attach.envoy),
            control_plane=cp,
            out=lambda text: send(hostwire.OUT, text),
            environ=attach.environ,
            owner_pid=attach.pid,
            cwd=attach.cwd,
            upstreams=self.upstreams,
        )
        self.runners.add(runner)
        level = logging.DEBUG if attach.verbose else logging.INFO
        _client.set(_Client(lambda text: send(hostwire.LOG, text), level))  # the runner's tasks copy this context
        watcher = asyncio.create_task(self._watch(reader, runner), name=f"host-client-{attach.pid}")
        try:
            code = await runner.run(handle_signals=False)
        except AgentError as exc:
            send(hostwire.ERROR, str(exc))
        except Exception as exc:  # never take the other workloads down with this one
            log.exception("workload %s.%s failed", attach.spec.name, attach.spec.namespace)
            send(hostwire.ERROR, f"the host agent failed running this workload: {exc!r}")
        else:
            send(hostwire.EXIT, str(code))
        finally:
            watcher.cancel()
            self.runners.discard(runner)

    async def _watch(self, reader: asyncio.StreamReader, runner: WorkloadRunner) -> None:
        """Stop requests from the client; its going away (EOF) is one too."""
        while True:
            try:
                line = await reader.readline()
            except (ConnectionError, ValueError):  # ValueError: an over-long line
                line = b""
            if not line:
                runner.request_stop("its mizzen run went away")
                return
            try:
                message = hostwire.decode(line)
            except hostwire.HostWireError:
                continue
            if isinstance(message.get("stop"), str):
                runner.request_stop(message["stop"])


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def _lock(home: Path, timeout_s: float = LOCK_WAIT_S) -> int | None:
    """The host agent's lock (held while it lives); None if another host agent holds it and serves.

    A host agent that holds the lock but no longer listens is on its way out (idle): wait for it."""
    path = hostwire.socket_path(home)
    folder = hostwire.private_folder(path.parent)
    fd = os.open(folder / "agent.lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if _listening(path) or time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m mizzen.agent.host --home H [--detach]``: what ``mizzen run`` starts."""
    parser = argparse.ArgumentParser(prog="python -m mizzen.agent.host")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--detach", action="store_true", help="fork; the parent returns at once")
    parser.add_argument("--idle-exit", type=float, default=None, help=f"seconds (default {IDLE_EXIT_S:.0f})")
    args = parser.parse_args(argv)
    if args.detach and os.fork() != 0:  # before any thread exists: the child is reparented, never a zombie
        return 0
    if args.detach:
        os.setsid()
        os.chdir(args.home)  # hold no client's folder; each app runs in its own client's (Attach.cwd)
    fd = _lock(args.home)
    if fd is None:
        return 0  # another host agent runs for this home: the client attaches to that one
    idle = args.idle_exit
    if idle is None:
        idle = float(os.environ.get("MIZZEN_HOST_AGENT_IDLE_SECONDS", IDLE_EXIT_S))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s mizzen host agent %(levelname)s %(message)s"))
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def serve() -> None:
        root = logging.getLogger()
        root.handlers[:] = [_RouteToClient(asyncio.get_running_loop(), stderr)]
        root.setLevel(logging.INFO)
        await HostAgent(args.home, idle_exit_s=idle).serve()

    try:
        asyncio.run(serve())
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
