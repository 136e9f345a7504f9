"""The agent's commands: ``run`` (a workload with its Envoy sidecar) and ``gateway`` (an ingress gateway Envoy).

Both run in the foreground until Ctrl-C (or SIGTERM), which stops every process they started. They
belong to the agent (``python -m mizzen.agent run|gateway``); the ``mizzen`` CLI re-exports them as
``mizzen run`` and ``mizzen gateway``, so the import arrow points from the CLI down to the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import click
import httpx

from mizzen.agent.envoy import checked_envoy
from mizzen.agent.errors import AgentError, PortSpecError
from mizzen.agent.gateway_service import (
    ensure_gateway_service,
    fetch_gateway_api_gateway,
    gateway_api_identity,
    sync_gateway_api_service,
)
from mizzen.agent.readiness import ProbePolicy
from mizzen.agent.runner import ControlPlane, WorkloadRunner
from mizzen.agent.scrape import app_target, parse_annotations, unread_annotations
from mizzen.agent.settings import (
    api_addresses,
    host_agent_enabled,
    mizzen_home,
    read_token,
    root_certificates,
    secret_ttl,
    xds_addresses,
)
from mizzen.agent.spec import WorkloadSpec, parse_env, parse_labels, parse_locality, parse_port, parse_upstream
from mizzen.agent.template import template_from_manifests
from mizzen.agent.transparent import check_prerequisites
from mizzen.security.durations import parse_duration


def _common(func: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--xds-address",
            default=None,
            metavar="HOST:PORT[,HOST:PORT...]",
            help="Control plane xDS address; several replicas: a list, tried in order "
            "[env MIZZEN_XDS_ADDRESS; default: the one the control plane advertises].",
        ),
        click.option(
            "--control-plane",
            "--server",
            "server",
            default=None,
            metavar="URL[,URL...]",
            help="The control plane's API, e.g. https://cp-host:15014; several replicas: a list, tried in order "
            "[env MIZZEN_ADDRESS; default: the control plane of this host's $MIZZEN_HOME, else "
            "http://127.0.0.1:15014]. Its xDS address is asked from it.",
        ),
        click.option(
            "--root-cert",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="The mesh root (the control plane's root-cert.pem) to verify an https control plane with "
            "[env MIZZEN_ROOT_CERT; default $MIZZEN_HOME/root-cert.pem].",
        ),
        click.option(
            "--concurrency", default=1, show_default=True, type=click.IntRange(1, 64), help="Envoy worker threads."
        ),
        click.option(
            "--envoy-log-level",
            default="warning",
            show_default=True,
            type=click.Choice(["trace", "debug", "info", "warning", "error", "critical", "off"]),
            help="Envoy's log level (its log is $MIZZEN_HOME/logs/<name>.envoy.log).",
        ),
        click.option(
            "--token-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="This workload's credential (mizzen token create ...) [env MIZZEN_TOKEN; default: mint one "
            "with the admin token in $MIZZEN_HOME/token].",
        ),
        click.option(
            "--bootstrap-override",
            type=click.File("r"),
            envvar="MIZZEN_BOOTSTRAP_OVERRIDE",
            default=None,
            help="Envoy bootstrap YAML merged over the generated one (Istio's ISTIO_BOOTSTRAP_OVERRIDE), "
            "e.g. extra static listeners using the workload certificate through sds-grpc.",
        ),
        click.option(
            "--stats-port",
            type=click.IntRange(0, 65535),
            default=None,
            metavar="PORT",
            help="Serve the merged Prometheus endpoint GET /stats/prometheus here, on the workload's address "
            "(Istio's agent :15020): Envoy's stats with Istio's istio_* series, the agent's scrape counters, and "
            "the app's metrics when annotated (see --annotation) [default: a free port; 0: none].",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log every supervision step."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.option("--name", required=True, help="Workload name (the WorkloadEntry name).")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option(
    "--labels", "-l", "labels", default="", metavar="K=V,...", help="Workload labels, e.g. app=reviews,version=v2."
)
@click.option("--service-account", default=None, help="Service account [default: from --from, else default].")
@click.option(
    "--from",
    "manifests",
    multiple=True,
    type=click.File("r"),
    metavar="FILE",
    help="Kubernetes YAML (e.g. Istio's bookinfo.yaml): labels, service account and ports are taken "
    "from the Deployment named NAME and the Services selecting it; options given here win.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME=NUMBER",
    help="A service port the app serves, e.g. http=9080 (repeatable). The app listens on $PORT.",
)
@click.option(
    "--ready-path",
    default=None,
    metavar="PATH",
    help="HTTP readiness path (default: the app is ready when its port accepts connections).",
)
@click.option(
    "--probe",
    "probe",
    default=None,
    metavar="K=V,...",
    help="The readiness probe while running (Kubernetes' periodSeconds, timeoutSeconds, failureThreshold, "
    "successThreshold) [default: period=2s,timeout=1s,failure=1,success=1, or a --from WorkloadGroup's probe]: "
    "an app failing it is taken out of load balancing until it passes again.",
)
@click.option(
    "--termination-drain-duration",
    "drain",
    default="5s",
    show_default=True,
    metavar="DURATION",
    help="Istio's terminationDrainDuration: on stop, after the endpoint is withdrawn, Envoy keeps serving "
    "in-flight requests this long at most (it stops earlier once none is in flight).",
)
@click.option(
    "--address",
    default=None,
    help="This workload's endpoint address, where peers reach its sidecar [default: the local address this host "
    "reaches the control plane from; 127.0.0.1 for a control plane on loopback].",
)
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    metavar="HOST:PORT[=[IP:]PORT]",
    help="A local TCP/gRPC port forwarding to a mesh service (repeatable).",
)
@click.option("--env", "envs", multiple=True, metavar="K=V", help="Extra environment for the app (repeatable).")
@click.option(
    "--annotation",
    "annotations",
    multiple=True,
    metavar="K=V",
    help="A pod annotation (repeatable; over --from's pod template). As in Istio, prometheus.io/scrape "
    "(not false), prometheus.io/port (a service port number means the app's port for it; default: the first) "
    "and prometheus.io/path (default /metrics) merge the app's metrics into --stats-port's endpoint; "
    "other keys have no effect (a warning names them).",
)
@click.option(
    "--locality",
    default="",
    metavar="REGION[/ZONE[/SUBZONE]]",
    help="Where the workload runs (Istio's locality): its WorkloadEntry's locality and the proxy's own, "
    "for locality load balancing [default: from the istio-locality or topology.* labels].",
)
@click.option(
    "--capture",
    is_flag=True,
    help="Transparent capture (root): the app runs in a network namespace of its own and nftables sends its "
    "inbound and outbound TCP through the sidecar, so it needs no HTTP_PROXY (gRPC, raw TCP, Java meshed "
    "unchanged). The app listens on its service ports (on 0.0.0.0, as in a pod); mesh names resolve through "
    "its /etc/hosts. Removed on stop, or at the next start after a crash.",
)
@_common
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(
    name: str,
    namespace: str,
    labels: str,
    service_account: str | None,
    manifests: Sequence[TextIO],
    ports: Sequence[str],
    ready_path: str | None,
    probe: str | None,
    drain: str,
    address: str | None,
    upstreams: Sequence[str],
    envs: Sequence[str],
    annotations: Sequence[str],
    locality: str,
    capture: bool,
    xds_address: str | None,
    server: str | None,
    root_cert: Path | None,
    concurrency: int,
    envoy_log_level: str,
    token_file: Path | None,
    bootstrap_override: TextIO | None,
    stats_port: int | None,
    verbose: bool,
    command: Sequence[str],
) -> None:
    """Run COMMAND as a mesh workload with an Envoy sidecar (foreground; Ctrl-C stops both).

    The app listens on $PORT (also substituted for {port} in its arguments) and reaches other services
    through its sidecar, which it gets as HTTP_PROXY: `http://reviews:9080/...` works unchanged. Once
    the app is ready, the workload is registered as a WorkloadEntry; it is deleted again on stop.

    \b
    Example:
      mizzen run --name reviews-v2 --labels app=reviews,version=v2 \\
          --service-account bookinfo-reviews --port http=9080 --ready-path /health \\
          -- python -m mizzen.testing.echo --port {port}
      mizzen run --from bookinfo.yaml --name reviews-v2 -- python -m mizzen.testing.echo
    """
    try:
        template = template_from_manifests([f.read() for f in manifests], name, namespace) if manifests else None
        port_specs = tuple(parse_port(p) for p in ports) or (template.ports if template else ())
        explicit_annotations = parse_annotations(list(annotations))
        spec = WorkloadSpec(
            name=name,
            namespace=namespace,
            proxy_type="sidecar",
            labels={**(template.labels if template else {}), **parse_labels(labels)},
            service_account=service_account or (template.service_account if template else "default"),
            ports=port_specs,
            ready_path=ready_path or (template.ready_path if template else None),
            address=address or "",  # "": settled when joining (mizzen.agent.join)
            upstreams=tuple(parse_upstream(u) for u in upstreams),
            env=parse_env(envs),
            locality=parse_locality(locality),
            command=tuple(command),
            concurrency=concurrency,
            envoy_log_level=envoy_log_level,
            bootstrap_override=bootstrap_override.read() if bootstrap_override else "",
            probe=_probe_of(probe, template.probe if template else None),
            drain_s=_duration(drain, "--termination-drain-duration"),
            capture=capture,
            stats_port=stats_port,
            annotations={**(template.annotations if template else {}), **explicit_annotations},
        )
        app_target(spec.annotations, spec.ports, {}, "127.0.0.1")  # malformed prometheus.io/* fail here, not later
        if capture and spec.upstreams:
            raise PortSpecError("--upstream does not go with --capture: a captured app dials mesh services directly")
        if capture and host_agent_enabled():
            raise PortSpecError(
                "--capture does not run in the host agent yet (MIZZEN_HOST_AGENT is set): run this workload "
                "with MIZZEN_HOST_AGENT unset"
            )
    except AgentError as exc:
        raise click.BadParameter(str(exc)) from exc
    for key in unread_annotations(explicit_annotations, template.annotations if template else {}):
        click.echo(f"Warning: annotation {key!r} has no effect in Mizzen; only prometheus.io/* are read", err=True)
    if capture:
        try:
            check_prerequisites()
        except AgentError as exc:
            raise click.ClickException(str(exc)) from exc
    _supervise(spec, xds=xds_address, server=server, root_cert=root_cert, token_file=token_file, verbose=verbose)


def _duration(value: str, option: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def _probe_of(option: str | None, template: ProbePolicy | None) -> ProbePolicy:
    """--probe's knobs over the WorkloadGroup's probe (or the defaults)."""
    base = template or ProbePolicy()
    return parse_probe(option, base) if option else base


def parse_probe(value: str, base: ProbePolicy | None = None) -> ProbePolicy:
    """``period=2s,timeout=1s,failure=1,success=1`` (any subset) as a :class:`ProbePolicy`."""
    fields: dict[str, float | int] = {}
    names = {
        "period": "period_s",
        "timeout": "timeout_s",
        "failure": "failure_threshold",
        "success": "success_threshold",
    }
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, _, raw = item.partition("=")
        if key not in names or not raw:
            raise PortSpecError(f"--probe: {item!r} is not one of period=, timeout=, failure=, success=")
        try:
            fields[names[key]] = parse_duration(raw) if key in ("period", "timeout") else int(raw)
        except ValueError as exc:
            raise PortSpecError(f"--probe {key}: {exc}") from exc
        if fields[names[key]] <= 0:
            raise PortSpecError(f"--probe {key} must be positive, not {raw}")
    return dataclasses.replace(base or ProbePolicy(), **fields)  # type: ignore[arg-type]


@click.command("gateway")
@click.option("--name", default="istio-ingressgateway", show_default=True)
@click.option("-n", "--namespace", default=None, help="[default: istio-system; with --for: default]")
@click.option(
    "--labels",
    "-l",
    "labels",
    default="istio=ingressgateway",
    show_default=True,
    metavar="K=V,...",
    help="Labels that Gateway selectors match.",
)
@click.option("--service-account", default="istio-ingressgateway-service-account", show_default=True)
@click.option(
    "--for",
    "for_gateway",
    default=None,
    metavar="GATEWAY",
    help="Deploy the gateway of this Gateway API Gateway (class istio), as Istio's automated deployment does: "
    "name, labels and service account <gateway>-istio, and its Service (replaces --name/--labels).",
)
@click.option("--address", default="127.0.0.1", show_default=True, help="Address the gateway's server ports bind to.")
@click.option(
    "--proxy-config",
    "proxy_config",
    default=None,
    metavar="YAML",
    help="This gateway's ProxyConfig, as Istio's proxy.istio.io/config annotation, e.g. "
    "'gatewayTopology: {numTrustedProxies: 1}' (over mesh.yaml's defaultConfig; only gatewayTopology."
    "numTrustedProxies is applied, other fields are refused); @FILE reads it from a file.",
)
@_common
def gateway_command(
    name: str,
    namespace: str | None,
    labels: str,
    service_account: str,
    for_gateway: str | None,
    address: str,
    proxy_config: str | None,
    xds_address: str | None,
    server: str | None,
    root_cert: Path | None,
    concurrency: int,
    envoy_log_level: str,
    token_file: Path | None,
    bootstrap_override: TextIO | None,
    stats_port: int | None,
    verbose: bool,
) -> None:
    """Run an ingress gateway: an Envoy configured from the Gateway resources that select its labels,
    or, with --for, the gateway of a Gateway API Gateway."""
    if for_gateway is not None:
        namespace = namespace or "default"
        name, pod_labels, service_account = _gateway_api_deployment(server, namespace, for_gateway)
    else:
        namespace = namespace or "istio-system"
        pod_labels = {}
    try:
        spec = WorkloadSpec(
            name=name,
            namespace=namespace,
            proxy_type="router",
            labels=pod_labels or parse_labels(labels),
            service_account=service_account,
            address=address,
            concurrency=concurrency,
            envoy_log_level=envoy_log_level,
            bootstrap_override=bootstrap_override.read() if bootstrap_override else "",
            num_trusted_proxies=_gateway_proxy_config(proxy_config),
            stats_port=stats_port,
        )
    except AgentError as exc:
        raise click.BadParameter(str(exc)) from exc
    if for_gateway is None:
        with contextlib.suppress(AgentError):  # no token yet: the supervisor below reports that clearly
            home = mizzen_home()
            token = read_token(home, token_file=token_file)
            api = api_addresses(server)[0]
            roots = root_certificates(home, path=root_cert)
            ensure_gateway_service(api, token, name, namespace, spec.labels, roots)
    _supervise(spec, xds=xds_address, server=server, root_cert=root_cert, token_file=token_file, verbose=verbose)


def _gateway_proxy_config(value: str | None) -> int | None:
    """--proxy-config's numTrustedProxies (``@FILE``: the YAML in a file)."""
    if not value:
        return None
    # Imported here: the YAML reader is private memory every workload's agent would pay for a gateway flag.
    from mizzen.agent.proxy_config import parse_gateway_proxy_config

    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return parse_gateway_proxy_config(path.read_text(), str(path))
        except OSError as exc:
            raise AgentError(f"--proxy-config: cannot read {path}: {exc.strerror or exc}") from exc
    return parse_gateway_proxy_config(value)


