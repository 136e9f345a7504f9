"""What ``mizzen demo`` starts and checks, as data: command lines, files, page classification, next steps.

Pure functions only (no processes, no network), so the plan is unit-tested on its own; the command in
:mod:`mizzen.cli.demo_cmd` executes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mizzen.samples.bookinfo import paths

API_PORT = 15014
XDS_PORT = 15010
GATEWAY_PORT = 8080
GATEWAY_HTTPS_PORT = 8443
API_URL = f"http://127.0.0.1:{API_PORT}"
PRODUCT_PAGE_URL = f"http://127.0.0.1:{GATEWAY_PORT}/productpage"
DASHBOARD_URL = f"{API_URL}/"
GATEWAY_NAME = "istio-ingressgateway"
GATEWAY_NAMESPACE = "istio-system"
GATEWAY_LABELS = {"istio": "ingressgateway"}
BOOKINFO_GATEWAY_PORT = 8080  # the port Bookinfo's Gateway server is written with


@dataclass(frozen=True)
class DemoPorts:
    """Every port the demo binds on 127.0.0.1 (the workloads' own ports are always free ones)."""

    api: int = API_PORT
    xds: int = XDS_PORT
    gateway: int = GATEWAY_PORT
    gateway_https: int = GATEWAY_HTTPS_PORT

    @property
    def api_url(self) -> str:
        """The control plane's HTTP API (the dashboard is served there too)."""
        return f"http://127.0.0.1:{self.api}"

    @property
    def product_page_url(self) -> str:
        """Bookinfo's product page through the ingress gateway."""
        return f"http://127.0.0.1:{self.gateway}/productpage"

    @property
    def dashboard_url(self) -> str:
        """The dashboard's page."""
        return f"{self.api_url}/"

    def owners(self) -> tuple[tuple[int, str, str], ...]:
        """(port, who needs it, the option that moves it) for every port the demo binds."""
        return (
            (self.api, "the control plane's HTTP API", "--port"),
            (self.xds, "the control plane's xDS server", "--xds-port"),
            (self.gateway, "the ingress gateway (Bookinfo's Gateway on 8080)", "--gateway-port"),
            (self.gateway_https, "the ingress gateway's HTTPS port (Gateways on 443)", "--gateway-https-port"),
        )


DEFAULT_PORTS = DemoPorts()

STAR = "glyphicon glyphicon-star"
VERSIONS = frozenset({"v1", "v2", "v3"})
GATEWAY_PROXY = "istio-ingressgateway.istio-system"


@dataclass(frozen=True)
class Workload:
    """One Bookinfo workload: ``<app>-<version>`` with its labels and service account."""

    app: str
    version: str

    @property
    def name(self) -> str:
        """The workload name, e.g. ``reviews-v2``."""
        return f"{self.app}-{self.version}"

    @property
    def service_account(self) -> str:
        """The Kubernetes-style service account, e.g. ``bookinfo-reviews``."""
        return f"bookinfo-{self.app}"


WORKLOADS: tuple[Workload, ...] = (
    Workload("details", "v1"),
    Workload("ratings", "v1"),
    Workload("reviews", "v1"),
    Workload("reviews", "v2"),
    Workload("reviews", "v3"),
    Workload("productpage", "v1"),
)


def mizzen_argv(python: str, *args: str) -> list[str]:
    """``python -m mizzen.cli.main ARGS``: works without the console script on PATH."""
    return [python, "-m", "mizzen.cli.main", *args]


def controlplane_argv(python: str, ports: DemoPorts = DEFAULT_PORTS) -> list[str]:
    """The control plane on the demo's loopback ports."""
    return mizzen_argv(
        python, "controlplane", "--address", "127.0.0.1", "--port", str(ports.api), "--xds-port", str(ports.xds)
    )


def gateway_argv(python: str) -> list[str]:
    """The ingress gateway that Bookinfo's Gateway (selector istio=ingressgateway) configures."""
    labels = ",".join(f"{k}={v}" for k, v in GATEWAY_LABELS.items())
    return mizzen_argv(
        python, "gateway", "--name", GATEWAY_NAME, "-n", GATEWAY_NAMESPACE, "--labels", labels, "--address", "127.0.0.1"
    )


def gateway_service(ports: DemoPorts = DEFAULT_PORTS) -> dict[str, Any]:
    """The ingress gateway's Service the demo applies, so the gateway listens on the demo's ports.

    Istio's install makes ``istio-ingressgateway`` with 80 -> 8080 and 443 -> 8443 (what ``mizzen
    gateway`` creates by itself); the demo writes the same Service with its own targetPorts. Bookinfo's
    Gateway is written on 8080, which in a cluster is the pod port behind 80: when the demo's gateway
    port is not 8080, port 8080 of the Service maps there too, so that Gateway binds the demo's port
    through Istio's own Service-port translation, its YAML unchanged.
    """
    entries = [
        {"name": "http2", "port": 80, "targetPort": ports.gateway, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": ports.gateway_https, "protocol": "TCP"},
    ]
    if ports.gateway != BOOKINFO_GATEWAY_PORT:
        entries.append(
            {"name": "http-bookinfo", "port": BOOKINFO_GATEWAY_PORT, "targetPort": ports.gateway, "protocol": "TCP"}
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": GATEWAY_NAME,
            "namespace": GATEWAY_NAMESPACE,
            "labels": {"app": GATEWAY_NAME, **GATEWAY_LABELS},
            "annotations": {"mizzen.io/created-by": "mizzen demo"},
        },
        "spec": {"selector": dict(GATEWAY_LABELS), "ports": entries},
    }


def workload_argv(python: str, workload: Workload) -> list[str]:
    """``mizzen run`` for one workload: the Bookinfo service on ``{port}`` behind its sidecar."""
    app_cmd = [python, "-m", f"mizzen.samples.bookinfo.{workload.app}", "--port", "{port}"]
    if workload.app == "reviews":
        app_cmd += ["--version", workload.version]
    return mizzen_argv(
        python,
        "run",
        "--name",
        workload.name,
        "-n",
        "default",
        "--labels",
        f"app={workload.app},version={workload.version}",
        "--service-account",
        workload.service_account,
        "--port",
        "http=9080",
        "--ready-path",
        "/health",
        "--",
        *app_cmd,
    )


def setup_files() -> list[Path]:
    """What the demo applies besides its gateway Service: the Services, Bookinfo's gateway and the
    destination rules."""
    return [
        paths.platform_file(),
        paths.networking_file("bookinfo-gateway"),
        paths.networking_file("destination-rule-all"),
    ]


def apply_argv(python: str, files: Sequence[Path]) -> list[str]:
    """One all-or-nothing ``mizzen apply`` of ``files``."""
    args: list[str] = ["apply"]
    for file in files:
        args += ["-f", str(file)]
    return mizzen_argv(python, *args)


def reviews_version(page: str) -> str | None:
    """Which reviews version rendered a product page: v1 no stars, v2 black, v3 red; None if no reviews."""
    if "Book Reviews" not in page:
        return None
    if STAR not in page:
        return "v1"
    return "v3" if "gap-x-1 text-red-500" in page else "v2"


_WALKTHROUGH = (
    ("virtual-service-all-v1.yaml", "everyone sees reviews v1 (no stars)"),
    ("virtual-service-reviews-test-v2.yaml", "sign in as jason: black stars (v2); everyone else v1"),
    ("virtual-service-reviews-50-v3.yaml", "about half the pages show red stars (v3)"),
    ("virtual-service-reviews-v3.yaml", "red stars every time"),
    ("virtual-service-ratings-test-delay.yaml", "after all-v1 + test-v2: jason's reviews fail after ~6 s"),
    ("virtual-service-ratings-test-abort.yaml", "jason: 'Ratings service is currently unavailable'"),
)


def next_steps(mizzen: str = "mizzen") -> str:
    """The walkthrough commands printed once the demo is up."""
    net = paths.networking_dir()
    lines = ["Next steps (Istio's traffic-management tasks, with the same YAML):"]
    for file_name, effect in _WALKTHROUGH:
        lines += [f"  # {effect}", f"  {mizzen} apply -f {net / file_name}"]
    lines += [
        "  # what is applied, and every proxy's sync state",
        f"  {mizzen} get virtualservices",
        f"  {mizzen} proxy-status",
    ]
    return "\n".join(lines)


def proxy_synced(proxy: Mapping[str, Any]) -> bool:
    """True for a connected proxy (a ``/api/mizzen/v1/proxies`` item) whose every sent xDS type is ACKed."""
    statuses = [t.get("status") for t in proxy.get("xds", {}).values()]
    acked = all(s in ("SYNCED", "NOT SENT") for s in statuses) and "SYNCED" in statuses
    return bool(proxy.get("connected", True)) and acked


class WaitProgress:
    """What the demo's wait has seen so far; reports each new fact once through ``say``.

    Ready means: all six workloads registered, all seven proxies synced (when the control plane offers a
    proxy list), and product pages through the gateway rendered by reviews v1, v2 and v3.
    """

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.names = {w.name for w in WORKLOADS}
        self.proxies = {f"{w.name}.default" for w in WORKLOADS} | {GATEWAY_PROXY}
        self.seen_registered: set[str] = set()
        self.seen_synced: set[str] = set()
        self.sync_known = True
        self.versions: set[str] = set()

    def registered(self, names: set[str]) -> None:
        """Workload entries currently registered."""
        for name in sorted((names & self.names) - self.seen_registered):
            self.say(f"      {name} registered")
        self.seen_registered |= names & self.names

    def synced(self, ids: set[str] | None) -> None:
        """Ids of proxies currently synced; None when the control plane has no proxy list."""
        if ids is None:
            self.sync_known = False
            return
        if self.proxies <= ids and not self.proxies <= self.seen_synced:
            self.say(f"      all {len(self.proxies)} proxies synced")
        self.seen_synced = ids & self.proxies

    def page(self, version: str | None) -> None:
        """The reviews version of one product page fetched through the gateway (None: no good page)."""
        if version is not None and version not in self.versions:
            self.say(f"      product page served with reviews {version}")
            self.versions.add(version)

    @property
    def all_registered(self) -> bool:
        """Every workload has registered."""
        return self.seen_registered >= self.names

    @property
    def proxies_ok(self) -> bool:
        """Every proxy is synced (or sync status is not available)."""
        return not self.sync_known or self.seen_synced >= self.proxies

    @property
    def done(self) -> bool:
        """Everything the demo waits for has been seen."""
        return self.all_registered and self.proxies_ok and self.versions >= VERSIONS

    def missing(self) -> str:
        """What is still missing, for the timeout message."""
        if not self.all_registered:
            return "not registered: " + ", ".join(sorted(self.names - self.seen_registered))
        if not self.proxies_ok:
            return "proxies not synced: " + ", ".join(sorted(self.proxies - self.seen_synced))
        return "reviews versions not seen through the gateway: " + ", ".join(sorted(VERSIONS - self.versions))
