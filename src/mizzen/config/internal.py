"""Istio's internal annotations on generated config: how Gateway API semantics travel on the Istio
Gateway and VirtualService objects istiod converts them to (``pkg/config/constants``,
``pilot/pkg/model/push_context.go``). :mod:`mizzen.gatewayapi` writes them; the translator reads them,
so it needs no knowledge of the Gateway API itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PARENTS = "internal.istio.io/parents"
"""The objects a generated config came from: ``HTTPRoute/name.namespace`` (comma-separated)."""

ROUTE_SEMANTICS = "internal.istio.io/route-semantics"
"""``gateway`` on a VirtualService converted from a route: Gateway API matching and error codes."""

GATEWAY_SEMANTICS = "internal.istio.io/gateway-semantics"
"""``gateway`` on an Istio Gateway converted from a Gateway API Gateway listener."""

GATEWAY_SERVICE = "internal.istio.io/gateway-service"
"""Service hostnames (comma-separated) whose instances, in the Gateway's namespace, serve the Gateway;
used instead of a selector."""

SERVICE_ACCOUNT = "internal.istio.io/service-account-name"
"""The service account of a deployed (managed) gateway; empty for a manual deployment."""

GATEWAY_CREDENTIAL_PREFIX = "kubernetes-gateway://"
"""``credentialName`` form of a Gateway API certificateRef: ``kubernetes-gateway://<ns>/<secret>``."""


def gateway_semantics(annotations: Mapping[str, str]) -> bool:
    """Whether a VirtualService carries Gateway API route semantics (``UseGatewaySemantics``)."""
    return annotations.get(ROUTE_SEMANTICS) == "gateway"


def gateway_services(annotations: Mapping[str, str]) -> tuple[str, ...] | None:
    """The gateway Services a converted Gateway is bound to, or ``None`` for a selector-bound Gateway."""
    raw = annotations.get(GATEWAY_SERVICE)
    if raw is None:
        return None
    return tuple(h for h in raw.split(",") if h)


def split_credential(credential: str, namespace: str) -> tuple[str, str]:
    """(namespace, secret name) of a ``credentialName``; plain names live in ``namespace``."""
    if credential.startswith(GATEWAY_CREDENTIAL_PREFIX):
        ns, _, name = credential[len(GATEWAY_CREDENTIAL_PREFIX) :].partition("/")
        return ns, name
    return namespace, credential


_GO_REGEX_SPECIALS = re.compile(r"([\\.+*?()|\[\]{}^$])")


def quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta``, the escaping Istio uses in the regexes it generates."""
    return _GO_REGEX_SPECIALS.sub(r"\\\1", text)
