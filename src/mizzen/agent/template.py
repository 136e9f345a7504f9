"""A workload template from Kubernetes manifests: ``mizzen run --from bookinfo.yaml --name reviews-v2``.

The Deployment named like the workload gives the pod labels and service account (and an HTTP
readiness path, if its container has an ``httpGet`` readiness probe); the Services in the same
files whose selector matches those labels give the named service ports the workload serves. So the
Kubernetes YAML a user already has describes the workload, as DESIGN.md intends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from mizzen.agent.errors import AgentError
from mizzen.agent.spec import PortSpec
from mizzen.config import yamlsafe


@dataclass(frozen=True)
class WorkloadTemplate:
    """What a Deployment (plus the Services selecting it) says about a workload."""

    labels: Mapping[str, str]
    service_account: str
    ports: tuple[PortSpec, ...]
    ready_path: str | None = None


def template_from_manifests(texts: Iterable[str], name: str, namespace: str = "default") -> WorkloadTemplate:
    """The template for Deployment ``name`` in ``namespace`` found in the YAML ``texts``."""
    docs = [d for text in texts for d in _documents(text)]
    deployment = next(
        (
            d
            for d in docs
            if d.get("kind") == "Deployment"
            and _meta(d, "name") == name
            and (_meta(d, "namespace") or "default") == namespace
        ),
        None,
    )
    if deployment is None:
        raise AgentError(f"no Deployment {namespace}/{name} in the given files")
    pod = _dig(deployment, "spec", "template")
    labels = {str(k): str(v) for k, v in (_dig(pod, "metadata", "labels") or {}).items()}
    pod_spec = _dig(pod, "spec") or {}
    ports: dict[str, PortSpec] = {}
    for svc in docs:
        selector = _dig(svc, "spec", "selector")
        if (
            svc.get("kind") != "Service"
            or not isinstance(selector, Mapping)
            or not selector
            or (_meta(svc, "namespace") or "default") != namespace
            or any(labels.get(str(k)) != str(v) for k, v in selector.items())
        ):
            continue
        for port in _dig(svc, "spec", "ports") or ():
            if isinstance(port, Mapping) and port.get("name") and isinstance(port.get("port"), int):
                ports.setdefault(str(port["name"]), PortSpec(str(port["name"]), int(port["port"])))
    return WorkloadTemplate(
        labels=labels,
        service_account=str(pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"),
        ports=tuple(sorted(ports.values(), key=lambda p: p.number)),
        ready_path=_ready_path(pod_spec),
    )


def _ready_path(pod_spec: Mapping[str, Any]) -> str | None:
    for container in pod_spec.get("containers") or ():
        path = _dig(container, "readinessProbe", "httpGet", "path")
        if isinstance(path, str) and path:
            return path
    return None


def _documents(text: str) -> list[Mapping[str, Any]]:
    try:
        docs = yamlsafe.load_all(text, "manifest")
    except (yaml.YAMLError, yamlsafe.YamlLimitError) as exc:
        raise AgentError(f"cannot parse manifest: {exc}") from exc
    out: list[Mapping[str, Any]] = []
    for doc in docs:
        if isinstance(doc, Mapping) and doc.get("kind") == "List":
            out.extend(d for d in doc.get("items") or () if isinstance(d, Mapping))
        elif isinstance(doc, Mapping):
            out.append(doc)
    return out


def _meta(doc: Mapping[str, Any], key: str) -> str:
    meta = doc.get("metadata")
    return str(meta.get(key) or "") if isinstance(meta, Mapping) else ""


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
