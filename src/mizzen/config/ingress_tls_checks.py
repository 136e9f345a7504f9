"""A Sidecar ingress ``tls`` that Istio leaves unapplied because mesh mTLS is on for that port (MZ2785).

Istio terminates a Sidecar's ingress TLS only where the workload's PeerAuthentication mode for the port is
``DISABLE`` (its task disables the port with ``portLevelMtls``); on a STRICT or PERMISSIVE port the
sidecar keeps serving mesh mTLS and the user's certificate is never used, with no message. Mizzen
translates the same way (``mizzen.translate.security.ingress_tls``) and says so here.

The PeerAuthentication resolved is Istio's: a workload-specific policy of the Sidecar's namespace (its
``portLevelMtls`` for the port, then its ``mtls``), then the namespace's, then the root namespace's, then
PERMISSIVE; the oldest wins where several apply at one level. The check reasons from selectors, not
workloads, and warns only when the outcome is certain for every workload the Sidecar selects: a
workload-specific policy counts when its selector is a subset of the Sidecar's labels; when another one
might select some of those workloads, nothing is said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mizzen.config.codes import violation
from mizzen.config.models import Sidecar, spec_as
from mizzen.config.models.security import PeerAuthentication
from mizzen.config.report import Violation
from mizzen.config.resource import Resource
from mizzen.config.semantics.selectors import subset_of
from mizzen.config.validate import locate

CHECKED_KINDS = ("Sidecar", "PeerAuthentication")
"""What the check reads: the Sidecars checked, and the PeerAuthentications of the mesh."""
DEFAULT_ROOT_NAMESPACE = "istio-system"
_TERMINATED = ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")


def needs_ingress_tls_check(resources: Iterable[Resource]) -> bool:
    """Whether any resource is a Sidecar with an ingress ``tls`` (callers skip loading the store if not)."""
    return any(r.kind == "Sidecar" and any(i.tls for i in spec_as(r, Sidecar).ingress) for r in resources)


def ingress_tls_under_mesh_mtls(
    checked: Sequence[Resource], mesh: Iterable[Resource], *, root_namespace: str = DEFAULT_ROOT_NAMESPACE
) -> list[Violation]:
    """MZ2785 for each terminating ingress ``tls`` (SIMPLE, MUTUAL, OPTIONAL_MUTUAL) of the Sidecars in
    ``checked`` whose port ``mesh``'s PeerAuthentications leave in STRICT or PERMISSIVE mode (located at the
    Sidecar's ``tls``)."""
    policies = sorted(
        (r for r in mesh if r.kind == "PeerAuthentication"),
        key=lambda r: (r.metadata.creation_timestamp, r.namespace, r.name),
    )
    out: list[Violation] = []
    for res in checked:
        if res.kind != "Sidecar":
            continue
        sc = spec_as(res, Sidecar)
        labels = dict(sc.workload_selector.labels) if sc.workload_selector is not None else None
        found = []
        for i, ingress in enumerate(sc.ingress):
            tls, port = ingress.tls, ingress.port
            if tls is None or tls.mode not in _TERMINATED or port is None or not port.number:
                continue
            mode = _port_mode(policies, res.namespace, labels, port.number, root_namespace)
            if mode is not None and mode != "DISABLE":
                found.append(
                    violation(
                        "MZ2785",
                        f"tls on ingress port {port.number} is not applied: the port's PeerAuthentication mode is "
                        f"{mode}, and Istio terminates a Sidecar's ingress TLS only where it is DISABLE (set "
                        f"portLevelMtls {port.number}: DISABLE); the port keeps serving mesh mTLS",
                        f"spec.ingress[{i}].tls",
                    )
                )
        out += locate(res, found)
    return out


def _mode(pa: PeerAuthentication, port: int | None = None) -> str | None:
    mtls = pa.port_level_mtls.get(str(port)) if port is not None else pa.mtls
    mode = mtls.mode if mtls is not None else None
    return None if mode in (None, "", "UNSET") else str(mode)


def _selector(res: Resource) -> Mapping[str, str]:
    pa = spec_as(res, PeerAuthentication)
    return pa.selector.match_labels if pa.selector is not None else {}


def _relation(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> str:
    """Whether a workload policy selects all, none, or maybe some of the workloads a Sidecar selects."""
    if labels is not None and subset_of(selector, labels):
        return "all"
    if labels is not None and any(k in labels and labels[k] != v for k, v in selector.items()):
        return "none"
    return "maybe"


def _port_mode(
    policies: Sequence[Resource], namespace: str, labels: Mapping[str, str] | None, port: int, root: str
) -> str | None:
    """The port's mode for every workload a Sidecar with ``labels`` selects (``None``: not certain)."""
    own = [(p, _relation(_selector(p), labels)) for p in policies if p.namespace == namespace and _selector(p)]
    if any(rel == "maybe" for _, rel in own):
        return None  # a workload policy might select some of the Sidecar's workloads: cannot tell
    applying = [p for p, rel in own if rel == "all"]
    if applying:
        pa = spec_as(applying[0], PeerAuthentication)
        if (mode := _mode(pa, port) or _mode(pa)) is not None:
            return mode
    for ns in (namespace, root):
        wide = [p for p in policies if p.namespace == ns and not _selector(p)]
        if wide and (mode := _mode(spec_as(wide[0], PeerAuthentication))) is not None:
            return mode
    return "PERMISSIVE"
