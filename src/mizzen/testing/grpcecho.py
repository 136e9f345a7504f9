"""gRPC test backend without generated code: one unary method ``/mizzen.test.Echo/Hello`` with raw-bytes
messages, answering ``<version>:<request bytes>``, so a test can tell which version a gRPC route chose.

Run: ``python -m mizzen.testing.grpcecho --port N [--version V]`` (``--port`` defaults to ``$PORT``, the
version to the ``version`` label in ``$MIZZEN_LABELS``). The standard gRPC health service is not needed:
readiness is the port accepting connections.

Client side: ``channel.unary_unary(METHOD)(b"hi", metadata=[...])`` (bytes in, bytes out).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from concurrent import futures

import grpc

SERVICE = "mizzen.test.Echo"
METHOD = f"/{SERVICE}/Hello"


def server(port: int, version: str, host: str = "127.0.0.1") -> grpc.Server:
    """A started gRPC server on ``host:port`` answering ``Hello`` with ``<version>:<request>``."""

    def hello(request: bytes, context: grpc.ServicerContext) -> bytes:
        return version.encode() + b":" + request

    handler = grpc.method_handlers_generic_handler(SERVICE, {"Hello": grpc.unary_unary_rpc_method_handler(hello)})
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    srv.add_generic_rpc_handlers((handler,))
    srv.add_insecure_port(f"{host}:{port}")
    srv.start()
    return srv


def _label(key: str) -> str:
    pairs = (item.partition("=") for item in os.environ.get("MIZZEN_LABELS", "").split(","))
    return next((v for k, _, v in pairs if k == key), "")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; serves until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m mizzen.testing.grpcecho", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7070")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--version", default=_label("version"))
    args = parser.parse_args(argv)
    srv = server(args.port, args.version, args.host)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            srv.wait_for_termination()
    finally:
        srv.stop(None)


if __name__ == "__main__":
    main()