def _gateway_api_deployment(server: str | None, namespace: str, gateway: str) -> tuple[str, dict[str, str], str]:
    """Read the Gateway, create its Service; the gateway's (name, labels, service account)."""
    try:
        api, token = api_addresses(server)[0], read_token(mizzen_home())
        doc = fetch_gateway_api_gateway(api, token, namespace, gateway)
        sync_gateway_api_service(api, token, doc)
    except (AgentError, LookupError, httpx.HTTPError) as exc:
        raise click.ClickException(f"cannot deploy the gateway of Gateway {namespace}/{gateway}: {exc}") from exc
    return gateway_api_identity(doc)


def _supervise(
    spec: WorkloadSpec,
    *,
    xds: str | None,
    server: str | None,
    root_cert: Path | None,
    token_file: Path | None,
    verbose: bool,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr, format="mizzen %(levelname)s %(message)s"
    )
    if not verbose:  # one line per probe/registration request is noise, not news
        logging.getLogger("httpx").setLevel(logging.WARNING)
    home = mizzen_home()
    try:
        envoy = checked_envoy()
        apis, xdss = api_addresses(server), xds_addresses(xds)
        control_plane = ControlPlane(
            api_url=apis[0],
            xds_address=xdss[0],
            token=read_token(home, token_file=token_file),
            roots=root_certificates(home, path=root_cert),
            secret_ttl_s=secret_ttl(),
            other_api_urls=apis[1:],
            other_xds_addresses=xdss[1:],
            xds_given=bool(xds or os.environ.get("MIZZEN_XDS_ADDRESS")),
        )
        if host_agent_enabled():
            from mizzen.agent import hostclient, hostwire

            cp_fields = hostwire.encode_control_plane(dataclasses.asdict(control_plane))
            env, pid, cwd = dict(os.environ), os.getpid(), os.getcwd()
            attach = hostwire.Attach(spec, cp_fields, env, pid, str(envoy), cwd, verbose)
            hostclient.run_in_host_agent(home, attach)  # execs the relay: does not return
        runner = WorkloadRunner(
            spec, home=home, envoy=envoy, control_plane=control_plane, out=lambda text: click.echo(text)
        )
        code = asyncio.run(runner.run())
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


__all__ = ["gateway_command", "run_command"]
