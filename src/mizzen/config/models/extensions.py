"""WasmPlugin and ProxyConfig: Istio kinds Mizzen reads and validates but does not run.

The fields follow Istio's ``extensions/v1alpha1/wasm.proto`` and ``networking/v1beta1/proxy_config.proto``.
"""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mizzen.config.models.common import LabelSelector, PolicyTargetReference
from mizzen.config.schema import fld


@dataclass(frozen=True)
class PluginPort:
    """A port number traffic is selected on."""

    number: int = fld(0, required=True)


@dataclass(frozen=True)
class TrafficSelector:
    """Which traffic (side, ports) a plugin applies to."""

    mode: Literal["UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER"] | None = fld()
    ports: tuple[PluginPort, ...] = fld(())


@dataclass(frozen=True)
class EnvVar:
    """An environment variable for the plugin's VM: inline, or taken from the proxy's host."""

    name: str = fld("", required=True)
    value_from: Literal["INLINE", "HOST"] | None = fld()
    value: str = fld("")


@dataclass(frozen=True)
class VmConfig:
    """The plugin VM's settings."""

    env: tuple[EnvVar, ...] = fld(())


@dataclass(frozen=True)
class WasmPlugin:
    """The spec of a WasmPlugin."""

    selector: LabelSelector | None = fld()
    target_ref: PolicyTargetReference | None = fld()
    target_refs: tuple[PolicyTargetReference, ...] = fld(())
    url: str = fld("")
    sha256: str = fld("")
    image_pull_policy: Literal["UNSPECIFIED_POLICY", "IfNotPresent", "Always"] | None = fld()
    image_pull_secret: str = fld("")
    verification_key: str = fld("")
    plugin_config: Mapping[str, Any] = fld(dict)
    plugin_name: str = fld("")
    phase: Literal["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"] | None = fld()
    priority: int | None = fld()
    fail_strategy: Literal["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"] | None = fld()
    vm_config: VmConfig | None = fld()
    match: tuple[TrafficSelector, ...] = fld(())
    type: Literal["UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"] | None = fld()


@dataclass(frozen=True)
class ProxyImage:
    """The proxy image variant (``debug``, ``distroless``...)."""

    image_type: str = fld("")


@dataclass(frozen=True)
class ProxyConfig:
    """The spec of a ProxyConfig."""

    selector: LabelSelector | None = fld()
    concurrency: int | None = fld()
    environment_variables: Mapping[str, str] = fld(dict)
    image: ProxyImage | None = fld()
