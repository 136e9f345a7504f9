"""Istio's Sidecar rules: egress/ingress listener shape, host forms, ports and endpoints."""

from __future__ import annotations

import re

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.sidecar import Sidecar
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found

_ENDPOINT = re.compile(r"(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):(\d+)")


def check(res: Resource, root: str) -> Found:
    """Every rule violation of one Sidecar."""
    sc: Sidecar = parse_spec(res)
    out: Found = []
    if sc.workload_selector is not None:
        common.labels(sc.workload_selector.labels, f"{root}.workloadSelector.labels", out)
    _egress(sc, root, out)
    _ingress(sc, root, out)
    otp = sc.outbound_traffic_policy
    if otp is not None and otp.egress_proxy is not None:
        if otp.mode != "ALLOW_ANY":
            out.append(
                violation(
                    "MZ2601",
                    "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
                    f"{root}.outboundTrafficPolicy",
                )
            )
        common.destination(otp.egress_proxy, f"{root}.outboundTrafficPolicy.egressProxy", out)
    return out


def _egress(sc: Sidecar, root: str, out: Found) -> None:
    catch_all = [i for i, e in enumerate(sc.egress) if e.port is None]
    if len(catch_all) > 1:
        out.append(
            violation(
                "MZ2601",
                "sidecar: egress can have only one listener with no port specified",
                f"{root}.egress[{catch_all[1]}]",
            )
        )
    if catch_all and catch_all[0] != len(sc.egress) - 1:
        out.append(
            violation(
                "MZ2601",
                "sidecar: the egress listener with empty port should be the last listener in the list",
                f"{root}.egress[{catch_all[0]}]",
            )
        )
    bound: set[str] = set()
    for i, e in enumerate(sc.egress):
        path = f"{root}.egress[{i}]"
        for j, h in enumerate(e.hosts):
            if (problem := names.namespaced_host_problem(h, allow_tilde=True)) is not None:
                out.append(violation("MZ2602", f"sidecar: {problem}", f"{path}.hosts[{j}]"))
        if e.port is not None:
            common.port(e.port.number, f"{path}.port.number", out)
            key = f"{e.bind or ''}:{e.port.number}"
            if key in bound:
                out.append(
                    violation("MZ2601", "sidecar: ports on IP bound listeners must be unique", f"{path}.port.number")
                )
            bound.add(key)
        if e.bind and not e.bind.startswith("unix://") and (p := names.ip_problem(e.bind)):
            out.append(violation("MZ2010", p, f"{path}.bind"))


def _ingress(sc: Sidecar, root: str, out: Found) -> None:
    seen: set[str] = set()
    for i, ing in enumerate(sc.ingress):
        path = f"{root}.ingress[{i}]"
        if ing.port is not None:
            common.port(ing.port.number, f"{path}.port.number", out)
            key = f"{ing.bind or ''}:{ing.port.number}"
            if key in seen:
                out.append(
                    violation("MZ2603", "sidecar: ports on IP bound listeners must be unique", f"{path}.port.number")
                )
            seen.add(key)
        ep = ing.default_endpoint
        if ep and not ep.startswith("unix://"):
            m = _ENDPOINT.fullmatch(ep)
            if m is None:
                out.append(
                    violation(
                        "MZ2603",
                        "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>, "
                        "0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://",
                        f"{path}.defaultEndpoint",
                    )
                )
            else:
                common.port(int(m.group(2)), f"{path}.defaultEndpoint", out)
        if ing.bind and (p := names.ip_problem(ing.bind)):
            out.append(violation("MZ2010", p, f"{path}.bind"))
