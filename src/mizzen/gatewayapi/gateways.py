"""Gateway API Gateways to Istio Gateways, one per listener (Istio's ``GatewayCollection`` and
``reportGatewayStatus``), and their status.

A Gateway of class ``istio`` is *managed*: istiod deploys a gateway for it, a Deployment and the
Service ``<name>-istio``. Mizzen cannot start processes for the user; ``mizzen gateway --for <name>``
is that deployment (see ``docs/design.md``), and until it runs ``Programmed`` says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mizzen.config import internal
from mizzen.config.models.core import Service
from mizzen.config.models.gateway_api import Gateway, Listener
from mizzen.config.resource import Metadata, Resource
from mizzen.config.schema import build
from mizzen.gatewayapi import listeners
from mizzen.gatewayapi.conditions import conditions, pending
from mizzen.gatewayapi.context import Context
from mizzen.gatewayapi.model import CONTROLLER, Cond, ConfigError, JSONDict, ParentInfo, internal_gateway_name

SERVICE_ACCOUNT_ANNOTATION = "gateway.istio.io/service-account"
NAME_OVERRIDE_ANNOTATION = "gateway.istio.io/name-override"
MANAGED_LABEL = "gateway.istio.io/managed"


@dataclass
class GatewayResult:
    """What one Gateway contributes: Istio Gateways, listeners routes can attach to, its status."""

    gateways: list[Resource] = field(default_factory=list)
    parents: list[ParentInfo] = field(default_factory=list)
    status: JSONDict = field(default_factory=dict)
    unavailable: str = ""  # why routes cannot attach, when the Gateway has no listeners here


def deployment_name(gw: Resource, spec: Gateway) -> str:
    """``<name>-<class>``: the Service (and Deployment) istiod creates for a managed Gateway."""
    return gw.metadata.annotations.get(NAME_OVERRIDE_ANNOTATION) or f"{gw.name}-{spec.gateway_class_name}"


def is_managed(spec: Gateway) -> bool:
    """Managed (deployed for the user) unless the Gateway names an existing Service by hostname."""
    return not spec.addresses or (len(spec.addresses) == 1 and spec.addresses[0].type == "IPAddress")


def convert_gateway(ctx: Context, gw: Resource, namespaces: Iterable[str]) -> GatewayResult:
    """The Istio Gateways and status of one Gateway API Gateway."""
    spec: Gateway = build(Gateway, gw.spec)
    generation = gw.metadata.generation or 1
    ref = f"Gateway {gw.namespace}/{gw.name}"
    if ctx.classes.get(spec.gateway_class_name) != CONTROLLER:
        why = f'{ref} has gatewayClassName "{spec.gateway_class_name}", which Mizzen does not implement'
        return GatewayResult(status={"conditions": pending(generation)}, unavailable=why)
    services, error = _gateway_services(ctx, gw, spec)
    if error is None:
        error = _parameters_error(gw, spec)
    out = GatewayResult()
    statuses: list[JSONDict] = []
    valid = 0
    conflicts = _conflicts(spec.listeners)
    frontend = spec.tls.frontend if spec.tls else None
    for listener in spec.listeners if services else ():
        if listener.name in conflicts:
            statuses.append(listeners.conflicted(listener, generation, conflicts[listener.name]))
            continue
        validation = frontend is not None and _validates_clients(frontend, listener.port)
        result = listeners.build(ctx, gw, listener, namespaces, client_validation=validation)
        statuses.append(result.status)
        valid += result.ok
        if result.server is None:
            continue
        out.gateways.append(_istio_gateway(gw, spec, listener, result.server, services))
        kinds, _ = listeners.supported_kinds(listener)
        out.parents.append(
            ParentInfo(
                internal_name=f"{gw.namespace}/{internal_gateway_name(gw.name, listener.name)}",
                allowed_kinds=tuple(kinds),
                hostnames=tuple(result.server["hosts"]),
                original_hostname=listener.hostname or "",
                section_name=listener.name,
                port=listener.port,
                protocol=listener.protocol,
            )
        )
    ports = [int(g.spec["servers"][0]["port"]["number"]) for g in out.gateways]
    out.status = _status(ctx, gw, spec, services, ports, error, valid, statuses)
    if not out.parents:
        out.unavailable = f"{ref} has no valid listeners"
    return out


def _validates_clients(frontend: object, port: int) -> bool:
    per_port = {p.port: p.tls for p in getattr(frontend, "per_port", ())}
    config = per_port.get(port, getattr(frontend, "default", None))
    validation = getattr(config, "validation", None)
    return validation is not None and bool(validation.ca_certificate_refs)


def _istio_gateway(gw: Resource, spec: Gateway, listener: Listener, server: JSONDict, services: list[str]) -> Resource:
    account = ""
    if is_managed(spec):
        account = gw.metadata.annotations.get(SERVICE_ACCOUNT_ANNOTATION) or deployment_name(gw, spec)
    meta = Metadata(
        name=internal_gateway_name(gw.name, listener.name),
        namespace=gw.namespace,
        annotations={
            internal.PARENTS: f"Gateway/{gw.name}/{listener.name}.{gw.namespace}",
            internal.GATEWAY_SEMANTICS: "gateway",
            internal.GATEWAY_SERVICE: ",".join(services),
            internal.SERVICE_ACCOUNT: account,
        },
        creation_timestamp=gw.metadata.creation_timestamp,
    )
    return Resource("networking.istio.io/v1", "Gateway", meta, {"servers": [server]})


def _gateway_services(ctx: Context, gw: Resource, spec: Gateway) -> tuple[list[str], ConfigError | None]:
    if is_managed(spec):
        return [ctx.service_host(deployment_name(gw, spec), gw.namespace)], None
    found, skipped = [], []
    for addr in spec.addresses:
        if addr.type != "Hostname":
            skipped.append(addr.value)
            continue
        found.append(addr.value if "." in addr.value else ctx.service_host(addr.value, gw.namespace))
    if skipped:
        return found, ConfigError("UnsupportedAddress", f"only Hostname is supported, ignoring [{' '.join(skipped)}]")
    return found, None


def _parameters_error(gw: Resource, spec: Gateway) -> ConfigError | None:
    params = spec.infrastructure.parameters_ref if spec.infrastructure else None
    if params is None:
        return None
    if (params.group, params.kind) != ("", "ConfigMap"):
        message = f"Unsupported parametersRef group/kind {params.group}/{params.kind}, only ConfigMap is supported"
        return ConfigError("InvalidParameters", message)
    # Mizzen stores no ConfigMaps, so the customization it would carry cannot be applied.
    return ConfigError("InvalidParameters", f"parametersRef ConfigMap {gw.namespace}/{params.name} does not exist")


def _conflicts(items: Iterable[Listener]) -> dict[str, str]:
    """Listeners that conflict with an earlier one (Istio's ``listenersDistinct``), with the reason."""
    accepted: list[Listener] = []
    out: dict[str, str] = {}
    for listener in items:
        prior = next((p for p in accepted if not _distinct(listener, p)), None)
        if prior is None:
            accepted.append(listener)
            continue
        l4 = {"TCP", "UDP"}
        same_l4 = listener.protocol in l4 and prior.protocol in l4
        reason = "ProtocolConflict" if same_l4 or listener.protocol != prior.protocol else "HostnameConflict"
        out[listener.name] = reason
    return out


def _distinct(a: Listener, b: Listener) -> bool:
    l4, http_like = {"TCP", "UDP"}, {"HTTP", "HTTPS", "TLS"}
    if a.port != b.port:
        return True
    if (a.protocol in l4 and b.protocol in http_like) or (a.protocol in http_like and b.protocol in l4):
        return False
    if a.protocol in l4 and b.protocol in l4:
        return False
    if a.protocol in http_like and b.protocol in http_like:
        # distinct per (port, protocol, hostname): different hostnames coexist even across protocols
        return (a.hostname or "*") != (b.hostname or "*")
    return a.protocol != b.protocol


def _status(
    ctx: Context,
    gw: Resource,
    spec: Gateway,
    services: list[str],
    ports: list[int],
    error: ConfigError | None,
    valid: int,
    statuses: list[JSONDict],
) -> JSONDict:
    accepted = Cond("Accepted", "Resource accepted", error=error)
    if error is None and spec.listeners and valid < len(spec.listeners):
        if valid == 0:
            accepted.error = ConfigError("ListenersNotValid", "None of the Gateway's listeners are valid")
        else:
            accepted.reason, accepted.message = (
                "ListenersNotValid",
                "One or more of the Gateway's listeners are invalid",
            )
    internal_addrs, warnings, usable = _instances(ctx, gw, services, ports)
    if warnings and is_managed(spec):
        warnings.append(f'start its gateway with "mizzen gateway --for {gw.name} -n {gw.namespace}"')
    programmed = Cond("Programmed", "Resource programmed")
    if internal_addrs:
        programmed.message = f"Resource programmed, assigned to service(s) {_human_join(internal_addrs)}"
    if not services:
        programmed.error = ConfigError("UnsupportedAddress", "Failed to assign to any requested addresses")
    elif warnings:
        head = f"Assigned to service(s) {_human_join(internal_addrs)}, but failed to assign to all requested addresses"
        message = f"{head}: " if internal_addrs else "Failed to assign to any requested addresses: "
        programmed.error = ConfigError(
            "AddressNotAssigned" if usable else "AddressNotUsable", message + "; ".join(warnings)
        )
    conds = {
        "Accepted": accepted,
        "Programmed": programmed,
        "ResolvedRefs": Cond("ResolvedRefs", "All references resolved"),
    }
    out: JSONDict = {"conditions": conditions(gw.metadata.generation or 1, conds), "listeners": statuses}
    hosts = list(dict.fromkeys(a.rpartition(":")[0] for a in internal_addrs))
    if hosts:
        out["addresses"] = [{"type": "Hostname", "value": h} for h in hosts]
    return out


def _instances(ctx: Context, gw: Resource, services: list[str], ports: list[int]) -> tuple[list[str], list[str], bool]:
    """(service:port with a connected gateway, warnings, whether every reference was usable):
    Istio's ``ResolveGatewayInstances`` with Mizzen's connected gateway proxies as the instances."""
    found: list[str] = []
    warnings: list[str] = []
    usable = True
    for host in services:
        svc = ctx.service_by_host(host, gw.namespace)
        if svc is None:
            warnings.append(f'hostname "{host}" not found')
            usable = False
            continue
        svc_ports = {p.port for p in build(Service, svc.spec).ports}
        if not ctx.has_instances(host, gw.namespace):
            warnings.append(f'no instances found for hostname "{host}"')
            continue
        for port in sorted(set(ports)):
            if port in svc_ports:
                found.append(f"{host}:{port}")
            elif MANAGED_LABEL not in svc.metadata.labels:
                warnings.append(f'port {port} not found for hostname "{host}"')
                usable = False
    return sorted(found), sorted(warnings), usable


def _human_join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]
