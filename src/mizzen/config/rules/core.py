"""Rules for Kubernetes core kinds: Service ports (Kubernetes and Istio naming) and TLS Secrets."""

from __future__ import annotations

import base64
import binascii
import re

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.core import Secret, Service
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found

# Protocol prefixes Istio recognises in Service port names (``http``, ``http-web``, ``grpc-api``…).
ISTIO_PORT_PREFIXES = (
    "http",
    "http2",
    "https",
    "grpc",
    "grpc-web",
    "tcp",
    "tls",
    "udp",
    "mongo",
    "mysql",
    "redis",
    "thrift",
)
_IANA_SVC_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def check_service(res: Resource, root: str) -> Found:
    """Every rule violation of one Service."""
    svc: Service = parse_spec(res)
    out: Found = []
    common.labels(svc.selector, f"{root}.selector", out)
    for i, p in enumerate(svc.ports):
        path = f"{root}.ports[{i}]"
        common.port(p.port, f"{path}.port", out)
        _target_port(p.target_port, f"{path}.targetPort", out)
        if p.name:
            if not names.is_dns1123_label(p.name):
                out.append(violation("MZ2801", f'Invalid value: "{p.name}": {names.LABEL_MSG}', f"{path}.name"))
            elif not p.app_protocol and not _istio_named(p.name):
                out.append(
                    violation(
                        "MZ2802",
                        f'port "{p.name}" does not follow the Istio naming convention (<protocol>[-<suffix>])',
                        f"{path}.name",
                    )
                )
        elif len(svc.ports) > 1:
            out.append(
                violation(
                    "MZ2801", "Required value: a name is required when a Service has several ports", f"{path}.name"
                )
            )
        elif not p.app_protocol:
            out.append(
                violation(
                    "MZ2802",
                    f'service "{res.name}/{res.namespace}" has an unnamed port; Istio treats it as TCP',
                    f"{path}",
                )
            )
    for dup in common.duplicates([p.name for p in svc.ports if p.name]):
        out.append(violation("MZ2801", f'Duplicate value: "{dup}"', f"{root}.ports"))
    for dup in common.duplicates([f"{p.port}/{p.protocol or 'TCP'}" for p in svc.ports]):
        out.append(violation("MZ2801", f"Duplicate value: port {dup}", f"{root}.ports"))
    return out


def _istio_named(name: str) -> bool:
    return any(name == p or name.startswith(p + "-") for p in ISTIO_PORT_PREFIXES)


def _target_port(tp: int | str | None, path: str, out: Found) -> None:
    if isinstance(tp, int):
        common.port(tp, path, out)
    elif isinstance(tp, str):
        if tp.isdigit():
            common.port(int(tp), path, out)
        elif len(tp) > 15 or _IANA_SVC_NAME.fullmatch(tp) is None or not re.search("[a-z]", tp):
            out.append(
                violation(
                    "MZ2801",
                    f'Invalid value: "{tp}": must be a port number or an IANA service '
                    "name (at most 15 lower-case alphanumerics or '-')",
                    path,
                )
            )


def check_secret(res: Resource, root: str) -> Found:
    """Every rule violation of one Secret (TLS secrets need tls.crt and tls.key)."""
    sec: Secret = parse_spec(res)
    out: Found = []
    for key, value in sec.data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            out.append(violation("MZ2803", f"data[{key}] is not valid base64", f"{root}.data.{key}".lstrip(".")))
    if sec.type == "kubernetes.io/tls":
        present = set(sec.data) | set(sec.string_data)
        for key in ("tls.crt", "tls.key"):
            if key not in present:
                out.append(
                    violation(
                        "MZ2803",
                        f"Required value: a kubernetes.io/tls Secret must contain {key}",
                        f"{root}.data".lstrip("."),
                    )
                )
    return out
