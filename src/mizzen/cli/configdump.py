"""Turn Envoy admin output (``/config_dump``, ``/clusters?format=json``) into istioctl-style rows.

Pure functions: JSON in, rows out. Column sets follow ``istioctl proxy-config``:
clusters ``SERVICE FQDN PORT SUBSET DIRECTION TYPE DESTINATION RULE``; listeners
``ADDRESSES PORT MATCH DESTINATION``; routes ``NAME VHOST NAME DOMAINS MATCH VIRTUAL SERVICE``;
endpoints ``ENDPOINT STATUS OUTLIER CHECK CLUSTER``; secrets ``RESOURCE NAME TYPE STATUS VALID CERT
SERIAL NUMBER NOT AFTER NOT BEFORE``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mizzen.security import x509
from mizzen.security.errors import CertificateError

Row = tuple[str, ...]
CLUSTER_HEADER: Row = ("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE")
LISTENER_HEADER: Row = ("ADDRESSES", "PORT", "MATCH", "DESTINATION")
ROUTE_HEADER: Row = ("NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE")
ENDPOINT_HEADER: Row = ("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER")
SECRET_HEADER: Row = ("RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE")


def section(dump: Mapping[str, Any], suffix: str) -> Mapping[str, Any]:
    """The ``configs[]`` entry whose ``@type`` ends with ``suffix`` (e.g. ``ClustersConfigDump``)."""
    for cfg in dump.get("configs", []):
        if str(cfg.get("@type", "")).rsplit(".", 1)[-1] == suffix:
            return dict(cfg)
    return {}


def clusters(dump: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All clusters (static and dynamic active) in the dump."""
    sec = section(dump, "ClustersConfigDump")
    entries = [*sec.get("static_clusters", []), *sec.get("dynamic_active_clusters", [])]
    return [e["cluster"] for e in entries if "cluster" in e]


