"""``annotations.K8sAnalyzer``: Istio annotations on Namespaces, Services, Pods and Deployments that are
unknown (IST0108), deprecated (IST0135), on the wrong kind (IST0107) or badly valued (IST0125).

The catalogue is Istio's (:mod:`.annotation_catalogue`); the value checks are the sidecar injector's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from mizzen.config import yamlsafe

from . import messages as m
from .annotation_catalogue import BY_NAME
from .context import Context
from .kube import KubeObject
from .messages import MessageType

MISPLACED = MessageType(
    "IST0107",
    "MisplacedAnnotation",
    "Warning",
    "Misplaced annotation: %s can only be applied to %s",
    "An Istio annotation is applied to the wrong kind of resource.",
)
UNKNOWN = MessageType(
    "IST0108", "UnknownAnnotation", "Warning", "Unknown annotation: %s", "An Istio annotation is not recognized."
)
INVALID = MessageType(
    "IST0125", "InvalidAnnotation", "Warning", "Invalid annotation %s: %s", "An Istio annotation has an invalid value."
)
DEPRECATED = MessageType(
    "IST0135",
    "DeprecatedAnnotation",
    "Info",
    "Annotation %s has been deprecated%s and may not work in future Istio versions.",
    "A resource is using a deprecated Istio annotation.",
)

KINDS = ("Namespace", "Service", "Pod", "Deployment")
# Set by Istio itself; never reported.
IGNORED = frozenset({"sidecar.istio.io/status", "gateway.istio.io/controller-version", "istio.io/rev"})
INJECT = "sidecar.istio.io/inject"
_EXTRA_DEPRECATION = {INJECT: ' in favor of the "sidecar.istio.io/inject" label'}


def analyze_annotations(ctx: Context) -> None:
    """Report the problems of every Istio annotation on the kinds Istio checks."""
    for svc in ctx.of("Service"):
        meta, origin = svc.metadata, svc.origin
        obj = KubeObject("Service", svc.name, svc.namespace, meta.labels, meta.annotations)
        _check(ctx, replace(obj, file=origin.file, line=origin.line_of("")))
    for kind in ("Namespace", "Pod", "Deployment"):
        for obj in ctx.kube(kind):
            _check(ctx, obj)


def _check(ctx: Context, obj: KubeObject) -> None:
    for name, value in sorted(obj.annotations.items()):
        if not _is_istio(name) or name in IGNORED:
            continue
        known = BY_NAME.get(name)
        if known is None:
            ctx.report_object(UNKNOWN, obj, name)
            continue
        # The replacement label next to the deprecated annotation: the user keeps both on purpose.
        if known.deprecated and not (name == INJECT and INJECT in obj.labels):
            ctx.report_object(DEPRECATED, obj, m.quote(name), _EXTRA_DEPRECATION.get(name, ""))
        if "Any" in known.resources:
            continue
        if obj.kind not in known.resources:
            ctx.report_object(MISPLACED, obj, name, ", ".join(known.resources))
            continue
        check = VALUE_CHECKS.get(name)
        problem = check(value) if check is not None else None
        if problem is not None:
            ctx.report_object(INVALID, obj, name, problem)


def _is_istio(name: str) -> bool:
    # Kubernetes' ingress class annotation is documented by Istio, so it is checked too.
    return name == "kubernetes.io/ingress.class" or name.split("/")[0].endswith("istio.io")


def _uint(value: str, bits: int) -> bool:
    return value.isascii() and value.isdigit() and int(value) < 2**bits


def _uint32(value: str) -> str | None:
    return None if _uint(value, 32) else f'strconv.ParseUint: parsing "{value}": invalid syntax'


def _bool(value: str) -> str | None:
    ok = value in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")
    return None if ok else f'strconv.ParseBool: parsing "{value}": invalid syntax'


def _interception(value: str) -> str | None:
    if value in ("REDIRECT", "TPROXY", "NONE"):
        return None
    return f"interceptionMode invalid, use REDIRECT,TPROXY,NONE: {value}"


def _ports(what: str, star_ok: bool = False) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if (star_ok and value == "*") or not value.strip():
            return None
        bad = next((p for p in value.strip().split(",") if not _uint(p.strip(), 16)), None)
        return None if bad is None else f"{what} invalid: failed parsing port '{bad}'"

    return check


def _cidrs(what: str, star_ok: bool = False) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if (star_ok and value == "*") or not value:
            return None
        for cidr in value.split(","):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                return f"{what} invalid: failed parsing cidr '{cidr}'"
            if "/" not in cidr:
                return f"{what} invalid: failed parsing cidr '{cidr}': no '/'"
        return None

    return check


def _interfaces(value: str) -> str | None:
    for name in value.split(","):
        name = name.strip()
        if name and (len(name) > 15 or "/" in name or re.search(r"\s", name) or name in (".", "..")):
            return f"invalid interface name: {name!r}"
    return None


_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE]|)")


def _quantity(value: str) -> str | None:
    return None if _QUANTITY.fullmatch(value) else "quantities must match the regular expression"


def _proxy_config(value: str) -> str | None:
    # The injector applies the value to its ProxyConfig: it must at least be a YAML mapping (or empty).
    try:
        parsed = yamlsafe.load(value)
    except (ValueError, yamlsafe.YAMLError) as exc:
        return f"failed to convert to apply proxy config: {exc}"
    return None if parsed is None or isinstance(parsed, Mapping) else "failed to convert to apply proxy config"


VALUE_CHECKS: Mapping[str, Callable[[str], str | None]] = {
    "sidecar.istio.io/interceptionMode": _interception,
    "status.sidecar.istio.io/port": _ports("excludeInboundPorts"),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _uint32,
    "readiness.status.sidecar.istio.io/periodSeconds": _uint32,
    "readiness.status.sidecar.istio.io/failureThreshold": _uint32,
    "traffic.sidecar.istio.io/includeOutboundIPRanges": _cidrs("includeIPRanges", star_ok=True),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _cidrs("excludeIPRanges"),
    "traffic.sidecar.istio.io/includeInboundPorts": _ports("includeInboundPorts", star_ok=True),
    "traffic.sidecar.istio.io/excludeInboundPorts": _ports("excludeInboundPorts"),
    "traffic.sidecar.istio.io/excludeOutboundPorts": _ports("excludeOutboundPorts"),
    "traffic.sidecar.istio.io/excludeInterfaces": _interfaces,
    "traffic.sidecar.istio.io/kubevirtInterfaces": _interfaces,
    "istio.io/reroute-virtual-interfaces": _interfaces,
    "prometheus.istio.io/merge-metrics": _bool,
    "proxy.istio.io/config": _proxy_config,
    "sidecar.istio.io/proxyCPU": _quantity,
    "sidecar.istio.io/proxyMemory": _quantity,
    "sidecar.istio.io/proxyCPULimit": _quantity,
    "sidecar.istio.io/proxyMemoryLimit": _quantity,
}
"""The injector's checks of annotation values: each returns the problem, or ``None``."""
