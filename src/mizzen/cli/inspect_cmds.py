"""``mizzen proxy-status``, ``proxy-config`` and ``describe``: istioctl's inspection verbs.

Everything comes from the control plane's HTTP API: sync status from its xDS server, generated config
from its translator, and each Envoy's live admin data relayed through it (admin stays on loopback).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import click
import yaml

from mizzen.cli import configdump as cd
from mizzen.cli.client import ApiClient, ApiError
from mizzen.cli.describe import GatewayProxy, World, describe_service, describe_workload, service_workloads

STATUS_TYPES = ("CDS", "LDS", "EDS", "RDS")
GENERATED_PATH = "/api/mizzen/v1/gatewayapi/generated"
DESCRIBE_KINDS = (
    "Service",
    "ServiceEntry",
    "WorkloadEntry",
    "DestinationRule",
    "VirtualService",
    "Gateway",
    "PeerAuthentication",
)


def _client(ctx: click.Context) -> ApiClient:
    return ApiClient.from_context(ctx)


def _ago(ts: float | None) -> str:
    if not ts:
        return ""
    secs = max(0, int(time.time() - ts))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60}s"
    return f"{secs // 3600}h{(secs % 3600) // 60}m"


def status_cell(entry: Mapping[str, Any]) -> str:
    """``SYNCED (12s)``; NOT SENT has no age, as istioctl prints it."""
    status = str(entry.get("status", "NOT SENT"))
    age = _ago(entry.get("lastSentTime"))
    return f"{status} ({age})" if age and status != "NOT SENT" else status


def status_rows(proxies: Sequence[Mapping[str, Any]], *, wide: bool) -> list[cd.Row]:
    """``proxy-status`` table rows, one per proxy; ``wide`` adds the last errors (NACKs, config not sent)."""
    rows: list[cd.Row] = []
    for p in proxies:
        xds = p.get("xds", {})
        cells = tuple(status_cell(xds.get(t, {})) for t in STATUS_TYPES)
        row: cd.Row = (str(p["id"]), "Mizzen", *cells, str(p.get("controlPlane", "")), str(p.get("envoyVersion", "")))
        if wide:
            errors = [f"{t}: {xds[t]['lastError']}" for t in STATUS_TYPES if xds.get(t, {}).get("lastError")]
            if p.get("lastError"):  # the control plane kept the new config back (translation or check failed)
                errors.insert(0, f"not sent: {p['lastError']}")
            row = (*row, "; ".join(errors) or "-")
        rows.append(row)
    return rows


@click.command("proxy-status")
@click.argument("proxy", required=False)
@click.option("-n", "--namespace", default=None, help="Only proxies in this namespace.")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table")
@click.pass_context
def proxy_status(ctx: click.Context, proxy: str | None, namespace: str | None, output: str) -> None:
    """Sync status of every connected proxy, or a config diff for one proxy."""
    client = _client(ctx)
    if proxy:
        _proxy_diff(client, proxy)
        return
    params = {"namespace": namespace} if namespace else None
    items = client.get_json("/api/mizzen/v1/proxies", params=params)["items"]
    if output in ("json", "yaml"):
        _dump(items, output)
        return
    header: cd.Row = ("NAME", "CLUSTER", *STATUS_TYPES, "CONTROL PLANE", "VERSION")
    if output == "wide":
        header = (*header, "ERRORS")
    click.echo(cd.table(header, status_rows(items, wide=output == "wide")), nl=False)


def _proxy_diff(client: ApiClient, proxy: str) -> None:
    view = client.get_json(f"/api/mizzen/v1/proxies/{_pid(proxy)}")
    data = client.get_json(f"/api/mizzen/v1/proxies/{_pid(proxy)}/syncdiff")
    for line in nack_lines(view):
        click.echo(line)
    for sec in data["sections"]:
        title = sec["title"]
        suffix = f" (RDS last loaded at {sec['lastLoaded']})" if title == "Routes" and sec["lastLoaded"] else ""
        if sec["match"]:
            click.echo(f"{title} Match{suffix}")
        else:
            click.echo(f"{title} Don't Match{suffix}")
            click.echo(sec["diff"], nl=False)


def nack_lines(view: Mapping[str, Any]) -> list[str]:
    """Why Envoy's config differs: config the control plane kept back, and each xDS type Envoy rejected."""
    lines = []
    if view.get("lastError"):
        kept = "the latest config was not sent (the proxy keeps its last good one)"
        lines.append(f"Control plane: {kept}: {view['lastError']}")
    for t in STATUS_TYPES:
        entry = view.get("xds", {}).get(t, {})
        if entry.get("status") == "ERROR" and entry.get("lastError"):
            version = entry.get("versionSent") or "?"
            lines.append(f"{t} ERROR: Envoy rejected version {version}: {entry['lastError']}")
    return lines