def listeners(dump: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The listeners of an Envoy config dump (static and dynamic, active state)."""
    sec = section(dump, "ListenersConfigDump")
    out = [e["listener"] for e in sec.get("static_listeners", []) if "listener" in e]
    for dyn in sec.get("dynamic_listeners", []):
        state = dyn.get("active_state") or dyn.get("warming_state")
        if state and "listener" in state:
            out.append(state["listener"])
    return out


def route_configs(dump: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The route configurations of an Envoy config dump (static and dynamic)."""
    sec = section(dump, "RoutesConfigDump")
    entries = [*sec.get("static_route_configs", []), *sec.get("dynamic_route_configs", [])]
    return [e["route_config"] for e in entries if "route_config" in e]


def config_ref(meta: Mapping[str, Any] | None) -> str:
    """Render ``istio.config`` provenance (``/apis/.../namespaces/ns/virtual-service/name``) as ``name.ns``."""
    path = str(((meta or {}).get("filter_metadata", {}).get("istio", {}) or {}).get("config", ""))
    parts = path.strip("/").split("/")
    if len(parts) >= 6 and parts[-4] == "namespaces":
        return f"{parts[-1]}.{parts[-3]}"
    return ""


def cluster_row(c: Mapping[str, Any]) -> Row:
    """One ``proxy-config cluster`` row: FQDN, port, subset, direction, type and DR of a cluster."""
    name = str(c.get("name", ""))
    ctype = _cluster_type(c)
    parts = name.split("|")
    if len(parts) == 4 and parts[0] in ("outbound", "inbound"):
        direction, port, subset, fqdn = parts
        if direction == "inbound":
            fqdn = fqdn or ""
        return (fqdn, port, subset or "-", direction, ctype, config_ref(c.get("metadata")) or "")
    return (name, "-", "-", "-", ctype, "")


def _cluster_type(c: Mapping[str, Any]) -> str:
    """Envoy omits ``type`` for STATIC (the enum default); custom types show their extension name."""
    if "cluster_type" in c:
        return str((c["cluster_type"] or {}).get("name", "")).rsplit(".", 1)[-1].upper()
    if c.get("type"):
        return str(c["type"])
    return "EDS" if "eds_cluster_config" in c else "STATIC"


def sort_cluster_rows(rows: Iterable[Row]) -> list[Row]:
    """istioctl's order: by service FQDN (non-Istio names by their own name), then port, subset, direction."""
    return sorted(rows, key=lambda r: (r[0], int(r[1]) if r[1].isdigit() else -1, r[2], r[3]))


def filter_clusters(
    rows: Iterable[Row], *, fqdn: str = "", port: str = "", subset: str = "", direction: str = ""
) -> list[Row]:
    """The cluster rows matching every filter given (istioctl's --fqdn, --port, --subset, --direction)."""
    return [
        r
        for r in rows
        if (not fqdn or fqdn in r[0])
        and (not port or r[1] == port)
        and (not subset or subset in r[2])
        and (not direction or r[3] == direction)
    ]


def listener_address(lis: Mapping[str, Any]) -> tuple[str, str]:
    """``(address, port)`` of a listener's socket address."""
    sa = (lis.get("address", {}) or {}).get("socket_address", {}) or {}
    return str(sa.get("address", "")), str(sa.get("port_value", ""))


def _chain_match(chain: Mapping[str, Any]) -> str:
    m = chain.get("filter_chain_match") or {}
    parts = []
    if m.get("server_names"):
        parts.append("SNI: " + ",".join(m["server_names"]))
    if m.get("transport_protocol"):
        parts.append("Trans: " + str(m["transport_protocol"]))
    if m.get("application_protocols"):
        parts.append("App: " + ",".join(m["application_protocols"]))
    return "; ".join(parts) or "ALL"


def _chain_destination(chain: Mapping[str, Any]) -> str:
    for f in chain.get("filters", []):
        cfg = f.get("typed_config", {}) or {}
        if "rds" in cfg:
            return "Route: " + str(cfg["rds"].get("route_config_name", ""))
        if "route_config" in cfg:
            vhosts = cfg["route_config"].get("virtual_hosts", [])
            routes = [r for vh in vhosts for r in vh.get("routes", [])]
            return "Inline Route: " + ", ".join(_match_text(r.get("match", {})) for r in routes[:3])
        if "cluster" in cfg:
            return "Cluster: " + str(cfg["cluster"])
        if "weighted_clusters" in cfg:
            names = [c["name"] for c in cfg["weighted_clusters"].get("clusters", [])]
            return "Clusters: " + ", ".join(names)
    return "Non-HTTP/Non-TCP"


def listener_type(lis: Mapping[str, Any]) -> str:
    """istioctl's listener TYPE: ``HTTP``, ``TCP`` or ``HTTP+TCP`` from the filter chains' terminal filters."""
    kinds = set()
    for chain in lis.get("filter_chains", []):
        for f in chain.get("filters", []):
            name = str(f.get("name", ""))
            if name.endswith("http_connection_manager"):
                kinds.add("HTTP")
            elif name.endswith("tcp_proxy"):
                kinds.add("TCP")
    return "+".join(sorted(kinds)) or "-"


def listener_rows(items: Sequence[Mapping[str, Any]]) -> list[Row]:
    """``proxy-config listener`` rows: one per filter chain match of each listener."""
    rows: list[Row] = []
    for lis in items:
        addr, port = listener_address(lis)
        for chain in lis.get("filter_chains", []):
            rows.append((addr, port, _chain_match(chain), _chain_destination(chain)))
    return rows


def _match_text(match: Mapping[str, Any]) -> str:
    if "path" in match:
        text = str(match["path"])
    elif "prefix" in match:
        text = f"{match['prefix']}*" if match["prefix"] != "/" else "/*"
    elif "safe_regex" in match:
        text = str(match["safe_regex"].get("regex", ""))
    elif "path_separated_prefix" in match:
        text = f"{match['path_separated_prefix']}*"
    else:
        text = "/*"
    conds = []
    for h in match.get("headers", []):
        sm = h.get("string_match", {}) or {}
        val = next((f"{k}={v}" for k, v in sm.items() if k != "ignore_case"), "")
        neg = "!" if h.get("invert_match") else ""
        conds.append(f"{neg}{h.get('name')}" + (f" {val}" if val else " present"))
    return text + (" (" + ", ".join(conds) + ")" if conds else "")


def _short_domains(domains: Sequence[str]) -> str:
    """istioctl's DOMAINS cell: port-less names, ``.svc`` duplicates of the FQDN dropped, the two shortest
    shown, then ``+ N more...`` (``reviews, reviews.default + 1 more...``)."""
    plain = {_strip_port(d) for d in domains}
    plain -= {d[: -len(".cluster.local")] for d in plain if d.endswith(".svc.cluster.local")}
    ordered = sorted(plain, key=lambda d: (len(d), d))
    shown = ordered[:2]
    more = len(ordered) - len(shown)
    return ", ".join(shown) + (f" + {more} more..." if more > 0 else "")


def _strip_port(domain: str) -> str:
    if domain.startswith("["):  # [::1]:9080
        return domain.split("]", 1)[0] + "]"
    host, sep, port = domain.rpartition(":")
    return host if sep and port.isdigit() else domain


def route_rows(configs: Sequence[Mapping[str, Any]], *, name: str = "") -> list[Row]:
    """``proxy-config route`` rows: one per route of each virtual host (``name`` keeps one configuration)."""
    rows: list[Row] = []
    for rc in configs:
        rc_name = str(rc.get("name", ""))
        if name and rc_name != name:
            continue
        for vh in rc.get("virtual_hosts", []):
            vh_name = str(vh.get("name", ""))
            domains = _short_domains(vh.get("domains", []))
            routes = vh.get("routes", [])
            if not routes:
                rows.append((rc_name, vh_name, domains, "/*", "404"))
            for r in routes:
                if _is_passthrough(r):  # istioctl hides the allow_any catch-all
                    continue
                rows.append(
                    (
                        rc_name,
                        vh_name,
                        domains,
                        _match_text(r.get("match", {})),
                        config_ref(r.get("metadata")) or ("404" if _is_404(r) else ""),
                    )
                )
    return rows


def _is_passthrough(route: Mapping[str, Any]) -> bool:
    return (route.get("route") or {}).get("cluster") == "PassthroughCluster"


def _is_404(route: Mapping[str, Any]) -> bool:
    return int((route.get("direct_response") or {}).get("status", 0)) == 404


def endpoint_rows(
    clusters_json: Mapping[str, Any], *, cluster: str = "", address: str = "", port: str = "", status: str = ""
) -> list[Row]:
    """Rows from ``/clusters?format=json``."""
    rows: list[Row] = []
    for cs in clusters_json.get("cluster_statuses", []):
        cname = str(cs.get("name", ""))
        if cluster and cluster not in cname:
            continue
        for hs in cs.get("host_statuses", []):
            sa = (hs.get("address", {}) or {}).get("socket_address", {}) or {}
            ep = f"{sa.get('address', '')}:{sa.get('port_value', '')}"
            health = hs.get("health_status", {}) or {}
            st = str(health.get("eds_health_status", "HEALTHY"))
            outlier = "FAILED" if health.get("failed_outlier_check") else "OK"
            if (address and sa.get("address") != address) or (port and str(sa.get("port_value")) != port):
                continue
            if status and st != status:
                continue
            rows.append((ep, st, outlier, cname))
    return sorted(rows, key=_endpoint_key)


def _endpoint_key(row: Row) -> tuple[str, int, str]:
    """istioctl orders endpoints by address, then port, then cluster."""
    host, _, port = row[0].rpartition(":")
    return host, int(port) if port.isdigit() else 0, row[3]


def secret_rows(dump: Mapping[str, Any], certs: Mapping[str, Any] | None = None) -> list[Row]:
    """``proxy-config secret`` rows, with certificate facts from ``/certs`` when given."""
    sec = section(dump, "SecretsConfigDump")
    details = _cert_details(certs or {})
    rows: list[Row] = []
    for state, key in (("ACTIVE", "dynamic_active_secrets"), ("WARMING", "dynamic_warming_secrets")):
        for s in sec.get(key, []):
            name = str(s.get("name", ""))
            secret = s.get("secret", {}) or {}
            kind = "CA" if "validation_context" in secret else "Cert Chain"
            parsed = certificate_facts(secret)
            if parsed is not None:
                valid, serial, not_after, not_before = parsed
            else:
                serial, not_after, not_before = details.get(name, ("", "", ""))
                valid = bool(serial)
            rows.append((name, kind, state, "true" if valid else "false", serial, not_after, not_before))
    return rows


def _secret_pem(secret: Mapping[str, Any]) -> bytes | None:
    """The first certificate's PEM from a Secret in a config dump (inline, as SDS delivers it)."""
    tls = secret.get("tls_certificate") or {}
    source = tls.get("certificate_chain") or (secret.get("validation_context") or {}).get("trusted_ca") or {}
    if "inline_bytes" in source:
        return base64.b64decode(source["inline_bytes"])
    if "inline_string" in source:
        return str(source["inline_string"]).encode()
    return None


def certificate_facts(secret: Mapping[str, Any], now: datetime | None = None) -> tuple[bool, str, str, str] | None:
    """(valid now, serial number, not after, not before) of a secret's certificate, or None if unreadable."""
    pem = _secret_pem(secret)
    if not pem:
        return None
    try:
        cert = x509.cert_info(pem)
    except CertificateError:
        return None
    now = now or datetime.now(UTC)
    after, before = cert.not_after, cert.not_before
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return before <= now <= after, format(cert.serial, "x"), after.strftime(stamp), before.strftime(stamp)


def _cert_details(certs: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    out = {}
    for c in certs.get("certificates", []):
        for chain in c.get("cert_chain", []):
            path = str(chain.get("path", ""))
            name = path.rsplit("/", 1)[-1] if path else ""
            out[name] = (
                str(chain.get("serial_number", "")),
                str(chain.get("expiration_time", "")),
                str(chain.get("valid_from", "")),
            )
    return out


def table(header: Row, rows: Iterable[Row]) -> str:
    """Left-aligned columns separated by at least 5 spaces (istioctl's tabwriter padding)."""
    all_rows = [header, *rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    lines = ["     ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in all_rows]
    return "\n".join(lines) + "\n"
