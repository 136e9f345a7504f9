"""The ingress gateway's own Service, as an Istio installation creates it.

Istio's docs write Gateways on port 80 and 443: in a cluster those are ports of the
``istio-ingressgateway`` Service, whose targetPorts (8080, 8443) are what the gateway pod listens on,
so no root is needed. ``mizzen gateway`` creates the same Service when none in its namespace selects
its labels; the translator then binds a Gateway server on 80 to 8080, as Istio does. A Gateway on a
port that is not a Service port (Bookinfo's 8080) binds that port as it is.

Istio's egress gateway Service (``istio-egressgateway``, labels ``istio=egressgateway``) has the same
ports. In a cluster the two gateways are different pods; here they share one host, so a gateway whose
Service would take a targetPort another gateway Service made by ``mizzen gateway`` already uses takes
the next free one (the first of them keeps Istio's 8080/8443). The gateway registers itself as an
endpoint of that Service (:func:`mizzen.agent.spec.workload_entry`), as its pod is one in Istio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from mizzen.agent.cpclient import tls_verify

log = logging.getLogger(__name__)

CREATED_BY = "mizzen.io/created-by"
DEFAULT_PORTS: tuple[dict[str, Any], ...] = (
    {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
    {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
)


def gateway_service(name: str, namespace: str, labels: Mapping[str, str], in_use: Iterable[int] = ()) -> dict[str, Any]:
    """Istio's default (ingress or egress) gateway Service for a gateway with these labels; targetPorts
    ``in_use`` by other gateways on this host move to the next free number."""
    taken = set(in_use)
    ports: list[dict[str, Any]] = []
    for default in DEFAULT_PORTS:
        target = int(default["targetPort"])
        while target in taken:
            target += 1
        taken.add(target)
        ports.append({**default, "targetPort": target})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name, **labels},
            "annotations": {CREATED_BY: "mizzen gateway"},
        },
        "spec": {"selector": dict(labels), "ports": ports},
    }


def selects(service: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether the Service (as the API returns it) selects a workload with ``labels`` (Kubernetes' rule)."""
    from mizzen.config.semantics import selectors  # here: the configuration models load only for gateways

    selector = (service.get("spec") or {}).get("selector")
    return selectors.selects(selectors.SERVICE, selector, labels)


def ensure_gateway_service(
    api: str, token: str, name: str, namespace: str, labels: Mapping[str, str], roots: bytes | None = None
) -> bool:
    """Create the gateway's Service unless one in ``namespace`` already selects ``labels``.

    Returns True when it created one. Failures are logged, not raised: without the Service, Gateways
    on ports 80/443 simply bind those ports (which needs privileges), the others work unchanged. Only an
    admin credential may create it (a gateway credential gets 403, logged); ``roots`` verify a TLS API.
    """
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{api}/api/v1/namespaces/{namespace}/services"
    try:
        with httpx.Client(timeout=10.0, headers=headers, trust_env=False, verify=tls_verify(api, roots)) as http:
            everything = http.get(f"{api}/api/v1/services")
            everything.raise_for_status()
            services = everything.json().get("items", [])
            ours = [s for s in services if (s.get("metadata") or {}).get("namespace") == namespace]
            if any(selects(s, labels) for s in ours):
                return False
            wanted = gateway_service(name, namespace, labels, _gateway_target_ports(services, name))
            created = http.put(f"{base}/{name}", json=wanted)
            created.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning(
            "could not create the gateway Service %s/%s (Gateways on 80/443 will try to bind those ports): %s",
            namespace,
            name,
            exc,
        )
        return False
    mapping = " and ".join(f"{p['port']} on {p['targetPort']}" for p in wanted["spec"]["ports"])
    log.info(
        "created Service %s/%s: Gateway ports listen %s (Istio's 80 -> 8080, 443 -> 8443)", namespace, name, mapping
    )
    return True


# -- Gateway API: the deployment istiod makes for a Gateway of class istio -------------------------
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name"
MANAGED_LABEL = "gateway.istio.io/managed"
MANAGED_VALUE = "istio.io-gateway-controller"
UNPRIVILEGED_OFFSET = 8000  # a listener on port 80 listens on 8080, 443 on 8443 (no root needed)


def gateway_api_identity(gateway: Mapping[str, Any]) -> tuple[str, dict[str, str], str]:
    """(deployment name, pod labels, service account) of the gateway istiod deploys for ``gateway``
    (a Gateway API Gateway document): ``<name>-<class>``, the ``gateway.networking.k8s.io`` labels
    plus ``spec.infrastructure.labels``, as Istio's kube-gateway template writes them."""
    meta, spec = gateway.get("metadata") or {}, gateway.get("spec") or {}
    annotations = meta.get("annotations") or {}
    name, klass = str(meta.get("name", "")), str(spec.get("gatewayClassName", ""))
    deployment = str(annotations.get("gateway.istio.io/name-override") or f"{name}-{klass}")
    infra = (spec.get("infrastructure") or {}).get("labels") or {}
    labels = {
        "service.istio.io/canonical-name": deployment,
        "service.istio.io/canonical-revision": "latest",
        **{str(k): str(v) for k, v in infra.items()},
        GATEWAY_NAME_LABEL: name,
        GATEWAY_CLASS_LABEL: klass,
        MANAGED_LABEL: MANAGED_VALUE,
    }
    account = str(annotations.get("gateway.istio.io/service-account") or deployment)
    return deployment, labels, account


