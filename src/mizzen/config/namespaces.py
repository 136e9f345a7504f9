"""kubectl's ``-n NAMESPACE`` for files: documents without a namespace go there; others must agree."""

from __future__ import annotations

from dataclasses import replace

from mizzen.config.codes import violation
from mizzen.config.kinds import by_kind
from mizzen.config.report import Report
from mizzen.config.resource import Resource


def in_namespace(res: Resource, namespace: str, report: Report) -> Resource:
    """``res`` moved to ``namespace`` when its document names no namespace (kubectl's ``-n``); a document
    naming a different one is reported as an error, as kubectl refuses it. Cluster-scoped kinds stay."""
    info = by_kind(res.kind)
    if info is None or not info.namespaced:
        return res
    if "metadata.namespace" not in res.origin.lines:
        return replace(res, metadata=replace(res.metadata, namespace=namespace))
    if res.namespace != namespace:
        message = (
            f'the namespace from the provided object "{res.namespace}" does not match the namespace "{namespace}"; '
            f"pass --namespace={res.namespace} or remove metadata.namespace"
        )
        where = res.origin.line_of("metadata.namespace")
        ref = f"{res.kind} {res.namespace}/{res.name}"
        report.add(
            replace(violation("MZ0008", message, "metadata.namespace"), file=res.origin.file, line=where, resource=ref)
        )
    return res
