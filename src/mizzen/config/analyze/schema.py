"""``schema.ValidationAnalyzer.<Kind>``: Istio's validation of its own kinds as analysis messages.

Errors are IST0106, warnings IST0133, except the VirtualService rule-order warnings, which istioctl
reports as IST0130 (unreachable rule) and IST0131 (ineffective match). Kubernetes kinds (Service,
Secret, ServiceAccount) are not schema-checked by istioctl, so not here either; neither are Mizzen's own
notes (fields not applied yet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mizzen.config.kinds import NETWORKING, SECURITY, TELEMETRY, by_kind
from mizzen.config.models import spec_as
from mizzen.config.models.virtual_service import VirtualService
from mizzen.config.report import Violation
from mizzen.config.resource import Resource
from mizzen.config.rules import reachability
from mizzen.config.rules.istio_only import UNRUN
from mizzen.config.validate import validate_resource

from . import messages as m
from .context import Context
from .messages import Message

# Reported by other analyzers or not an Istio finding: rule order (IST0130/IST0131, below), Mizzen's
# "not applied yet" note, Service port naming (service.PortNameAnalyzer), and Mizzen's notes on what Istio
# itself leaves unenforced (a jwksUri no mesh service serves, DestinationRule TLS Istio drops).
NOT_SCHEMA = frozenset({"MZ2118", "MZ2119", "MZ2013", "MZ2802", "MZ2783", "MZ2784", "MZ2805"})


def is_istio_kind(kind: str) -> bool:
    """Kinds Istio defines (and validates), including those Mizzen validates without running them
    (WasmPlugin...); Kubernetes' own kinds are not."""
    info = by_kind(kind)
    return (info is not None and info.group in (NETWORKING, SECURITY, TELEMETRY)) or kind in UNRUN


def _detail(v: Violation) -> str:
    # Mizzen's validation messages rely on the field path for context ("must be a list, got string").
    return f"{v.path}: {v.message}" if v.path else v.message


def analyzer(kind: str) -> Callable[[Context], None]:
    """The analyzer that validates one kind."""

    def run(ctx: Context) -> None:
        for res in ctx.of(kind):
            _validate(ctx, res)

    run.__doc__ = f"Validate every {kind}."
    return run


def _validate(ctx: Context, res: Resource) -> None:
    for v in validate_resource(res):
        if v.code in NOT_SCHEMA:
            continue
        mtype = m.SCHEMA_VALIDATION_ERROR if v.level == "error" else m.SCHEMA_WARNING
        ctx.report_at(mtype, res, v.line, _detail(v))
    if res.kind == "VirtualService":
        for f in reachability.findings(spec_as(res, VirtualService)):
            if f.unreachable:
                ctx.report(m.VS_UNREACHABLE_RULE, res, f.rule, f.reason, path=f.path)
            else:
                ctx.report(m.VS_INEFFECTIVE_MATCH, res, f.rule, f.match, f.earlier, path=f.path)


def violation_messages(violations: Iterable[Violation]) -> list[Message]:
    """Loader problems of Istio resources (e.g. an unknown top-level field) as IST0106/IST0133.

    Violations without a resource reference (unparseable YAML, unreadable files) are not analysis
    messages; callers report those as parse failures.
    """
    out: list[Message] = []
    for v in violations:
        kind, _, ref = v.resource.partition(" ")
        ns, _, name = ref.partition("/")
        if not kind or not name or not is_istio_kind(kind) or v.code in NOT_SCHEMA:
            continue
        mtype = m.SCHEMA_VALIDATION_ERROR if v.level == "error" else m.SCHEMA_WARNING
        out.append(Message(mtype, kind, ns, name, mtype.render(_detail(v)), v.file, v.line))
    return out
