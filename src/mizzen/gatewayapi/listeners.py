"""One Gateway API listener to one Istio ``Server`` (Istio's ``buildListener``, ``buildTLS`` and
``buildHostnameMatch``), with the listener's conditions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mizzen.config import internal
from mizzen.config.models.gateway_api import AllowedRoutes, LabelSelector, Listener, ListenerTLSConfig
from mizzen.config.resource import Resource
from mizzen.gatewayapi.conditions import conditions
from mizzen.gatewayapi.context import Context, kind_of
from mizzen.gatewayapi.model import GROUP, INVALID_CERTIFICATE_REF, REF_NOT_PERMITTED, Cond, ConfigError, JSONDict

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
TERMINATE_MODE_OPTION = "gateway.istio.io/tls-terminate-mode"
CIPHER_SUITES_OPTION = "gateway.istio.io/tls-cipher-suites"
_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TLS", "TCP"})


@dataclass
class ListenerResult:
    """The Istio server of a listener (``None`` when there is none), whether it is valid, its status."""

    server: JSONDict | None
    ok: bool
    status: JSONDict


def supported_kinds(listener: Listener) -> tuple[list[tuple[str, str]], bool]:
    """Route kinds the listener admits, and whether every kind in ``allowedRoutes.kinds`` is one."""
    if listener.protocol in ("HTTP", "HTTPS"):
        supported = [(GROUP, "HTTPRoute"), (GROUP, "GRPCRoute")]
    elif listener.protocol == "TCP":
        supported = [(GROUP, "TCPRoute")]
    elif listener.protocol == "TLS":
        supported = [(GROUP, "TLSRoute")]
        if listener.tls is not None and listener.tls.mode == "Terminate":
            supported.append((GROUP, "TCPRoute"))
    else:
        supported = []
    wanted = listener.allowed_routes.kinds
    if not wanted:
        return supported, True
    kept = [s for s in supported if any((k.group, k.kind) == s for k in wanted)]
    return kept, len(kept) == len(wanted)


def listener_status(listener: Listener, generation: int, conds: dict[str, Cond], attached: int = 0) -> JSONDict:
    """A ``status.listeners`` entry (Istio's ``ReportListenerCondition``)."""
    kinds, valid = supported_kinds(listener)
    if not valid:
        conds["ResolvedRefs"] = Cond("InvalidRouteKinds", "Invalid route kinds", status="False")
    return {
        "name": listener.name,
        "attachedRoutes": attached,
        "supportedKinds": [{"group": g, "kind": k} for g, k in kinds],
        "conditions": conditions(generation, conds),
    }


def conflicted(listener: Listener, generation: int, reason: str) -> JSONDict:
    """The status of a listener that conflicts with an earlier one on the same port."""
    msg = "Listener has a conflict with another listener attached to the same Gateway"
    error = ConfigError(reason, msg)
    conds = {
        "Accepted": Cond(error=error),
        "Programmed": Cond(error=error),
        "Conflicted": Cond(reason, msg, status="True"),
    }
    return listener_status(listener, generation, conds)


def build(
    ctx: Context, gw: Resource, listener: Listener, namespaces: Iterable[str], *, client_validation: bool = False
) -> ListenerResult:
    """The server for ``listener`` of Gateway ``gw``, and the listener's status.

    ``client_validation``: the Gateway's ``spec.tls.frontend`` asks this listener to verify client
    certificates, which Mizzen cannot do yet: the listener is refused rather than served without it.
    """
    ok_msg = "No errors found"
    conds = {
        "Accepted": Cond("Accepted", ok_msg),
        "Programmed": Cond("Programmed", ok_msg),
        "Conflicted": Cond("NoConflicts", ok_msg, status="False"),
        "ResolvedRefs": Cond("ResolvedRefs", ok_msg),
    }
    ok = True
    tls, error = _tls(ctx, gw, listener.tls)
    if error is None and client_validation and tls is not None and tls.get("mode") != "PASSTHROUGH":
        error = ConfigError(
            "InvalidCACertificateRef",
            "client certificate validation (spec.tls.frontend) is not supported by Mizzen yet",
        )
    if error is not None:
        conds["ResolvedRefs"].error = error
        conds["Programmed"].error = ConfigError("Invalid", "Bad TLS configuration")
        if error.reason in ("InvalidCACertificateRef", REF_NOT_PERMITTED):
            conds["Accepted"].error = ConfigError("NoValidCACertificate", error.message)
        ok = False
    protocol_error = _protocol_error(listener.protocol)
    if protocol_error is not None:
        conds["Accepted"].error = ConfigError("UnsupportedProtocol", protocol_error)
        ok = False
    server: JSONDict | None = {
        # One server per generated Gateway, so every server can carry the same name.
        "port": {"number": listener.port, "protocol": listener.protocol, "name": "default"},
        "hosts": hostname_match(gw.namespace, listener, namespaces),
    }
    if tls is not None and server is not None:
        server["tls"] = tls
    if tls is None and listener.protocol in ("HTTPS", "TLS"):
        server = None  # no TLS section: nothing to serve (istiod skips the listener too)
    return ListenerResult(server, ok, listener_status(listener, gw.metadata.generation or 1, conds))


def _protocol_error(protocol: str) -> str | None:
    if protocol in _PROTOCOLS:
        return None
    if protocol == "HBONE":
        return f'protocol "{protocol}" is only supported for waypoint proxies'
    if protocol.upper() in _PROTOCOLS:
        return f'protocol "{protocol}" is unsupported. hint: "{protocol.upper()}" (uppercase) may be supported'
    return f'protocol "{protocol}" is unsupported'


def hostname_match(namespace: str, listener: Listener, namespaces: Iterable[str]) -> list[str]:
    """The server hosts: ``<allowed namespace>/<listener hostname or *>``; ``~/`` when none is allowed."""
    host = listener.hostname or "*"
    allowed = allowed_namespaces(namespace, listener.allowed_routes, namespaces)
    return [f"{ns}/{host}" for ns in allowed if ns] or [f"~/{host}"]


def allowed_namespaces(namespace: str, routes: AllowedRoutes, namespaces: Iterable[str]) -> list[str]:
    """Namespaces whose routes may attach: the Gateway's, ``*``, or those the selector picks."""
    source = routes.namespaces.from_
    if source == "Same":
        return [namespace]
    if source == "All" or routes.namespaces.selector is None:
        return ["*"]
    if source == "None":
        return []
    # Mizzen has no Namespace objects: a namespace's only label is its name (as Kubernetes sets it).
    return sorted(ns for ns in set(namespaces) if selects(routes.namespaces.selector, {NAMESPACE_NAME_LABEL: ns}))


def selects(selector: LabelSelector, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for e in selector.match_expressions:
        value = labels.get(e.key)
        ok = {
            "In": value is not None and value in e.values,
            "NotIn": value is None or value not in e.values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }.get(e.operator, False)
        if not ok:
            return False
    return True


def _tls(ctx: Context, gw: Resource, tls: ListenerTLSConfig | None) -> tuple[JSONDict | None, ConfigError | None]:
    if tls is None:
        return None, None
    if tls.mode == "Passthrough":
        return {"mode": "PASSTHROUGH"}, None
    out: JSONDict = {"mode": "SIMPLE"}
    option = tls.options.get(TERMINATE_MODE_OPTION, "")
    if option in ("MUTUAL", "OPTIONAL_MUTUAL"):
        out["mode"] = option
    elif option == "ISTIO_SIMPLE":
        return {"mode": "SIMPLE", "credentialName": "builtin://"}, None
    elif option == "ISTIO_MUTUAL":
        return {"mode": "ISTIO_MUTUAL"}, None
    if len(tls.certificate_refs) > 2:
        return out, ConfigError(INVALID_CERTIFICATE_REF, "TLS mode can only support up to 2 server certificates")
    names, error = _credentials(ctx, gw, tls)
    if not names:
        return out, error
    if len(names) == 1:
        out["credentialName"] = names[0]
    else:
        out["credentialNames"] = names
    ciphers = [c.strip() for c in tls.options.get(CIPHER_SUITES_OPTION, "").split(",") if c.strip()]
    if ciphers:
        out["cipherSuites"] = ciphers
    return out, None


def _credentials(ctx: Context, gw: Resource, tls: ListenerTLSConfig) -> tuple[list[str], ConfigError | None]:
    names: list[str] = []
    error: ConfigError | None = None
    for ref in tls.certificate_refs:
        ns = ref.namespace or gw.namespace
        text = f"{ref.group}/{ref.kind}/{ref.name}.{ref.namespace or ''}"
        problem: ConfigError | None = None
        cross = ns != gw.namespace
        if cross and not ctx.allowed("KubernetesGateway", gw.namespace, "Secret", ns, ref.name):
            # Checked before looking the Secret up, so status never reveals whether it exists.
            problem = ConfigError(
                REF_NOT_PERMITTED,
                f"certificateRef {ref.name}/{ns} not accessible to a Gateway in namespace "
                f'"{gw.namespace}" (missing a ReferenceGrant?)',
            )
        elif kind_of(ref.group, ref.kind) != "Secret":
            problem = ConfigError(
                INVALID_CERTIFICATE_REF, f"invalid certificate reference {text}, only secret is allowed"
            )
        elif cross:
            # Granted, but Mizzen's gateway reads only its own namespace's Secrets (never another's).
            problem = ConfigError(
                INVALID_CERTIFICATE_REF,
                f"certificateRef {ref.name}/{ns} is in another namespace, which Mizzen's gateway does not read",
            )
        elif not _is_tls_secret(ctx.secrets.get((ns, ref.name))):
            problem = ConfigError(
                INVALID_CERTIFICATE_REF, f"invalid certificate reference {text}, secret {ns}/{ref.name} not found"
            )
        if problem is None:
            names.append(f"{internal.GATEWAY_CREDENTIAL_PREFIX}{ns}/{ref.name}")
        else:
            error = problem if error is None else ConfigError(error.reason, f"{error.message}; {problem.message}")
    return names, error


def _is_tls_secret(secret: Resource | None) -> bool:
    if secret is None:
        return False
    data = {**dict(secret.spec.get("stringData") or {}), **dict(secret.spec.get("data") or {})}
    return bool(data.get("tls.crt")) and bool(data.get("tls.key"))


def service_ports(listeners: Sequence[Listener]) -> list[int]:
    """Distinct listener ports, in order (the deployed gateway Service's ports)."""
    return list(dict.fromkeys(x.port for x in listeners))
