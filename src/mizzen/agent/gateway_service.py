"""The ingress gateway's own Service, as an Istio installation creates it.

Istio's docs write Gateways on port 80 and 443: in a cluster those are ports of the
``istio-ingressgateway`` Service, whose targetPorts (8080, 8443) are what the gateway pod listens on,
so no root is needed. ``mizzen gateway`` creates the same Service when none in its namespace selects
its labels; the translator then binds a Gateway server on 80 to 8080, as Istio does. A Gateway on a
port that is not a Service port (Bookinfo's 8080) binds that port as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

log = logging.getLogger(__name__)

CREATED_BY = "mizzen.io/created-by"
DEFAULT_PORTS = (
    {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
    {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
)


def gateway_service(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """Istio's default ingress gateway Service for a gateway with these labels."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name, **labels},
            "annotations": {CREATED_BY: "mizzen gateway"},
        },
        "spec": {"selector": dict(labels), "ports": [dict(p) for p in DEFAULT_PORTS]},
    }


def selects(service: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def ensure_gateway_service(api: str, token: str, name: str, namespace: str, labels: Mapping[str, str]) -> bool:
    """Create the gateway's Service unless one in ``namespace`` already selects ``labels``.

    Returns True when it created one. Failures are logged, not raised: without the Service, Gateways
    on ports 80/443 simply bind those ports (which needs privileges), the others work unchanged.
    """
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{api}/api/v1/namespaces/{namespace}/services"
    try:
        with httpx.Client(timeout=10.0, headers=headers, trust_env=False) as http:
            existing = http.get(base)
            existing.raise_for_status()
            if any(selects(s, labels) for s in existing.json().get("items", [])):
                return False
            created = http.put(f"{base}/{name}", json=gateway_service(name, namespace, labels))
            created.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning(
            "could not create the gateway Service %s/%s (Gateways on 80/443 will try to bind those ports): %s",
            namespace,
            name,
            exc,
        )
        return False
    log.info("created Service %s/%s: Gateway ports 80 and 443 listen on 8080 and 8443, as in Istio", namespace, name)
    return True
