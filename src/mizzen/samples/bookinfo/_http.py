"""Plumbing shared by the Bookinfo services: a tiny routed HTTP server and an outbound HTTP client.

Standard library only, so the sample runs wherever Mizzen runs. The client deliberately opens a new
connection per call (urllib sends ``Connection: close``), like the original's "no pooling" requests, and
honours ``HTTP_PROXY``/``NO_PROXY`` — which is how a call to ``http://reviews:9080/...`` reaches the
workload's sidecar.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)


@dataclass
class Request:
    """An incoming request as the handlers see it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    def form(self) -> dict[str, str]:
        """The urlencoded form body merged over the query string (first value of each field)."""
        merged = {k: v[0] for k, v in self.query.items() if v}
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            merged.update({k: v[0] for k, v in body.items() if v})
        return merged


@dataclass
class Response:
    """A complete response; the server always sends ``Content-Length``."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Response]


def json_response(payload: Any, status: int = 200) -> Response:
    """A JSON response with ``application/json`` content type."""
    return Response(status, json.dumps(payload).encode(), "application/json")


def text_response(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
    """A text (or HTML, given ``content_type``) response."""
    return Response(status, text.encode("utf-8"), content_type)


class App:
    """A list of ``(method, path regex) -> handler`` routes; the first full match wins."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register the decorated handler for ``method`` and a path regex with named groups."""

        def register(handler: Handler) -> Handler:
            self._routes.append((method, re.compile(pattern), handler))
            return handler

        return register

    def dispatch(self, request: Request) -> Response:
        """Run the matching handler: 404 for an unknown path, 405 for a known path with another method."""
        path_known = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_known = True
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                request.params = match.groupdict()
                return handler(request)
        if path_known:
            return text_response("Method Not Allowed\n", 405)
        return text_response("Not Found\n", 404)


def _handler_class(app: App) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive towards the sidecar; every response has a length
        server_version = f"bookinfo-{app.name}"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=url.path or "/",
                query=parse_qs(url.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            try:
                response = app.dispatch(request)
            except Exception:  # a handler bug must answer 500, not kill the connection silently
                log.exception("%s: handler failed for %s %s", app.name, self.command, self.path)
                response = text_response("Internal Server Error\n", 500)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return _Handler


class Server(ThreadingHTTPServer):
    """A threading HTTP server that does not wait for in-flight handlers on close."""

    daemon_threads = True
    block_on_close = False


class _Server6(Server):
    address_family = socket.AF_INET6


def make_server(app: App, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Bind ``app`` on ``host:port`` (port 0 picks a free one; read it from ``server_address``)."""
    server_class = _Server6 if ":" in host else Server
    return server_class((host, port), _handler_class(app))


def start_in_thread(app: App, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Start ``app`` in a daemon thread and return the server (``shutdown()`` then ``server_close()``)."""
    server = make_server(app, host, port)
    # A short poll interval keeps shutdown() quick: tests start and stop many of these.
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"bookinfo-{app.name}", daemon=True
    ).start()
    return server


def run_main(
    app_factory: Callable[[argparse.Namespace], App],
    description: str,
    argv: Sequence[str] | None = None,
    extra_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Parse ``[PORT] [--port N] [--host H]`` ($PORT, default 9080) and serve the app until interrupted."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "port_arg", nargs="?", type=int, metavar="PORT", help="port (positional, as the original takes it)"
    )
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default $PORT or 9080)")
    parser.add_argument(
        "--host", default=os.environ.get("BOOKINFO_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1)"
    )
    if extra_args is not None:
        extra_args(parser)
    args = parser.parse_args(argv)
    port = args.port or args.port_arg or int(os.environ.get("PORT") or 9080)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = app_factory(args)
    server = make_server(app, args.host, port)
    log.info("%s listening on %s:%d", app.name, args.host, server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("%s stopping", app.name)
    finally:
        server.server_close()


@dataclass(frozen=True)
class Fetched:
    """The outcome of one outbound call: ``status`` is None when no response arrived."""

    status: int | None
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def fetch(
    url: str, headers: Mapping[str, str], timeout: float, method: str = "GET", data: bytes | None = None
) -> Fetched:
    """One HTTP call on a fresh connection; ``timeout`` bounds connecting and each wait for bytes."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Fetched(response.status, response.read())
    except urllib.error.HTTPError as exc:  # a non-2xx answer is still an answer
        body = exc.read() if exc.fp is not None else b""
        return Fetched(exc.code, body, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        log.warning("call to %s failed: %s", url, exc)
        return Fetched(None, b"", str(exc) or type(exc).__name__)


def pick_headers(incoming: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The subset of ``incoming`` (lower-cased names) listed in ``names``, in list order."""
    return {name: incoming[name] for name in names if name in incoming}


def pod_name(environ: Mapping[str, str]) -> str:
    """The name shown as "Reviews served by": the Mizzen workload name, else the host name."""
    return environ.get("MIZZEN_WORKLOAD") or environ.get("HOSTNAME") or socket.gethostname()


def service_url(environ: Mapping[str, str], service: str) -> str:
    """``http://<host>[.<SERVICES_DOMAIN>]:<port>`` from the original's ``<SVC>_HOSTNAME``-style env vars."""
    upper = service.upper()
    host = environ.get(f"{upper}_HOSTNAME", service)
    domain = environ.get("SERVICES_DOMAIN", "")
    if domain:
        host = f"{host}.{domain}"
    port = environ.get(f"{upper}_SERVICE_PORT", "9080")
    return f"http://{host}:{port}"