def gateway_api_service(gateway: Mapping[str, Any], in_use: Iterable[int] = ()) -> dict[str, Any]:
    """The Service istiod creates for a managed Gateway: ``<name>-<class>``, one port per listener
    port (Istio's ``extractServicePorts``), selecting the gateway by its gateway-name label. Ports
    below 1024 get an unprivileged targetPort (+8000, or the next one not ``in_use`` by another
    gateway on this host), as Istio's own ingress Service maps 80 to 8080."""
    meta, spec = gateway.get("metadata") or {}, gateway.get("spec") or {}
    deployment, _, _ = gateway_api_identity(gateway)
    listeners = [x for x in spec.get("listeners") or () if isinstance(x, Mapping)]
    numbers = [int(x.get("port", 0)) for x in listeners]
    taken = {n for n in numbers if n >= 1024} | set(in_use)
    ports: list[dict[str, Any]] = []
    for x in listeners:
        number = int(x.get("port", 0))
        if any(p["port"] == number for p in ports):
            continue
        target = number
        if number < 1024:
            target = number + UNPRIVILEGED_OFFSET
            while target in taken:
                target += 1
            taken.add(target)
        used = {p["name"] for p in ports}
        name = str(x.get("name", "")).replace(".", "-")[:63] or f"{str(x.get('protocol', 'tcp')).lower()}-{number}"
        if name in used:
            name = f"{name[:57]}-{number}"
        protocol = str(x.get("protocol", "TCP")).lower()
        ports.append({"name": name, "port": number, "targetPort": target, "protocol": "TCP", "appProtocol": protocol})
    name = str(meta.get("name", ""))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": deployment,
            "namespace": str(meta.get("namespace", "default")),
            "labels": {GATEWAY_NAME_LABEL: name, GATEWAY_CLASS_LABEL: str(spec.get("gatewayClassName", ""))},
            "annotations": {CREATED_BY: "mizzen gateway --for"},
        },
        "spec": {"selector": {GATEWAY_NAME_LABEL: name}, "ports": ports},
    }


def fetch_gateway_api_gateway(api: str, token: str, namespace: str, name: str) -> dict[str, Any]:
    """The Gateway API Gateway ``namespace/name`` from the control plane (``LookupError`` if absent)."""
    path = f"{api}/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/gateways/{name}"
    with httpx.Client(timeout=10.0, headers={"Authorization": f"Bearer {token}"}, trust_env=False) as http:
        found = http.get(path)
        if found.status_code == 404:
            raise LookupError(f"Gateway {namespace}/{name} (gateway.networking.k8s.io) not found: apply it first")
        found.raise_for_status()
        doc: dict[str, Any] = found.json()
        return doc


def sync_gateway_api_service(api: str, token: str, gateway: Mapping[str, Any]) -> dict[str, Any]:
    """Create (or refresh, when ``mizzen gateway --for`` made it) the Gateway's Service; return it.

    A Service of that name the user wrote is left as it is, as istiod does not overwrite it either.
    """
    with httpx.Client(timeout=10.0, headers={"Authorization": f"Bearer {token}"}, trust_env=False) as http:
        everything = http.get(f"{api}/api/v1/services")
        everything.raise_for_status()
        deployment, _, _ = gateway_api_identity(gateway)
        wanted = gateway_api_service(gateway, _gateway_target_ports(everything.json().get("items", []), deployment))
        meta = wanted["metadata"]
        path = f"{api}/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}"
        existing = http.get(path)
        if existing.status_code == 200:
            current: dict[str, Any] = existing.json()
            ours = (current.get("metadata", {}).get("annotations") or {}).get(CREATED_BY, "").startswith("mizzen")
            if not ours or current.get("spec", {}).get("ports") == wanted["spec"]["ports"]:
                return current
        elif existing.status_code != 404:
            existing.raise_for_status()
        http.put(path, json=wanted).raise_for_status()
    mapping = ", ".join(f"{p['port']} -> {p['targetPort']}" for p in wanted["spec"]["ports"])
    log.info("created Service %s/%s for Gateway %s (ports %s)", meta["namespace"], meta["name"], deployment, mapping)
    return wanted


def _gateway_target_ports(services: Iterable[Mapping[str, Any]], own: str) -> set[int]:
    """targetPorts of the other Services Mizzen made for gateways: their gateways listen on this host too."""
    out: set[int] = set()
    for svc in services:
        meta = svc.get("metadata") or {}
        # "mizzen gateway", "mizzen gateway --for" and "mizzen demo": a gateway of this host listens there
        made = str((meta.get("annotations") or {}).get(CREATED_BY, "")).startswith("mizzen ")
        if made and meta.get("name") != own:
            out.update(
                int(p["targetPort"])
                for p in (svc.get("spec") or {}).get("ports") or ()
                if isinstance(p.get("targetPort"), int)
            )
    return out
