"""Golden files for the security builders: ``golden/<case>/input.yaml`` (Istio policies) and
``case.yaml`` (the workload, its ports and the outbound clusters to compute) -> ``output.json``
(every fragment the builders emit for them). Regenerate on purpose with
``UPDATE_GOLDEN=1 pytest tests/unit/translate/security`` and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from security_fixtures import (
    authz,
    destination_rule,
    parse,
    parse_chains,
    parse_cluster_fields,
    parse_filter,
    peer_authns,
    request_authns,
)

from mizzen.translate.security.authz import http_rbac_filters, tcp_rbac_filters
from mizzen.translate.security.describe import peer_authentication_lines, rbac_policies_line
from mizzen.translate.security.endpoints import endpoint_filter_metadata, endpoint_mtls_enabled
from mizzen.translate.security.inbound import inbound_filter_chains, inbound_listener_fields
from mizzen.translate.security.jwt import inbound_http_security_filters, jwt_authn_filter
from mizzen.translate.security.policy import Workload
from mizzen.translate.security.rbac_rules import Context
from mizzen.translate.security.selection import (
    authorization_policies_for,
    effective_peer_authentication,
    namespace_mtls_mode,
    request_authentications_for,
)
from mizzen.translate.security.upstream import UpstreamTarget, client_tls_for, upstream_transport

HERE = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in HERE.iterdir() if (p / "input.yaml").exists())
ROOT = "istio-system"
T_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
APP = {"name": "app", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
TCP = {
    "name": "envoy.filters.network.tcp_proxy",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "inbound",
        "cluster": "inbound",
    },
}


def _inbound(case: dict[str, Any], text: str) -> dict[str, Any]:
    """Per inbound port: the listener fields (chains with the security filters), as part 2 wires them."""
    wl = Workload(case["namespace"], case["labels"])
    merged = effective_peer_authentication(peer_authns(text), wl, ROOT)
    port_map = {p["port"]: p["listen_port"] for p in case["ports"]}
    ctx = Context(wl.namespace, port_map=port_map)
    selected = authorization_policies_for(authz(text), wl, ROOT)
    jwt = jwt_authn_filter(request_authentications_for(request_authns(text), wl, ROOT), lambda h, p: None)
    out: dict[str, Any] = {}
    for p in case["ports"]:
        if p["protocol"] == "HTTP":
            http = inbound_http_security_filters(http_rbac_filters(selected, ctx), jwt)
            hcm = {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": T_HCM,
                    "stat_prefix": "inbound",
                    "route_config": {},
                    "http_filters": [*http, APP],
                },
            }
            filters, proto = [hcm], "HTTP"
        else:
            filters, proto = [*tcp_rbac_filters(selected, ctx).filters, TCP], "TCP"
        mode = merged.mode_for_port(p["port"])
        chains = inbound_filter_chains(
            mode, proto, filters, name=f"10.0.0.1_{p['port']}", trust_domains=["cluster.local"]
        )  # type: ignore[arg-type]
        out[str(p["port"])] = {"mode": mode, **inbound_listener_fields(chains)}
    return out


def _clusters(case: dict[str, Any], text: str) -> dict[str, Any]:
    dr_text = "\n---\n".join(d for d in text.split("\n---\n") if "kind: DestinationRule" in d)
    dr = destination_rule(dr_text) if dr_text else None
    out: dict[str, Any] = {}
    for c in case.get("clusters", []):
        subset, host, port = c.get("subset", ""), c["host"], c["port"]
        name = f"outbound|{port}|{subset}|{host}"
        target = UpstreamTarget(name, f"outbound_.{port}_.{subset}_.{host}", tuple(c.get("service_accounts", ())))
        mode = namespace_mtls_mode(peer_authns(text), c["namespace"], ROOT) or "PERMISSIVE"
        tls = client_tls_for(dr if c.get("dr", True) else None, subset or None, port)
        result = upstream_transport(tls, target, service_mode=mode)
        endpoint = endpoint_filter_metadata("istio", endpoint_mtls_enabled(None, "istio", "PERMISSIVE"))
        out[name] = {"cluster": result.cluster_fields(), "alpn_override": result.alpn_override, "endpoint": endpoint}
    return out


def render(case_dir: Path) -> dict[str, Any]:
    """Everything the builders produce for the case."""
    text = (case_dir / "input.yaml").read_text()
    case = yaml.safe_load((case_dir / "case.yaml").read_text())
    wl = Workload(case["namespace"], case["labels"])
    merged = effective_peer_authentication(peer_authns(text), wl, ROOT)
    inbound = _inbound(case, text)
    describe = peer_authentication_lines(merged, ROOT)
    for port, listener in inbound.items():
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        line = rbac_policies_line(hcm.get("http_filters", []), int(port)) if "http_filters" in hcm else None
        describe += [line] if line else []
    return {"describe": describe, "inbound": inbound, "clusters": _clusters(case, text)}


def check_protos(out: dict[str, Any]) -> None:
    """Every fragment is a valid Envoy message."""
    from envoy.config.listener.v3 import listener_pb2

    for listener in out["inbound"].values():
        fields = {k: v for k, v in listener.items() if k != "mode"}
        parse(listener_pb2.Listener, {"name": "l", **fields})
        parse_chains(listener["filter_chains"])
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        for f in hcm.get("http_filters", [])[:-1]:
            parse_filter(f)
    for c in out["clusters"].values():
        parse_cluster_fields(c["cluster"])


@pytest.mark.parametrize("name", CASES)
def test_security_golden(name: str) -> None:
    """The builders' output for the case equals its reviewed output.json, and Envoy's protos accept it."""
    out = render(HERE / name)
    check_protos(out)
    actual = json.dumps(out, indent=1, sort_keys=False) + "\n"
    golden = HERE / name / "output.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(actual)
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1"
    assert actual == golden.read_text()


def test_there_are_security_golden_cases() -> None:
    """The representative cases exist (a lost folder must not pass silently)."""
    assert {"mtls-migration", "authz-http", "authz-tcp", "jwt"} <= set(CASES)
