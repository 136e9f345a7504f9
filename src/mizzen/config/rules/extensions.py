"""Istio's rules for WasmPlugin and ProxyConfig (``ValidateWasmPlugin``, ``ValidateProxyConfig`` and the
CRDs' constraints): kinds Mizzen validates but does not run."""

from __future__ import annotations

import re

from mizzen.config.codes import violation
from mizzen.config.models.extensions import ProxyConfig, VmConfig, WasmPlugin
from mizzen.config.resource import Resource
from mizzen.config.rules import policy_target
from mizzen.config.rules.common import Found
from mizzen.config.schema import build

_SCHEMES = frozenset({"", "file", "http", "https", "oci"})
_SHA256 = re.compile(r"[a-f0-9]{64}")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")  # Go's URL parser rejects these
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def check_wasm_plugin(res: Resource, root: str) -> Found:
    """Every WasmPlugin violation (unlocated)."""
    spec: WasmPlugin = build(WasmPlugin, res.spec)
    out: Found = []
    policy_target.check(spec.selector, spec.target_ref, spec.target_refs, root, out)
    _url(spec.url, f"{root}.url", out)
    if spec.sha256 and len(spec.sha256) != 64:
        out.append(violation("MZ3002", "sha256 field must be 64 characters long", f"{root}.sha256"))
    elif spec.sha256 and not _SHA256.fullmatch(spec.sha256):
        out.append(violation("MZ3002", "sha256 field must match [a-f0-9]{64} pattern", f"{root}.sha256"))
    if len(spec.image_pull_secret) > 253:
        message = "imagePullSecret field must be less than 253 characters long"
        out.append(violation("MZ3002", message, f"{root}.imagePullSecret"))
    if len(spec.plugin_name) > 256:
        out.append(violation("MZ3002", "pluginName field must be less than 255 characters long", f"{root}.pluginName"))
    if spec.vm_config is not None:
        _vm_config(spec.vm_config, f"{root}.vmConfig", out)
    for i, selector in enumerate(spec.match):
        for j, port in enumerate(selector.ports):
            if not 0 < port.number <= 65535:
                message = f"spec.Match[{i}].Ports[{j}] is out of range: {port.number}"
                out.append(violation("MZ3002", message, f"{root}.match[{i}].ports[{j}].number"))
    return out


def _url(url: str, path: str, out: Found) -> None:
    if not url:
        out.append(violation("MZ3002", "url field needs to be set", path))
        return
    # Go's URL parser takes a leading "word:" as the scheme; without one Istio retries with "http://"
    # in front (as for "registry/image:tag" OCI references), so that case is accepted.
    if _BAD_ESCAPE.search(url) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        out.append(violation("MZ3002", f"failed to parse url: {url!r} is not a valid URL", path))
        return
    found = _SCHEME.match(url)
    scheme = found.group(1).lower() if found else ""
    if scheme not in _SCHEMES:
        out.append(violation("MZ3002", f"url contains unsupported scheme: {scheme}", path))


def _vm_config(vm: VmConfig, path: str, out: Found) -> None:
    seen: set[str] = set()
    for i, env in enumerate(vm.env):
        at = f"{path}.env[{i}]"
        if not env.name:
            out.append(violation("MZ3002", "spec.vmConfig.env invalid", f"{at}.name"))
        elif len(env.name) > 256:
            out.append(violation("MZ3002", "env.name field must be less than 255 characters long", f"{at}.name"))
        elif env.name in seen:
            out.append(violation("MZ3002", "duplicate env", f"{at}.name"))
        elif env.value_from == "HOST" and env.value:
            out.append(violation("MZ3002", "value may only be set when valueFrom is INLINE", f"{at}.value"))
        else:
            seen.add(env.name)
            continue
        return  # Istio stops at the first bad variable


def check_proxy_config(res: Resource, root: str) -> Found:
    """Every ProxyConfig violation (unlocated)."""
    spec: ProxyConfig = build(ProxyConfig, res.spec)
    out: Found = []
    policy_target.check(spec.selector, None, (), root, out)
    if spec.concurrency is not None and spec.concurrency < 0:
        message = "concurrency must be greater than or equal to 0"
        out.append(violation("MZ3003", message, f"{root}.concurrency"))
    return out
