"""The "internet" of Istio's egress tasks, on loopback: one server answering for made-up external hosts.

    site = ExternalSite(["edition.cnn.com", "www.google.com"], certs, https_only={"edition.cnn.com"})
    site.start()          # HTTP on 127.0.0.1:80, HTTPS on 127.0.0.1:443 (inside mizzen.testing.sandbox)

Every answer is JSON naming what arrived: ``site``, ``scheme``, ``host`` (the Host header), ``sni`` (the TLS
server name), ``client`` (the client certificate's common name, when one was presented), ``path``, ``method``
and ``headers``. Behaviour as the tasks' sites show it: plain HTTP to a host in ``https_only`` is answered
with ``301`` to the ``https://`` URL (``edition.cnn.com``), ``/delay/N`` waits N seconds (``httpbin.org``),
``/status/N`` answers N. With ``client_ca``, TLS clients must present a certificate that CA signed (an
nginx with ``ssl_verify_client on``).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mizzen.testing.tls import TlsFiles

MAX_DELAY_S = 60.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site: ExternalSite, tls: ssl.SSLContext | None) -> None:
        super().__init__(address, _Handler)
        self.site, self.tls = site, tls


class ExternalSite:
    """HTTP and HTTPS servers for ``hosts``; counts requests per (host, path)."""

    def __init__(
        self,
        hosts: Iterable[str],
        certs: TlsFiles,
        *,
        https_only: Iterable[str] = (),
        client_ca: Path | None = None,
        address: str = "127.0.0.1",
        http_port: int = 80,
        https_port: int = 443,
        name: str = "outside",
    ) -> None:
        self.hosts, self.https_only, self.name = tuple(hosts), frozenset(https_only), name
        self.counts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.cert, certs.key)
        context.sni_callback = _remember_sni
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        self.servers = [_Server((address, http_port), self, None), _Server((address, https_port), self, context)]
        self._threads: list[threading.Thread] = []

    def start(self) -> ExternalSite:
        """Serve in background threads."""
        for server in self.servers:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> ExternalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, host: str, path: str) -> int:
        """How many requests for ``path`` arrived with Host ``host`` (port stripped)."""
        with self.lock:
            return self.counts[(host, path)]


def _remember_sni(sock: Any, name: str | None, context: ssl.SSLContext) -> None:
    sock.mizzen_sni = name or ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.sni = ""
        self.client_name = ""
        if self.server.tls is not None:
            # The handshake runs here, in the connection's own thread, not in the accept loop.
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            self.sni = str(getattr(self.request, "mizzen_sni", ""))
            peer = self.request.getpeercert() or {}
            subject = dict(x[0] for x in peer.get("subject", ()))
            self.client_name = str(subject.get("commonName", ""))
        super().setup()

    def do_GET(self) -> None:
        """Answer any method."""
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        host = self.headers.get("host", "").rpartition(":")[0] or self.headers.get("host", "")
        path = self.path.partition("?")[0]
        site = self.server.site
        with site.lock:
            site.counts[(host, path)] += 1
        scheme = "https" if self.server.tls is not None else "http"
        if scheme == "http" and host in site.https_only:
            return self._send(
                301, {"location": f"https://{host}{self.path}"}, {"Location": f"https://{host}{self.path}"}
            )
        status = 200
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "delay":
            time.sleep(min(MAX_DELAY_S, float(parts[1])))
        if len(parts) == 2 and parts[0] == "status" and parts[1].isdigit():
            status = int(parts[1])
        body = {
            "site": site.name,
            "scheme": scheme,
            "host": self.headers.get("host", ""),
            "sni": self.sni,
            "client": self.client_name,
            "method": self.command,
            "path": path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }
        self._send(status, body)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""
