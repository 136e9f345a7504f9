"""A gateway's own ProxyConfig, as Istio reads it from the ``proxy.istio.io/config`` pod annotation.

Istio merges that annotation (YAML of ``meshconfig.ProxyConfig``) over the mesh-wide
``defaultConfig``; for a gateway, ``gatewayTopology.numTrustedProxies`` decides how many
X-Forwarded-For hops its HTTP connection manager trusts (``xff_num_trusted_hops``), which is what
``remoteIpBlocks`` and ``source.remote_ip`` match. ``mizzen gateway --proxy-config`` takes the same
YAML. Mizzen applies only that field; any other one is refused with its path, never ignored.
"""

from __future__ import annotations

from typing import Any

import yaml

from mizzen.agent.errors import AgentError
from mizzen.config import yamlsafe

ANNOTATION = "proxy.istio.io/config"
_APPLIED = "gatewayTopology.numTrustedProxies"


def parse_gateway_proxy_config(text: str, source: str = "--proxy-config") -> int | None:
    """``gatewayTopology.numTrustedProxies`` from ProxyConfig YAML (``None`` when unset)."""
    try:
        doc: Any = yamlsafe.load(text, source)
    except (yaml.YAMLError, yamlsafe.YamlLimitError) as exc:
        raise AgentError(f"{source}: not YAML: {exc}") from exc
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise AgentError(f"{source}: a ProxyConfig must be a mapping (as the {ANNOTATION} annotation)")
    _only(doc, "gatewayTopology", "", source)
    topology = doc.get("gatewayTopology")
    if topology is None:
        return None
    if not isinstance(topology, dict):
        raise AgentError(f"{source}: gatewayTopology must be a mapping")
    _only(topology, "numTrustedProxies", "gatewayTopology.", source)
    value = topology.get("numTrustedProxies")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**32 - 1:
        raise AgentError(f"{source}: gatewayTopology.numTrustedProxies must be an unsigned integer, not {value!r}")
    return value


def _only(doc: dict[Any, Any], allowed: str, prefix: str, source: str) -> None:
    for key in doc:
        if key != allowed:
            raise AgentError(
                f"{source}: {prefix}{key} is not applied by Mizzen to a gateway (only {_APPLIED} is); "
                "remove it or set it mesh-wide where Mizzen supports it"
            )
