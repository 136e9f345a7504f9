"""TCP test backend: on every connection it first sends its name, then echoes what it receives, so a
test can tell which backend a TCP route chose.

Run: ``python -m mizzen.testing.tcpecho --port N [--name NAME]`` (``--port`` defaults to ``$PORT``, the
name to ``$MIZZEN_WORKLOAD``). The greeting is ``<name>\\n``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socketserver


class TcpEchoHandler(socketserver.BaseRequestHandler):
    """Greets with the server's name, then echoes until the peer closes."""

    server: TcpEchoServer

    def handle(self) -> None:
        self.request.sendall(self.server.name.encode() + b"\n")
        while data := self.request.recv(65536):
            self.request.sendall(data)


class TcpEchoServer(socketserver.ThreadingTCPServer):
    """A threaded TCP echo server with a name."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], name: str) -> None:
        super().__init__(address, TcpEchoHandler)
        self.name = name


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m mizzen.testing.tcpecho", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7000")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default=os.environ.get("MIZZEN_WORKLOAD", "tcpecho"))
    args = parser.parse_args(argv)
    with TcpEchoServer((args.host, args.port), args.name) as server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
