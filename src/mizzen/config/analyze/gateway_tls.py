"""``gateway.SecretAnalyzer`` (IST0101 credentialName, IST0161) and ``gateway.CertificateAnalyzer`` (IST0138)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from mizzen.config.resource import Resource

from . import messages as m
from .certificates import certificate_problem, secret_certificate
from .context import Context, selector_string, spec_map
from .gateway import gateway_pods, selector_of, selector_path, servers

LIVE_SECRETS_NOTE = (
    "credentialName secrets were not checked: the live mesh's secrets are not read by analyze "
    "(docs/istio-differences.md#live-analysis)"
)


def analyze_secrets(ctx: Context) -> None:
    """Each credentialName must name a Secret, in the gateway workload's namespace, with a valid certificate."""
    now = datetime.datetime.now(datetime.UTC)
    for gw in ctx.of("Gateway"):
        pods = gateway_pods(ctx, gw)
        if not pods:
            sel = selector_of(gw)
            ctx.report(
                m.REFERENCED_RESOURCE_NOT_FOUND, gw, "selector", m.quote(selector_string(sel)), path=selector_path(sel)
            )
            continue
        for i, server in enumerate(servers(gw)):
            name = str(spec_map(server.get("tls")).get("credentialName") or "")
            if name:
                _credential(ctx, gw, pods[0].namespace, name, i, now)


def _credential(ctx: Context, gw: Resource, namespace: str, name: str, index: int, now: datetime.datetime) -> None:
    if not ctx.secrets_known:
        ctx.note(LIVE_SECRETS_NOTE)
        return
    ns, slash, short = name.partition("/")
    secret = ctx.find("Secret", ns, short) if slash else ctx.find("Secret", namespace, name)
    path = f"spec.servers[{index}].tls.credentialName"
    if secret is None:
        ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, gw, "credentialName", m.quote(name), path=path)
        return
    pem = secret_certificate(spec_map(secret.spec.get("data")))
    if pem is None or certificate_problem(pem, now) is not None:
        ctx.report(m.INVALID_GATEWAY_CREDENTIAL, gw, gw.name, namespace, path=path)


def _same_certificate(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    ca, cb = a.get("credentialName") or "", b.get("credentialName") or ""
    if ca and cb:
        return bool(ca == cb)
    if ca or cb:
        return False
    cert_a, cert_b = a.get("serverCertificate") or "", b.get("serverCertificate") or ""
    key_a, key_b = a.get("privateKey") or "", b.get("privateKey") or ""
    return bool(cert_a and cert_a == cert_b and key_a and key_a == key_b)


def _selector_subset(x: Mapping[str, str], y: Mapping[str, str]) -> bool:
    """Every label of ``x`` is in ``y`` with the same value (an empty ``x`` selects everything)."""
    return all(k in y and y[k] == v for k, v in x.items())


def analyze_duplicate_certificates(ctx: Context) -> None:
    """IST0138: Gateways on (a superset of) the same workloads serving one certificate."""
    for gw in ctx.of("Gateway"):
        me, selector = f"{gw.namespace}/{gw.name}", selector_of(gw)
        for other in ctx.of("Gateway"):
            name = f"{other.namespace}/{other.name}"
            if name == me or not _selector_subset(selector, selector_of(other)):
                continue
            for a in servers(gw):
                for b in servers(other):
                    ta, tb = a.get("tls"), b.get("tls")
                    if isinstance(ta, Mapping) and isinstance(tb, Mapping) and _same_certificate(ta, tb):
                        ctx.report(m.GATEWAY_DUPLICATE_CERTIFICATE, gw, m.go_list([me, name]), path="metadata.name")