def _pid(proxy: str) -> str:
    """Accept ``name``, ``name.namespace`` or ``workload/name.namespace``."""
    return proxy.split("/", 1)[-1]


def _dump(obj: Any, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(obj, indent=2))
    else:
        click.echo(yaml.safe_dump(obj, sort_keys=False), nl=False)


@click.group("proxy-config")
def proxy_config() -> None:
    """Envoy configuration of one proxy, as istioctl proxy-config shows it."""


_output_option = click.option("-o", "--output", type=click.Choice(["short", "json", "yaml"]), default="short")


def _admin(ctx: click.Context, proxy: str, path: str, params: Mapping[str, str] | None = None) -> Any:
    return _client(ctx).get_json(f"/api/mizzen/v1/proxies/{_pid(proxy)}/admin/{path}", params=params)


@proxy_config.command("cluster")
@click.argument("proxy")
@click.option("--fqdn", default="")
@click.option("--port", default="")
@click.option("--subset", default="")
@click.option("--direction", default="")
@_output_option
@click.pass_context
def pc_cluster(ctx: click.Context, proxy: str, fqdn: str, port: str, subset: str, direction: str, output: str) -> None:
    """Clusters: SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE, DESTINATION RULE."""
    pairs = [(cd.cluster_row(c), c) for c in cd.clusters(_admin(ctx, proxy, "config_dump"))]
    kept = set(cd.filter_clusters([r for r, _ in pairs], fqdn=fqdn, port=port, subset=subset, direction=direction))
    if output != "short":
        _dump([c for r, c in pairs if r in kept], output)
        return
    click.echo(cd.table(cd.CLUSTER_HEADER, cd.sort_cluster_rows(r for r, _ in pairs if r in kept)), nl=False)


@proxy_config.command("listener")
@click.argument("proxy")
@click.option("--port", default="")
@click.option("--address", default="")
@click.option(
    "--type",
    "ltype",
    type=click.Choice(["HTTP", "TCP"], case_sensitive=False),
    default=None,
    help="Only listeners with an HTTP connection manager (HTTP) or a TCP proxy (TCP).",
)
@_output_option
@click.pass_context
def pc_listener(ctx: click.Context, proxy: str, port: str, address: str, ltype: str | None, output: str) -> None:
    """Listeners: ADDRESSES, PORT, MATCH, DESTINATION (one row per filter chain)."""
    items = [
        i
        for i in cd.listeners(_admin(ctx, proxy, "config_dump"))
        if (not port or cd.listener_address(i)[1] == port)
        and (not address or cd.listener_address(i)[0] == address)
        and (not ltype or ltype.upper() in cd.listener_type(i).split("+"))
    ]
    if output != "short":
        _dump(items, output)
        return
    click.echo(cd.table(cd.LISTENER_HEADER, cd.listener_rows(items)), nl=False)


@proxy_config.command("route")
@click.argument("proxy")
@click.option("--name", default="", help="Route configuration name, e.g. http_proxy or http.8080.")
@_output_option
@click.pass_context
def pc_route(ctx: click.Context, proxy: str, name: str, output: str) -> None:
    """Routes: NAME, VHOST NAME, DOMAINS, MATCH, VIRTUAL SERVICE."""
    configs = cd.route_configs(_admin(ctx, proxy, "config_dump"))
    if output != "short":
        _dump([c for c in configs if not name or c.get("name") == name], output)
        return
    click.echo(cd.table(cd.ROUTE_HEADER, cd.route_rows(configs, name=name)), nl=False)


