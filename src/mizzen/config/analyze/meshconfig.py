"""The MeshConfig settings analyzers read (``istioctl analyze --meshConfigFile``), with Istio's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mizzen.config import yamlsafe


class MeshConfigError(ValueError):
    """A mesh config file that is not a YAML mapping."""


@dataclass(frozen=True)
class MeshConfig:
    """The subset of Istio's MeshConfig the analyzers use; defaults are Istio's."""

    root_namespace: str = "istio-system"
    ingress_controller_mode: str = "STRICT"
    ingress_service: str = "istio-ingressgateway"
    proxy_metadata: Mapping[str, str] = field(default_factory=dict)
    default_access_logging: tuple[str, ...] = ()  # defaultProviders.accessLogging
    lightstep_providers: frozenset[str] = frozenset()  # extensionProviders of the (deprecated) lightstep type
    proxy_image_type: str = ""  # defaultConfig.image.imageType

    @property
    def dns_auto_allocate(self) -> bool:
        """Whether sidecars capture DNS and allocate addresses for ServiceEntries (so none are required)."""
        md = self.proxy_metadata
        if md.get("ISTIO_META_DNS_CAPTURE") != "true":
            return False
        return md.get("ISTIO_META_DNS_AUTO_ALLOCATE") == "true" or md.get("PILOT_ENABLE_IP_AUTOALLOCATE") == "true"


def _spec_of(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def load_mesh_config(text: str) -> MeshConfig:
    """A MeshConfig from YAML (a bare MeshConfig, as istioctl reads it); missing fields keep the defaults."""
    try:
        doc: Any = yamlsafe.load(text, "mesh config") or {}
    except (yaml.YAMLError, yamlsafe.YamlLimitError) as exc:
        raise MeshConfigError(f"mesh config is not valid YAML: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise MeshConfigError("mesh config must be a YAML mapping")
    default = MeshConfig()
    proxy = doc.get("defaultConfig") or {}
    metadata = proxy.get("proxyMetadata") if isinstance(proxy, Mapping) else None
    providers = doc.get("defaultProviders")
    logging = providers.get("accessLogging") if isinstance(providers, Mapping) else None
    extensions = doc.get("extensionProviders")
    return MeshConfig(
        root_namespace=str(doc.get("rootNamespace") or default.root_namespace),
        ingress_controller_mode=str(doc.get("ingressControllerMode") or default.ingress_controller_mode),
        ingress_service=str(doc.get("ingressService") or default.ingress_service),
        proxy_metadata={str(k): str(v) for k, v in (metadata or {}).items()},
        default_access_logging=tuple(str(x) for x in logging) if isinstance(logging, list) else (),
        proxy_image_type=str(_spec_of(_spec_of(proxy).get("image")).get("imageType") or ""),
        lightstep_providers=frozenset(
            str(e.get("name") or "")
            for e in (extensions if isinstance(extensions, list) else [])
            if isinstance(e, Mapping) and "lightstep" in e
        ),
    )
