"""A workload template from Kubernetes manifests: ``mizzen run --from bookinfo.yaml --name reviews-v2``.

Or from Istio's WorkloadGroup (the VM template: ``metadata.labels``, ``template.serviceAccount`` and ports,
and its readiness ``probe``), named like the workload or the only one in its namespace.

The Deployment named like the workload gives the pod labels, annotations and service account (and an HTTP
readiness path, if its container has an ``httpGet`` readiness probe); the Services in the same
files whose selector matches those labels give the named service ports the workload serves. So the
Kubernetes YAML a user already has describes the workload, as DESIGN.md intends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.agent.errors import AgentError
from mizzen.agent.readiness import ProbePolicy
from mizzen.agent.spec import PortSpec


@dataclass(frozen=True)
class WorkloadTemplate:
    """What a Deployment (plus the Services selecting it) says about a workload."""

    labels: Mapping[str, str]
    service_account: str
    ports: tuple[PortSpec, ...]
    ready_path: str | None = None
    probe: ProbePolicy | None = None  # a WorkloadGroup's probe
    annotations: Mapping[str, str] = field(default_factory=dict)  # the pod template's (prometheus.io/*)


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
        group = _workload_group(docs, name, namespace)
        if group is None:
            raise AgentError(f"no Deployment {namespace}/{name} (nor a WorkloadGroup for it) in the given files")
        return _from_group(group, docs, namespace)
    pod = _dig(deployment, "spec", "template")
    labels = {str(k): str(v) for k, v in (_dig(pod, "metadata", "labels") or {}).items()}
    pod_spec = _dig(pod, "spec") or {}
    return WorkloadTemplate(
        labels=labels,
        service_account=str(pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"),
        ports=_service_ports(docs, labels, namespace),
        ready_path=_ready_path(pod_spec),
        annotations={str(k): str(v) for k, v in (_dig(pod, "metadata", "annotations") or {}).items()},
    )


def _workload_group(docs: list[Mapping[str, Any]], name: str, namespace: str) -> Mapping[str, Any] | None:
    """The WorkloadGroup named ``name``, else the only one in ``namespace`` (Istio's VM template)."""
    groups = [d for d in docs if d.get("kind") == "WorkloadGroup" and (_meta(d, "namespace") or "default") == namespace]
    named = [g for g in groups if _meta(g, "name") == name]
    return named[0] if named else groups[0] if len(groups) == 1 else None


def _from_group(group: Mapping[str, Any], docs: list[Mapping[str, Any]], namespace: str) -> WorkloadTemplate:
    """A WorkloadGroup: ``metadata.labels`` and ``template`` for the entry, ``probe`` for readiness."""
    labels = {str(k): str(v) for k, v in (_dig(group, "spec", "metadata", "labels") or {}).items()}
    template = _dig(group, "spec", "template") or {}
    labels.update({str(k): str(v) for k, v in (template.get("labels") or {}).items()})
    ports = _service_ports(docs, labels, namespace)
    declared = {str(k) for k in (template.get("ports") or {})}
    if declared:
        ports = tuple(p for p in ports if p.name in declared)
    return WorkloadTemplate(
        labels=labels,
        service_account=str(template.get("serviceAccount") or "default"),
        ports=ports,
        probe=probe_of(_dig(group, "spec", "probe")),
    )


def probe_of(probe: Any) -> ProbePolicy | None:
    """Istio's ``ReadinessProbe`` (httpGet, tcpSocket or exec; period/timeout/thresholds/initialDelay)."""
    if not isinstance(probe, Mapping):
        return None
    return ProbePolicy(**_probe_timing(probe), **_probe_check(probe))


def _probe_timing(probe: Mapping[str, Any]) -> dict[str, Any]:
    """Period, timeout, initial delay and thresholds (invalid values leave Istio's defaults)."""
    knobs: dict[str, Any] = {}
    for key, field_name in (("periodSeconds", "period_s"), ("timeoutSeconds", "timeout_s")):
        if isinstance(probe.get(key), int) and probe[key] > 0:
            knobs[field_name] = float(probe[key])
    if isinstance(probe.get("initialDelaySeconds"), int) and probe["initialDelaySeconds"] >= 0:
        knobs["initial_delay_s"] = float(probe["initialDelaySeconds"])
    for key, field_name in (("failureThreshold", "failure_threshold"), ("successThreshold", "success_threshold")):
        if isinstance(probe.get(key), int) and probe[key] > 0:
            knobs[field_name] = probe[key]
    return knobs


def _probe_check(probe: Mapping[str, Any]) -> dict[str, Any]:
    """What the probe checks: an HTTP GET, a TCP connect or a command (gRPC and HTTPS are refused)."""
    http, tcp, command = probe.get("httpGet"), probe.get("tcpSocket"), _dig(probe, "exec", "command")
    if probe.get("grpc") is not None:
        raise AgentError("WorkloadGroup probe.grpc is not supported yet: use httpGet, tcpSocket or exec")
    if isinstance(http, Mapping):
        if str(http.get("scheme") or "HTTP").upper() != "HTTP":
            raise AgentError("WorkloadGroup probe.httpGet.scheme HTTPS is not supported yet: use HTTP")
        headers = tuple((str(h.get("name")), str(h.get("value") or "")) for h in http.get("httpHeaders") or ())
        return {
            "http_path": str(http.get("path") or "/"),
            "port": _port(http),
            "headers": headers,
            "host": str(http.get("host") or "127.0.0.1"),
        }
    if isinstance(tcp, Mapping):
        return {"port": _port(tcp), "host": str(tcp.get("host") or "127.0.0.1")}
    if isinstance(command, list) and command:
        return {"exec_command": tuple(str(c) for c in command)}
    return {}


def _port(check: Mapping[str, Any]) -> int | None:
    port = check.get("port")
    return int(port) if isinstance(port, int) and port > 0 else None


def _service_ports(docs: list[Mapping[str, Any]], labels: Mapping[str, str], namespace: str) -> tuple[PortSpec, ...]:
    """The named ports of the Services in ``docs`` whose selector matches ``labels``."""
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
    return tuple(sorted(ports.values(), key=lambda p: p.number))


def _ready_path(pod_spec: Mapping[str, Any]) -> str | None:
    for container in pod_spec.get("containers") or ():
        path = _dig(container, "readinessProbe", "httpGet", "path")
        if isinstance(path, str) and path:
            return path
    return None


def _documents(text: str) -> list[Mapping[str, Any]]:
    import yaml  # here: only --from reads manifests, and the agent then carries no YAML or config modules

    from mizzen.config import yamlsafe

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