@proxy_config.command("endpoint")
@click.argument("proxy")
@click.option("--cluster", default="")
@click.option("--address", default="")
@click.option("--port", default="")
@click.option("--status", default="")
@_output_option
@click.pass_context
def pc_endpoint(
    ctx: click.Context, proxy: str, cluster: str, address: str, port: str, status: str, output: str
) -> None:
    """Endpoints: ENDPOINT, STATUS, OUTLIER CHECK, CLUSTER."""
    data = _admin(ctx, proxy, "clusters", {"format": "json"})
    if output != "short":
        _dump(
            {
                **data,
                "cluster_statuses": [
                    c for c in data.get("cluster_statuses", []) if not cluster or cluster in str(c.get("name", ""))
                ],
            },
            output,
        )
        return
    rows = cd.endpoint_rows(data, cluster=cluster, address=address, port=port, status=status)
    click.echo(cd.table(cd.ENDPOINT_HEADER, rows), nl=False)


@proxy_config.command("bootstrap")
@click.argument("proxy")
@click.option("-o", "--output", type=click.Choice(["short", "json", "yaml"]), default="json")
@click.pass_context
def pc_bootstrap(ctx: click.Context, proxy: str, output: str) -> None:
    """The Envoy bootstrap (JSON by default; -o short prints versions)."""
    dump = _admin(ctx, proxy, "config_dump")
    boot = cd.section(dump, "BootstrapConfigDump").get("bootstrap", {})
    if output == "short":
        meta = boot.get("node", {}).get("metadata", {})
        click.echo(f"Mizzen Version:      {meta.get('ISTIO_VERSION', '')}")
        version = boot.get("node", {}).get("user_agent_build_version", {}).get("version", {})
        click.echo(
            "Envoy Version:       "
            + ".".join(str(version.get(k, 0)) for k in ("major_number", "minor_number", "patch"))
        )
        return
    _dump(boot, output)


@proxy_config.command("secret")
@click.argument("proxy")
@_output_option
@click.pass_context
def pc_secret(ctx: click.Context, proxy: str, output: str) -> None:
    """Secrets: RESOURCE NAME, TYPE, STATUS, VALID CERT, SERIAL NUMBER, NOT AFTER, NOT BEFORE."""
    dump = _admin(ctx, proxy, "config_dump")
    if output != "short":
        _dump(cd.section(dump, "SecretsConfigDump"), output)
        return
    rows = cd.secret_rows(dump, _admin(ctx, proxy, "certs"))
    if not rows:
        click.echo("No active or warming secrets found.")
        return
    click.echo(cd.table(cd.SECRET_HEADER, rows), nl=False)


@proxy_config.command("all")
@click.argument("proxy")
@_output_option
@click.pass_context
def pc_all(ctx: click.Context, proxy: str, output: str) -> None:
    """Clusters, listeners, routes, endpoints and secrets in one view."""
    dump = _admin(ctx, proxy, "config_dump")
    if output != "short":
        _dump(dump, output)
        return
    click.echo(cd.table(cd.CLUSTER_HEADER, cd.sort_cluster_rows(cd.cluster_row(c) for c in cd.clusters(dump))))
    click.echo(cd.table(cd.LISTENER_HEADER, cd.listener_rows(cd.listeners(dump))))
    click.echo(cd.table(cd.ROUTE_HEADER, cd.route_rows(cd.route_configs(dump))))
    secrets = cd.secret_rows(dump, _admin(ctx, proxy, "certs"))
    if secrets:
        click.echo(cd.table(cd.SECRET_HEADER, secrets))
    eps = _admin(ctx, proxy, "clusters", {"format": "json"})
    click.echo(cd.table(cd.ENDPOINT_HEADER, cd.endpoint_rows(eps)), nl=False)


LOG_LEVELS = ("trace", "debug", "info", "warning", "warn", "error", "critical", "off")


def log_params(level: str) -> dict[str, str]:
    """Envoy ``/logging`` parameters for istioctl's ``--level``: ``debug`` (every logger) or
    ``router:debug,http:info`` (named loggers). Raises click.BadParameter on an unknown level."""
    pairs = [p.strip() for p in level.split(",") if p.strip()]
    named = [p.partition(":") for p in pairs]
    for logger, colon, lvl in named:
        value = lvl if colon else logger
        if value not in LOG_LEVELS or (colon and not logger):
            raise click.BadParameter(
                f"{value!r} is not a log level ({', '.join(LOG_LEVELS)}); use LEVEL or LOGGER:LEVEL[,LOGGER:LEVEL...]",
                param_hint="--level",
            )
    if len(pairs) == 1 and not named[0][1]:
        return {"level": pairs[0]}
    if any(not colon for _, colon, _ in named):
        raise click.BadParameter("mix of LEVEL and LOGGER:LEVEL", param_hint="--level")
    return {"paths": ",".join(pairs)}


