"""``mizzen get workloads`` and ``mizzen logs``: the workloads `mizzen run` started, and their logs.

``get workloads`` joins each WorkloadEntry with what its proxy reported to the control plane (connection,
ports, the outbound HTTP-proxy address a person or a tool can use with ``curl -x``). ``logs`` reads the
files the agent writes under ``$MIZZEN_HOME/logs`` on this host.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from mizzen.cli import configdump as cd
from mizzen.cli.client import ApiClient
from mizzen.controlplane.home import resolve_home

WORKLOAD_NAMES = frozenset({"workload", "workloads", "wl"})


def workload_rows(items: Sequence[Mapping[str, Any]], *, wide: bool, all_ns: bool) -> list[cd.Row]:
    """``mizzen get workloads`` table rows from the API's workload views."""
    rows: list[cd.Row] = []
    for item in items:
        we = item["workloadEntry"]
        meta, spec = we["metadata"], we.get("spec", {})
        proxy = item.get("proxy") or {}
        ports = ",".join(f"{p['servicePort']}->{p['listenPort']}" for p in proxy.get("inbound", [])) or ",".join(
            f"{n}:{p}" for n, p in sorted((spec.get("ports") or {}).items())
        )
        status = "CONNECTED" if proxy.get("connected") else ("DISCONNECTED" if proxy else "NO PROXY")
        # The agent marks an app failing its readiness probe (its endpoint is then sent UNHEALTHY).
        health = "UNHEALTHY" if (meta.get("annotations") or {}).get("mizzen.io/healthy") == "false" else "HEALTHY"
        row: cd.Row = ((meta.get("namespace", ""),) if all_ns else ()) + (
            meta["name"],
            str(spec.get("address", "")),
            ports or "-",
            status,
            health,
            proxy.get("httpProxy") or "-",
        )
        if wide:
            labels = ",".join(f"{k}={v}" for k, v in sorted((spec.get("labels") or {}).items()))
            row = (*row, labels or "-", _stats(meta), proxy.get("admin") or "-", proxy.get("envoyVersion") or "-")
        rows.append(row)
    return rows


def _stats(meta: Mapping[str, Any]) -> str:
    """The agent's merged Prometheus endpoint port, from the ``prometheus.io/*`` annotations it registers
    (Istio's injector points them at the agent's :15020/stats/prometheus the same way), else ``-``."""
    notes = meta.get("annotations") or {}
    if notes.get("prometheus.io/scrape") != "true" or notes.get("prometheus.io/path") != "/stats/prometheus":
        return "-"
    return str(notes.get("prometheus.io/port") or "-")


def show_workloads(client: ApiClient, names: Sequence[str], namespace: str, all_ns: bool, output: str | None) -> None:
    """Print the workloads (all, or those named) as a table, or as YAML/JSON with ``-o``."""
    items = client.get_json("/api/mizzen/v1/workloads")["items"]
    items = [
        i
        for i in items
        if (all_ns or i["workloadEntry"]["metadata"].get("namespace") == namespace)
        and (not names or i["workloadEntry"]["metadata"]["name"] in names)
    ]
    if output == "json":
        click.echo(json.dumps({"items": items}, indent=2))
        return
    if output == "yaml":
        click.echo(yaml.safe_dump({"items": items}, sort_keys=False), nl=False)
        return
    if output == "name":
        for i in items:
            click.echo(f"workload/{i['workloadEntry']['metadata']['name']}")
        return
    if not items:
        click.echo(f"No workloads found in {'any' if all_ns else namespace} namespace.", err=True)
        return
    header: cd.Row = (("NAMESPACE",) if all_ns else ()) + ("NAME", "ADDRESS", "PORTS", "PROXY", "HEALTH", "HTTP PROXY")
    if output == "wide":
        header = (*header, "LABELS", "STATS", "ADMIN", "ENVOY")
    click.echo(cd.table(header, workload_rows(items, wide=output == "wide", all_ns=all_ns)), nl=False)


def _log_file(name: str, namespace: str, which: str) -> Path | None:
    """The log file of a workload run on this host, or None (then its agent is asked, wherever it runs)."""
    home = resolve_home()
    state = home / "workloads" / f"{namespace}.{name}.json"
    if state.exists():
        logs = json.loads(state.read_text()).get("logs", {})
        if logs.get(which):
            return Path(logs[which])
    path = home / "logs" / f"{name}.{which}.log"
    return path if path.exists() else None


def _remote_log(ctx: click.Context, name: str, namespace: str, which: str, tail: int, follow: bool) -> None:
    """Print a log that is not on this host: the control plane asks the workload's agent over its channel."""
    if follow:
        raise click.ClickException(
            f"workload {name}.{namespace} does not run on this host: -f follows local logs only; run "
            "`mizzen logs` without -f (its agent sends the log through the control plane), or on its host"
        )
    params = {"tail": str(tail)} if tail >= 0 else {}
    client = ApiClient.from_context(ctx)
    resp = client.request("GET", f"/api/mizzen/v1/proxies/{name}.{namespace}/logs/{which}", params=params)
    click.echo(resp.text, nl=False)


@click.command("logs")
@click.argument("workload")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--proxy", "proxy", is_flag=True, help="The sidecar's access log (Istio's format, response flags).")
@click.option("--envoy", "envoy", is_flag=True, help="Envoy's own log.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines.")
@click.pass_context
def logs(ctx: click.Context, workload: str, namespace: str, proxy: bool, envoy: bool, follow: bool, tail: int) -> None:
    """Show a workload's app log, or its sidecar's access log with --proxy (on this host or, through its
    agent's channel to the control plane, on any other)."""
    which = "access" if proxy else "envoy" if envoy else "app"
    name = workload.split("/", 1)[-1]
    path = _log_file(name, namespace, which)
    if path is None:
        _remote_log(ctx, name, namespace, which, tail, follow)
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
        for line in lines[-tail:] if tail >= 0 else lines:
            click.echo(line, nl=False)
        while follow:
            line = fh.readline()
            if line:
                click.echo(line, nl=False)
            else:
                time.sleep(0.2)


@click.command("stats")
@click.argument("proxy")
@click.option("--filter", "filter_", default="", help="Only stats whose name matches this regex.")
@click.option("-o", "--output", type=click.Choice(["short", "json", "prom"]), default="short")
@click.pass_context
def stats(ctx: click.Context, proxy: str, filter_: str, output: str) -> None:
    """A proxy's Envoy stats (istioctl's `proxy-config envoy-stats`), e.g. circuit-breaker overflows."""
    client = ApiClient.from_context(ctx)
    path = "stats/prometheus" if output == "prom" else "stats"
    params = {"filter": filter_} if filter_ else {}
    if output == "json":
        params["format"] = "json"
    pid = proxy.split("/", 1)[-1]
    resp = client.request("GET", f"/api/mizzen/v1/proxies/{pid}/admin/{path}", params=params)
    click.echo(resp.text, nl=not resp.text.endswith("\n"))


COMMANDS = (logs,)
PROXY_CONFIG_COMMANDS = (stats,)
