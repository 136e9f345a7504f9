"""The command-line forms of ``mizzen test --explain``: ``--from`` and ``--request``.

``--from productpage-v1`` (a workload; ``name.namespace`` works too), ``--from gateway:istio-ingressgateway``
or ``--from app=productpage,version=v1`` (labels); ``--request 'GET http://reviews:9080/path end-user=jason'``
(method optional; scheme http, https, tcp, tls or grpc; then ``header=value`` words).
"""

from __future__ import annotations

import shlex
import urllib.parse


class CommandLineError(ValueError):
    """A ``--from`` or ``--request`` that cannot be read."""


def parse_from(text: str) -> dict[str, object]:
    """A RouteTest ``from`` object from its command-line form."""
    text = text.strip()
    if text.startswith("gateway:"):
        name, _, ns = text[len("gateway:") :].partition(".")
        return {"gateway": name, **({"namespace": ns} if ns else {})}
    if "=" in text:
        labels = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise CommandLineError(f"--from: {part!r} is not a label key=value")
            labels[key.strip()] = value.strip()
        return {"labels": labels}
    if not text:
        raise CommandLineError("--from: give a workload name, gateway:NAME or labels k=v,...")
    name, _, ns = text.partition(".")
    return {"workload": name, **({"namespace": ns} if ns else {})}


_PROTOCOLS = {"http": ("http", "http"), "https": ("http", "https"), "tcp": ("tcp", "http"), "tls": ("tls", "http")}
_PROTOCOLS["grpc"] = ("grpc", "http")


def parse_request(text: str) -> dict[str, object]:
    """A RouteTest ``request`` object from ``[METHOD] URL [header=value...]``."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise CommandLineError(f"--request: {exc}") from exc
    if words and "://" not in words[0] and len(words) > 1 and "://" in words[1]:
        method, words = words[0].upper(), words[1:]
    else:
        method = "GET"
    if not words or "://" not in words[0]:
        raise CommandLineError("--request: expected [METHOD] URL [header=value...], e.g. 'GET http://reviews:9080/'")
    url = urllib.parse.urlsplit(words[0])
    if url.scheme not in _PROTOCOLS or not url.hostname:
        raise CommandLineError(f"--request: {words[0]!r} needs a scheme ({', '.join(_PROTOCOLS)}) and a host")
    protocol, scheme = _PROTOCOLS[url.scheme]
    headers = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise CommandLineError(f"--request: {word!r} is not a header=value")
        headers[key] = value
    out: dict[str, object] = {"host": url.hostname, "method": method, "scheme": scheme, "protocol": protocol}
    if url.port:
        out["port"] = url.port
    out["path"] = (url.path or "/") + (f"?{url.query}" if url.query else "")
    if headers:
        out["headers"] = headers
    return out
