"""Echo test backend: answers any request with who it is and what it received, so routing can be
checked from outside.

Run: ``python -m mizzen.testing.echo --port N [--name NAME] [--version V]`` (``--port`` defaults to
``$PORT``, the name to ``$MIZZEN_WORKLOAD``, the version to the ``version`` label in
``$MIZZEN_LABELS``). Every answer is JSON ``{workload, version, method, path, query, headers, host}`` (a repeated
header's values joined by ``,``).
Behaviour controls, from the query string or an ``x-echo-<name>`` request header:

- ``status=503``: answer with that status;
- ``delay=2``: wait that many seconds (float) first;
- ``fail_first=N``: the first N requests for this path answer 503, later ones 200 (a per-process
  counter per path, for retry tests);
- ``GET /__count``: per-path request counts; ``GET /__last``: the last requests this process
  answered (newest last, at most 50; each as in the answer), e.g. to see what a mirror delivered;
  ``GET /health``: 200 (always, also with ``--status``);
- ``GET /ready``: 200, or 503 while the file named by ``--unready-file`` exists (a readiness probe that
  a test can fail and restore from outside).

``--status 500`` makes every answer (except ``/health`` and the ``/__`` paths) use that status unless a
request asks for another: a workload that always fails, for outlier-detection tests.

``--metrics-path /metrics`` serves the app's own Prometheus metrics there (text format): the counter
``echo_requests_total{path="..."}`` of the requests this process answered, per path, and the gauge
``echo_up 1``, as an app instrumented with a Prometheus client library would (for metrics merging tests).

``--env-file PATH`` writes the process's environment to PATH as JSON at start: what ``kubectl exec`` into
the pod would run with, so a test can run Istio's ``curl`` commands as the app would (Istio's ``sleep``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_DELAY_S = 300.0
RECENT = 50


class EchoServer(ThreadingHTTPServer):
    """A threaded HTTP server that remembers how often each path was requested."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], *, workload: str, version: str, status: int = 200) -> None:
        super().__init__(address, EchoHandler)
        self.workload, self.version, self.status = workload, version, status
        self.unready_file: Path | None = None
        self.metrics_path: str | None = None
        self.counts: Counter[str] = Counter()
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.lock = threading.Lock()

    def count(self, path: str) -> int:
        """Record one request for ``path`` and return how many there have been, this one included."""
        with self.lock:
            self.counts[path] += 1
            return self.counts[path]


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every method the same way."""

    server: EchoServer
    protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's upstream connection pool expects
    # Headers and body go out in separate writes; with Nagle on, the body waits for the peer's
    # delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        """Answer any method with the echo JSON."""
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _answer(self) -> None:
        url = urlsplit(self.path)
        self._drain_body()
        if url.path == "/health":
            return self._send(200, {"status": "ok"})
        if url.path == "/ready":
            unready = self.server.unready_file is not None and self.server.unready_file.exists()
            return self._send(503 if unready else 200, {"ready": not unready})
        if self.server.metrics_path is not None and url.path == self.server.metrics_path:
            return self._send_metrics()
        if url.path == "/__count":
            with self.server.lock:
                return self._send(200, {"counts": dict(self.server.counts)})
        if url.path == "/__last":
            with self.server.lock:
                return self._send(200, {"requests": list(self.server.recent)})
        seen = self.server.count(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        delay = min(MAX_DELAY_S, float(self._control(query, "delay") or 0))
        if delay > 0:
            time.sleep(delay)
        status = int(self._control(query, "status") or self.server.status)
        fail_first = int(self._control(query, "fail_first") or 0)
        if seen <= fail_first:
            status = 503
        body = {
            "workload": self.server.workload,
            "version": self.server.version,
            "method": self.command,
            "path": url.path,
            "query": query,
            "headers": self._headers(),
            "host": self.headers.get("host", ""),
            "count": seen,
        }
        with self.server.lock:
            self.server.recent.append(body)
        self._send(status, body)

    def _send_metrics(self) -> None:
        with self.server.lock:
            counts = sorted(self.server.counts.items())
        lines = ["# HELP echo_up The echo app is up.", "# TYPE echo_up gauge", "echo_up 1"]
        lines += ["# HELP echo_requests_total Requests answered, by path.", "# TYPE echo_requests_total counter"]
        lines += [f'echo_requests_total{{path="{_escape(path)}"}} {n}' for path, n in counts]
        data = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _headers(self) -> dict[str, str]:
        # A repeated header is shown once, its values joined by "," (as HTTP allows), so a test can
        # see that a proxy appended a value rather than replacing it.
        seen: dict[str, list[str]] = {}
        for key, value in self.headers.items():
            seen.setdefault(key.lower(), []).append(value)
        return {k: ",".join(v) for k, v in seen.items()}

    def _control(self, query: dict[str, str], name: str) -> str:
        return query.get(name) or self.headers.get(f"x-echo-{name.replace('_', '-')}") or ""

    def _drain_body(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet unless ``ECHO_VERBOSE`` is set."""
        if os.environ.get("ECHO_VERBOSE"):
            super().log_message(format, *args)


def serve(
    port: int, *, host: str = "127.0.0.1", workload: str = "", version: str = "", status: int = 200
) -> EchoServer:
    """A bound (not yet serving) echo server; call ``serve_forever()`` on it."""
    return EchoServer((host, port), workload=workload, version=version, status=status)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label(key: str) -> str:
    # `mizzen run` passes the workload labels as MIZZEN_LABELS=k=v,k2=v2.
    pairs = (item.partition("=") for item in os.environ.get("MIZZEN_LABELS", "").split(","))
    return next((v for k, _, v in pairs if k == key), "")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m mizzen.testing.echo", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--also-port",
        type=int,
        action="append",
        default=[],
        help="another port to answer on, the same way (repeatable; e.g. a Sidecar's fixed defaultEndpoint port)",
    )
    parser.add_argument("--name", default=os.environ.get("MIZZEN_WORKLOAD", "echo"))
    parser.add_argument(
        "--version", default=_label("version"), help="default: the workload's `version` label ($MIZZEN_LABELS)"
    )
    parser.add_argument("--unready-file", type=Path, default=None, help="GET /ready answers 503 while it exists")
    parser.add_argument(
        "--status",
        type=int,
        default=200,
        help="status of every answer unless the request asks for another (default 200)",
    )
    parser.add_argument("--metrics-path", default=None, help="serve Prometheus text metrics on this path")
    parser.add_argument("--env-file", help="write the process environment here as JSON (for `exec`-like tests)")
    args = parser.parse_args(argv)
    if args.env_file:
        with open(args.env_file, "w", encoding="utf-8") as f:
            json.dump(dict(os.environ), f)
    server = serve(args.port, host=args.host, workload=args.name, version=args.version, status=args.status)
    server.unready_file = args.unready_file
    server.metrics_path = args.metrics_path
    extra = [
        serve(p, host=args.host, workload=args.name, version=args.version, status=args.status) for p in args.also_port
    ]
    for other in extra:
        other.unready_file = args.unready_file
        threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for other in extra:
            other.shutdown()
            other.server_close()
        server.server_close()


if __name__ == "__main__":
    main()
