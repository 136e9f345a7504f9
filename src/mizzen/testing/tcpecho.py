"""TCP test backend: on every connection it first sends its name, then echoes what it receives, so a
test can tell which backend a TCP route chose.

Run: ``python -m mizzen.testing.tcpecho --port N [--port M ...] [--name NAME] [--cert FILE --key FILE]``
(``--port`` defaults to ``$PORT``, the name to ``$MIZZEN_WORKLOAD``). The greeting is ``<name>\\n``. With ``--cert`` and
``--key`` every connection is TLS first (a TLS backend for SNI routing tests).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socketserver
import ssl
import threading


class TcpEchoHandler(socketserver.BaseRequestHandler):
    """Greets with the server's name, then echoes until the peer closes."""

    server: TcpEchoServer

    def setup(self) -> None:
        """Wrap the connection in TLS when the server has a certificate."""
        if self.server.tls is not None:
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)

    def handle(self) -> None:
        """Send the server's name, then echo every byte back."""
        self.request.sendall(self.server.name.encode() + b"\n")
        while data := self.request.recv(65536):
            self.request.sendall(data)


class TcpEchoServer(socketserver.ThreadingTCPServer):
    """A threaded TCP echo server with a name."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], name: str, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(address, TcpEchoHandler)
        self.name, self.tls = name, tls


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m mizzen.testing.tcpecho", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--port", type=int, action="append", help="a port to serve (repeat for several; default $PORT or 7000)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default=os.environ.get("MIZZEN_WORKLOAD", "tcpecho"))
    parser.add_argument("--cert", help="PEM certificate: serve TLS (with --key)")
    parser.add_argument("--key", help="PEM private key for --cert")
    args = parser.parse_args(argv)
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    ports = args.port or [int(os.environ.get("PORT", "7000"))]
    servers = [TcpEchoServer((args.host, port), args.name, tls) for port in ports]
    for extra in servers[1:]:  # one process for all ports, like a workload with several container ports
        threading.Thread(target=extra.serve_forever, daemon=True).start()
    with servers[0] as server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
