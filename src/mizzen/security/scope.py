"""What a credential may do: be one proxy on xDS, register one WorkloadEntry, see which secrets.

Each check returns ``None`` when allowed, else the reason as one sentence for the refusal (gRPC
``PERMISSION_DENIED`` details, HTTP 403 message). Admin credentials pass every check.
"""

from __future__ import annotations

from dataclasses import dataclass

from mizzen.security.credentials import Credential

PROXY_TYPE = {"workload": "sidecar", "gateway": "router"}
# Envoy admin endpoints the control plane may ask an agent for (GET), and the one it may change (POST):
# inspection only. The agent enforces the same list on its side of the admin channel.
ENVOY_ADMIN_READ = frozenset(
    {
        "config_dump",
        "clusters",
        "stats",
        "stats/prometheus",
        "server_info",
        "ready",
        "listeners",
        "certs",
        "memory",
        "logging",
    }
)
ENVOY_ADMIN_WRITE = frozenset({"logging"})
SECRET_PREFIX = "kubernetes://"  # Istio's resource names for credentialName secrets served over ADS
GATEWAY_SECRET_PREFIX = "kubernetes-gateway://"  # ... and for Gateway API certificateRefs: <ns>/<name>
CA_SUFFIX = "-cacert"


@dataclass(frozen=True)
class NodeClaim:
    """Who an xDS client says it is: its node id and what its node metadata declares."""

    node_id: str
    name: str
    namespace: str
    service_account: str
    proxy_type: str  # "sidecar" | "router"


def node_problem(cred: Credential, claim: NodeClaim) -> str | None:
    """Why ``cred`` may not open a stream as ``claim``; every field must match the credential."""
    if cred.is_admin:
        return None
    expected_type = PROXY_TYPE[cred.type]
    parts = claim.node_id.split("~")
    want_id_part = f"{cred.name}.{cred.namespace}"
    if len(parts) != 4 or parts[0] != expected_type or parts[2] != want_id_part:
        return (
            f"{cred.describe()} may only connect as node {expected_type}~<ip>~{want_id_part}~"
            f"{cred.namespace}.svc.cluster.local, not {claim.node_id!r}"
        )
    for label, claimed, own in (
        ("NAME", claim.name, cred.name),
        ("NAMESPACE", claim.namespace, cred.namespace),
        ("SERVICE_ACCOUNT", claim.service_account, cred.service_account),
        ("proxy type", claim.proxy_type, expected_type),
    ):
        if claimed != own:
            return f"{cred.describe()} cannot claim node metadata {label}={claimed!r} (it is {own!r})"
    return None


def entry_problem(cred: Credential, namespace: str, name: str, service_account: str | None = None) -> str | None:
    """Why ``cred`` may not write the WorkloadEntry ``namespace/name`` (with ``service_account``, when known)."""
    if cred.is_admin:
        return None
    # A gateway is an endpoint of its own Service (Istio's gateway pod is): it registers itself too.
    if cred.type not in ("workload", "gateway"):
        return f"{cred.describe()} may not register WorkloadEntries (only workload and gateway credentials may)"
    if (namespace, name) != (cred.namespace, cred.name):
        return f"{cred.describe()} may only register WorkloadEntry {cred.namespace}/{cred.name}, not {namespace}/{name}"
    if service_account is not None and service_account != cred.service_account:
        return (
            f"{cred.describe()} may not register WorkloadEntry {namespace}/{name} with service account "
            f"{service_account!r}"
        )
    return None


def secret_visible(
    cred: Credential,
    resource_name: str,
    exists_in: frozenset[tuple[str, str]],
    dr_credentials: frozenset[tuple[str, str]] = frozenset(),
) -> bool:
    """Whether an ADS ``Secret`` named ``resource_name`` may go to ``cred``'s proxy.

    A sidecar's own certificates come from its agent; over ADS it gets only the ``credentialName`` secret
    (``kubernetes://<name>`` and its ``-cacert``) that a DestinationRule names for client TLS, and only in
    its own namespace (Istio's rule); ``dr_credentials`` is the (namespace, credentialName) of every
    stored DestinationRule. A gateway gets a
    ``credentialName`` secret only when the Secret (or the Secret its ``-cacert`` name stands for) is in its
    own namespace, Istio's rule: ``kubernetes://<name>`` names one there, ``kubernetes-gateway://<ns>/<name>``
    (a Gateway API certificateRef) must name that namespace too. ``exists_in`` is the (namespace, name) of
    every stored Secret.
    """
    if cred.is_admin:
        return True
    if cred.type != "gateway":
        return _dr_secret_visible(cred, resource_name, exists_in, dr_credentials)
    if resource_name.startswith(SECRET_PREFIX):
        namespace, name = cred.namespace, resource_name[len(SECRET_PREFIX) :]
    elif resource_name.startswith(GATEWAY_SECRET_PREFIX):
        namespace, _, name = resource_name[len(GATEWAY_SECRET_PREFIX) :].partition("/")
    else:
        return False
    if namespace != cred.namespace:
        return False
    if (namespace, name) in exists_in:
        return True
    return name.endswith(CA_SUFFIX) and (namespace, name[: -len(CA_SUFFIX)]) in exists_in


def _dr_secret_visible(
    cred: Credential,
    resource_name: str,
    exists_in: frozenset[tuple[str, str]],
    dr_credentials: frozenset[tuple[str, str]],
) -> bool:
    if cred.type != "workload" or not resource_name.startswith(SECRET_PREFIX):
        return False
    name = resource_name[len(SECRET_PREFIX) :]
    ns = cred.namespace
    if (ns, name) in dr_credentials:
        return (ns, name) in exists_in
    base = name.removesuffix(CA_SUFFIX)
    return name != base and (ns, base) in dr_credentials and ((ns, name) in exists_in or (ns, base) in exists_in)


def admin_call_problem(method: str, path: str) -> str | None:
    """Why an Envoy admin call may not be relayed (anything but the inspection endpoints), or None."""
    allowed = ENVOY_ADMIN_WRITE if method == "POST" else ENVOY_ADMIN_READ
    if method not in ("GET", "POST") or path.strip("/") not in allowed:
        return f"admin endpoint {method} /{path.strip('/')} is not exposed"
    return None


def channel_problem(cred: Credential, proxy_id: str) -> str | None:
    """Why ``cred`` may not open the agent channel of proxy ``<name>.<namespace>``, or None."""
    if cred.is_admin or proxy_id == f"{cred.name}.{cred.namespace}":
        return None
    return f"{cred.describe()} may only open the agent channel of {cred.name}.{cred.namespace}, not {proxy_id}"
