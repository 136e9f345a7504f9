"""Helpers for the conversion tables: YAML in, Istio resources and statuses out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mizzen.config import load_text
from mizzen.config.resource import Resource
from mizzen.gatewayapi import Conversion, GatewayProxy, convert

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: httpbin}
spec: {selector: {app: httpbin}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other}
spec: {selector: {app: other}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: apps}
spec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}
"""

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: web, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
"""


def load(*texts: str) -> list[Resource]:
    """Resources of the YAML texts; creation order is document order (timestamps 1, 2, ...)."""
    out: list[Resource] = []
    for text in texts:
        result = load_text(text)
        assert result.report.ok, result.report.violations
        out.extend(result.resources)
    return [r.with_metadata(generation=1, creation_timestamp=f"2024-01-01T00:00:{i:02d}Z") for i, r in enumerate(out)]


def run(*texts: str, proxies: Iterable[GatewayProxy] = ()) -> Conversion:
    """Convert the YAML texts."""
    return convert(load(*texts), proxies)


def named(conv: Conversion, kind: str, name: str) -> Resource:
    """The generated resource of ``kind`` called ``name``."""
    found = [r for r in conv.resources if r.kind == kind and r.name == name]
    assert found, f"no {kind} {name}; have {[(r.kind, r.name) for r in conv.resources]}"
    return found[0]


def names(conv: Conversion, kind: str = "VirtualService") -> list[str]:
    """Names of the generated resources of ``kind``."""
    return [r.name for r in conv.resources if r.kind == kind]


def condition(status: dict[str, Any], kind: str) -> tuple[str, str, str]:
    """(status, reason, message) of the condition ``kind``."""
    c = next(c for c in status["conditions"] if c["type"] == kind)
    return c["status"], c["reason"], c["message"]


def route_condition(
    conv: Conversion, kind: str, name: str, ctype: str, parent: int = 0, ns: str = "default"
) -> tuple[str, str, str]:
    """A condition of one parent entry of a route's status."""
    return condition(conv.statuses[(kind, ns, name)]["parents"][parent], ctype)
