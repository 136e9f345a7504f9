"""Port resolution: the workload port behind a service port, a destination's port, a gateway's bind port.

- Endpoint port (Istio's rule for WorkloadEntries and ServiceEntry ``endpoints``): the workload's
  ``ports[<service port name>]``; else, when the Service's ``targetPort`` is a *name*, the workload's
  port of that name (a workload without it serves nothing there); else the numeric ``targetPort``;
  else the service port number.
- Destination port: an explicit ``port.number``, else the service's only port, else the port whose
  routes are being built.
- Gateway port (Istio's ``resolvePorts``): a server port that is a port of a Service selecting the
  gateway (same namespace, not labelled to disable the translation) binds that port's ``targetPort``,
  as a Kubernetes ingress Service maps 80 to 8080; other numbers bind as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mizzen.config.semantics.selectors import SERVICE, selects

DISABLE_GATEWAY_PORT_TRANSLATION = "experimental.istio.io/disable-gateway-port-translation"


def endpoint_port(
    workload_ports: Mapping[str, int], port_name: str, number: int, target_port: int | None, target_name: str = ""
) -> int | None:
    """The port a workload serves service port ``number`` on, or ``None`` when it does not serve it."""
    found = workload_ports.get(port_name) if port_name else None
    if found is None and target_name:
        return workload_ports.get(target_name)
    if found is None:
        return target_port or number
    return found


def destination_port(explicit: int | None, service_ports: Sequence[int] | None, building: int) -> int:
    """A route destination's port: explicit, else the service's only port, else the port being built."""
    if explicit:
        return explicit
    if service_ports is not None and len(service_ports) == 1:
        return service_ports[0]
    return building


def selects_gateway(
    service_namespace: str,
    service_selector: Mapping[str, str] | None,
    service_labels: Mapping[str, str],
    gateway_namespace: str,
    gateway_labels: Mapping[str, str],
) -> bool:
    """Whether a Kubernetes Service is the gateway's own Service, whose ports translate server ports."""
    return (
        service_namespace == gateway_namespace
        and service_labels.get(DISABLE_GATEWAY_PORT_TRANSLATION) != "true"
        and selects(SERVICE, service_selector, gateway_labels)
    )


def gateway_listen_port(server_port: int, service_ports: Iterable[tuple[int, int | None]]) -> int:
    """The port a gateway binds for ``server_port``, given (port, targetPort) of its own Services' ports."""
    return next((target for port, target in service_ports if port == server_port and target), server_port)
