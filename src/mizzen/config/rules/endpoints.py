"""Rules for Endpoints (core ``v1``) and EndpointSlice (``discovery.k8s.io/v1``): what the Kubernetes API
server rejects is an error (MZ2806); what Istio acts on and Mizzen cannot is a warning (MZ2804).

Kubernetes' Endpoints validation refuses loopback, link-local and unspecified addresses (an Endpoints
object names addresses other hosts reach); its EndpointSlice validation checks that each address is of
the slice's ``addressType``. A ``targetRef`` to a Pod is where Istio reads the endpoint's labels, service
account and sidecar from; Mizzen has no Pods, so such an endpoint has none of them (plaintext, no subset
labels): warned. Istio ignores ``addressType: FQDN`` slices, and a slice without the
``kubernetes.io/service-name`` label belongs to no Service, and a slice port without a number matches no
Service port: none of them has an effect, which is warned too.
"""

from __future__ import annotations

import ipaddress

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.core import SERVICE_NAME_LABEL, EndpointPort, Endpoints, EndpointSlice
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found

MAX_SLICE_ADDRESSES = 100
"""Kubernetes' limit on an EndpointSlice endpoint's ``addresses`` (and on a slice's endpoints)."""


def _at(root: str, path: str) -> str:
    return f"{root}.{path}" if root else path


def check_endpoints(res: Resource, root: str) -> Found:
    """Every rule violation of one Endpoints object."""
    eps: Endpoints = parse_spec(res)
    out: Found = []
    for i, subset in enumerate(eps.subsets):
        path = _at(root, f"subsets[{i}]")
        groups = (("addresses", subset.addresses), ("notReadyAddresses", subset.not_ready_addresses))
        for field, addresses in groups:
            for j, address in enumerate(addresses):
                where = f"{path}.{field}[{j}]"
                _endpoints_ip(address.ip, f"{where}.ip", out)
                _target_ref(address.target_ref, f"{where}.targetRef", out)
        _ports(subset.ports, f"{path}.ports", out, number_required=True)
    return out


def _endpoints_ip(ip: str, path: str, out: Found) -> None:
    """Kubernetes' ``validateEndpointAddress``: an IP, and not a special one."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        out.append(violation("MZ2806", f'Invalid value: "{ip}": must be a valid IP address', path))
        return
    special = (
        "the unspecified address" if address.is_unspecified
        else "the loopback range (127.0.0.0/8, ::1/128)" if address.is_loopback
        else "the link-local range (169.254.0.0/16, fe80::/10)" if address.is_link_local
        else "the link-local multicast range (224.0.0.0/24, ff02::/10)" if _link_local_multicast(address)
        else ""
    )  # fmt: skip
    if special:
        out.append(violation("MZ2806", f'Invalid value: "{ip}": may not be {special}', path))


def _link_local_multicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return address in ipaddress.ip_network("224.0.0.0/24")
    return address in ipaddress.ip_network("ff02::/16")


def _target_ref(ref: object, path: str, out: Found) -> None:
    if isinstance(ref, dict) and ref.get("kind", "Pod") == "Pod":
        out.append(
            violation(
                "MZ2804",
                "a targetRef to a Pod is where Istio reads the endpoint's labels, service account and sidecar; "
                "Mizzen has no Pods, so this endpoint has none of them (plaintext, in no subset)",
                path,
            )
        )


def _ports(ports: tuple[EndpointPort, ...], path: str, out: Found, *, number_required: bool) -> None:
    for k, port in enumerate(ports):
        where = f"{path}[{k}]"
        if port.port is not None or number_required:
            common.port(port.port, f"{where}.port", out, code="MZ2806")
        else:
            out.append(violation("MZ2804", "a slice port without a number serves no Service port", where))
        if port.name and not names.is_dns1123_label(port.name):
            out.append(violation("MZ2806", f'Invalid value: "{port.name}": {names.LABEL_MSG}', f"{where}.name"))
        elif not port.name and len(ports) > 1:
            out.append(violation("MZ2806", "Required value: a name is required when there are several ports", where))
    for dup in common.duplicates([p.name or "" for p in ports]):
        out.append(violation("MZ2806", f'Duplicate value: "{dup}"', path))


def check_endpoint_slice(res: Resource, root: str) -> Found:
    """Every rule violation of one EndpointSlice."""
    eps: EndpointSlice = parse_spec(res)
    out: Found = []
    if eps.address_type == "FQDN":
        out.append(
            violation("MZ2804", "addressType FQDN slices are ignored by Istio (and Mizzen)", _at(root, "addressType"))
        )
    if not res.metadata.labels.get(SERVICE_NAME_LABEL):
        out.append(
            violation(
                "MZ2804",
                f"without the {SERVICE_NAME_LABEL} label the slice belongs to no Service: it has no effect",
                "metadata.labels",
            )
        )
    if len(eps.endpoints) > MAX_SLICE_ADDRESSES:
        too_many = f"Too many: must have at most {MAX_SLICE_ADDRESSES} items"
        out.append(violation("MZ2806", too_many, _at(root, "endpoints")))
    for i, endpoint in enumerate(eps.endpoints):
        path = _at(root, f"endpoints[{i}]")
        if not 1 <= len(endpoint.addresses) <= MAX_SLICE_ADDRESSES:
            out.append(violation("MZ2806", "Required value: 1 to 100 addresses", f"{path}.addresses"))
        for j, address in enumerate(endpoint.addresses):
            _slice_address(eps.address_type, address, f"{path}.addresses[{j}]", out)
        _target_ref(endpoint.target_ref, f"{path}.targetRef", out)
    _ports(eps.ports, _at(root, "ports"), out, number_required=False)
    return out


def _slice_address(address_type: str | None, value: str, path: str, out: Found) -> None:
    if address_type == "FQDN":
        if not names.is_dns1123_subdomain(value):
            out.append(violation("MZ2806", f'Invalid value: "{value}": must be a DNS name', path))
        return
    try:
        version: int = ipaddress.ip_address(value).version
    except ValueError:
        version = 0
    if address_type in ("IPv4", "IPv6") and f"IPv{version}" != address_type:
        out.append(violation("MZ2806", f'Invalid value: "{value}": must be a valid {address_type} address', path))
