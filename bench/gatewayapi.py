"""The Gateway API conversion's cost (``python3 bench/gatewayapi.py``): a mesh of N Services with one
Gateway and R HTTPRoutes (half on the Gateway, half on Services), converted as the control plane does on
a change of its inputs; prints milliseconds per conversion (median of several runs) and what it made."""

from __future__ import annotations

import argparse
import statistics
import time

from mizzen.config import load_text
from mizzen.config.resource import Resource
from mizzen.gatewayapi import convert


def mesh(services: int, routes: int) -> list[Resource]:
    """N Services, a Gateway with an HTTP listener, R HTTPRoutes."""
    docs = [
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\n"
        f"spec: {{selector: {{app: s{i}}}, ports: [{{name: http, port: 80}}]}}\n"
        for i in range(services)
    ]
    docs.append(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec: {gatewayClassName: "
        "istio, listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]}\n"
    )
    for i in range(routes):
        parent = "{name: gw}" if i % 2 else f'{{group: "", kind: Service, name: s{i % services}, port: 80}}'
        docs.append(
            f"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r{i}}}\n"
            f"spec: {{parentRefs: [{parent}], hostnames: [h{i}.example.com], rules: [{{matches: [{{path: "
            f"{{type: PathPrefix, value: /a}}}}], backendRefs: [{{name: s{i % services}, port: 80}}]}}]}}\n"
        )
    return load_text("---\n".join(docs)).resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    resources = mesh(args.services, args.routes)
    times, made = [], 0
    for _ in range(args.runs):
        started = time.perf_counter()
        made = len(convert(resources).resources)
        times.append(time.perf_counter() - started)
    print(
        f"gatewayapi: {args.services} services, {args.routes} HTTPRoutes -> {made} Istio objects in "
        f"{statistics.median(times) * 1000:.1f} ms (median of {args.runs})"
    )


if __name__ == "__main__":
    main()