@proxy_config.command("log")
@click.argument("proxy")
@click.option(
    "--level",
    default="",
    help="LEVEL for every logger, or LOGGER:LEVEL[,LOGGER:LEVEL...] "
    "(levels: trace, debug, info, warning, error, critical, off).",
)
@click.option("--reset", is_flag=True, help="Reset every logger to warning.")
@click.pass_context
def pc_log(ctx: click.Context, proxy: str, level: str, reset: bool) -> None:
    """Show or change Envoy's log levels."""
    params = {"level": "warning"} if reset else (log_params(level) if level else None)
    text = _client(ctx).post_text(f"/api/mizzen/v1/proxies/{_pid(proxy)}/admin/logging", params=params)
    click.echo(text, nl=not text.endswith("\n"))


@click.group("describe")
def describe() -> None:
    """Explain what reaches a workload or service, with istioctl's warnings."""


def _generated(client: ApiClient) -> list[dict[str, Any]]:
    try:
        items: list[dict[str, Any]] = client.get_json(GENERATED_PATH).get("items", [])
    except ApiError as exc:
        if exc.status != 404:  # a control plane without the mesh (API only) has none
            raise
        return []
    return items


def _world(ctx: click.Context) -> World:
    client = _client(ctx)
    objects: dict[str, Sequence[Mapping[str, Any]]] = {}
    for kind in DESCRIBE_KINDS:
        objects[kind] = client.list_all(kind)
    # What the Gateway API converts to (Gateways and VirtualServices), as istioctl sees istiod's config.
    for doc in _generated(client):
        objects[doc["kind"]] = [*objects.get(doc["kind"], ()), doc]
    gateways = [
        GatewayProxy(
            namespace=str(p.get("namespace", "")),
            labels=dict(p.get("labels", {})),
            address=str(p.get("bindAddress") or "127.0.0.1"),
        )
        for p in client.get_json("/api/mizzen/v1/proxies")["items"]
        if p.get("type") == "router"
    ]
    return World(objects=objects, gateways=gateways)


def _with_dumps(ctx: click.Context, world: World, workloads: Sequence[str], namespace: str) -> World:
    """Add each workload's live Envoy config dump (skipped, with a note, when its proxy is not connected)."""
    dumps: dict[str, Mapping[str, Any]] = {}
    for name in workloads:
        try:
            dumps[f"{name}.{namespace}"] = _admin(ctx, f"{name}.{namespace}", "config_dump")
        except ApiError as exc:
            click.echo(f"note: {exc}; describing {name} from the stored configuration", err=True)
    return replace(world, dumps=dumps)


@describe.command("workload")
@click.argument("name")
@click.option("-n", "--namespace", default="default")
@click.pass_context
def describe_workload_cmd(ctx: click.Context, name: str, namespace: str) -> None:
    """Describe one workload (a `mizzen run` instance or a WorkloadEntry)."""
    name, namespace = _split(name, namespace)
    world = _world(ctx)
    try:
        describe_workload(world, name, namespace)  # unknown names fail before any proxy is asked
        click.echo(describe_workload(_with_dumps(ctx, world, [name], namespace), name, namespace), nl=False)
    except LookupError as e:
        raise click.ClickException(str(e)) from e


@describe.command("service")
@click.argument("name")
@click.option("-n", "--namespace", default="default")
@click.pass_context
def describe_service_cmd(ctx: click.Context, name: str, namespace: str) -> None:
    """Describe a service through each workload it selects."""
    name, namespace = _split(name, namespace)
    world = _world(ctx)
    try:
        workloads = service_workloads(world, name, namespace)
        click.echo(describe_service(_with_dumps(ctx, world, workloads, namespace), name, namespace), nl=False)
    except LookupError as e:
        raise click.ClickException(str(e)) from e


def _split(name: str, namespace: str) -> tuple[str, str]:
    name = name.split("/", 1)[-1]
    if "." in name:
        base, ns = name.split(".", 1)
        return base, ns
    return name, namespace


COMMANDS = (proxy_status, proxy_config, describe)
ALIASES = {"ps": "proxy-status", "pc": "proxy-config"}
