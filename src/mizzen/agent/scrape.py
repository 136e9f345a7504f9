"""What the merged Prometheus endpoint scrapes and how it joins the parts: pure, no I/O.

Istio's metrics merging (``enableMetricsMerging``, on by default): the injector moves a pod's own
``prometheus.io/scrape|port|path`` annotations into the agent's ``ISTIO_PROMETHEUS_ANNOTATIONS`` and points
them at the agent's ``:15020/stats/prometheus``, which then serves, in one answer, Envoy's stats, the agent's
own metrics and the app's metrics. Mizzen's agent does the same per workload (:mod:`mizzen.agent.statsserver`
serves it), with Istio's rules (``inject.applyPrometheusMerge`` and pilot-agent's status server):

- the app is scraped when its pod has any ``prometheus.io/*`` annotation and ``scrape`` is not false (Go's
  ``ParseBool``: ``false``, ``0``, ``f``...); a pod annotated ``scrape: "false"`` is left alone entirely (no
  rewritten annotations: Prometheus scrapes nothing there); no annotation at all: Envoy and the agent only;
- keys count in Prometheus' sanitised form (``prometheus_io_scrape`` is ``prometheus.io/scrape``); path
  default ``/metrics``; port default: the app's first service port (Istio's ``80`` is meaningless for an app
  listening on ``$PORT``);
- the annotations come from ``--from`` (the Deployment's pod template) and ``--annotation K=V``;
  ``prometheus.io/port`` names a container port, and a container port that is one of the workload's service
  ports means the port the agent gave the app for it (the app never listens on 9080 under ``mizzen run``);
- Envoy's raw ``envoy_istio_*`` series (the stats access logger's, see :mod:`mizzen.meshstats`) are replaced
  by Istio's ``istio_*`` series rendered from them; every other Envoy line passes through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mizzen import meshstats
from mizzen.agent.errors import PortSpecError

if TYPE_CHECKING:  # spec imports this module (the WorkloadEntry's annotations)
    from mizzen.agent.spec import PortSpec

# Prometheus' pod annotations (its Kubernetes example config, and Istio's metrics merging, read them).
SCRAPE = "prometheus.io/scrape"
PORT = "prometheus.io/port"
PATH = "prometheus.io/path"
STATS_PATH = "/stats/prometheus"  # the agent's merged endpoint (Istio's :15020/stats/prometheus)
SERVED_PATHS = (STATS_PATH, "/metrics")  # Istio's status server answers both with the merged metrics
DEFAULT_PATH = "/metrics"
MIN_READ_TIMEOUT_S, MAX_READ_TIMEOUT_S, READ_MARGIN_S = 0.1, 60.0, 0.25
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})  # Go's strconv.ParseBool
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text exposition format
_RAW_PREFIX = meshstats.ENVOY_PREFIX + "istio_"


@dataclass(frozen=True)
class AppTarget:
    """Where the app's own metrics are: ``http://host:port/path`` (the agent adds no credential to it; log
    lines and the start-up summary print :attr:`shown`)."""

    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        """The URL the agent scrapes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    @property
    def shown(self) -> str:
        """The URL for humans and log lines: without its query, which a path could use to carry a secret."""
        return self.url.split("?", 1)[0]


def prometheus_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """The pod's ``prometheus.io/scrape|port|path`` annotations by their canonical key (any spelling that
    Prometheus sanitises to the same label name, as Istio's injector matches them)."""
    canonical = {_sanitise(k): k for k in (SCRAPE, PORT, PATH)}
    return {canonical[_sanitise(k)]: str(v) for k, v in annotations.items() if _sanitise(k) in canonical}


def unread_annotations(explicit: Mapping[str, str], template: Mapping[str, str]) -> list[str]:
    """The annotation keys a user set that this agent does not act on, so ``mizzen run`` can say so instead
    of accepting them silently: every ``--annotation`` key that is not a ``prometheus.io/*`` key, and the pod
    template's keys in Istio's annotation namespaces (``sidecar.istio.io/inject``, ``proxy.istio.io/config``,
    ...), which change an Istio sidecar but not a Mizzen one. Other template annotations are the app's own."""
    known = {_sanitise(k) for k in (SCRAPE, PORT, PATH)}

    def istio_key(key: str) -> bool:
        prefix, sep, _ = key.partition("/")
        return bool(sep) and (prefix == "istio.io" or prefix.endswith(".istio.io"))

    unread = [k for k in explicit if _sanitise(k) not in known]
    unread += [k for k in template if k not in explicit and istio_key(k) and _sanitise(k) not in known]
    return unread


def opted_out(annotations: Mapping[str, str]) -> bool:
    """``prometheus.io/scrape`` says false: Istio then does no merging for the pod (its annotations stay)."""
    return prometheus_annotations(annotations).get(SCRAPE, "").strip() in _FALSE


def app_target(
    annotations: Mapping[str, str], ports: tuple[PortSpec, ...], app_ports: Mapping[str, int], app_address: str
) -> AppTarget | None:
    """The app's metrics target from its ``prometheus.io/*`` annotations, or None when it is not scraped:
    no such annotation, ``scrape`` false, or no port known (no port annotation and no service port)."""
    notes = prometheus_annotations(annotations)
    if not notes or opted_out(annotations):
        return None
    raw_port = notes.get(PORT, "").strip()
    if raw_port:
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise PortSpecError(f"annotation {PORT} must be a port number, got {raw_port!r}")
        number = int(raw_port)
        named = next((p for p in ports if p.number == number), None)
        port = app_ports.get(named.name, number) if named is not None else number
    elif ports and ports[0].name in app_ports:
        port = app_ports[ports[0].name]
    else:
        return None
    path = notes.get(PATH, "").strip() or DEFAULT_PATH
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise PortSpecError(f"annotation {PATH} must be an absolute path, got {path!r}")
    return AppTarget(app_address, port, path)


def read_timeout(header: str | None, default: float) -> float:
    """How long each upstream read may take: a little inside the scraper's own deadline when it sent one
    (``X-Prometheus-Scrape-Timeout-Seconds``, as Istio's agent honours it), so that the parts that did answer
    reach the scraper before it gives up; else ``default``. Never more than :data:`MAX_READ_TIMEOUT_S`."""
    try:
        given = float(header) if header else 0.0
    except ValueError:
        given = 0.0
    if not 0 < given < float("inf"):
        return default
    return min(MAX_READ_TIMEOUT_S, max(MIN_READ_TIMEOUT_S, given - READ_MARGIN_S))


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """An HTTP/1.1 request head -> (method, path without query, headers with lower-cased names);
    :class:`ValueError` when the request line is malformed."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1].split("?", 1)[0], headers


def _sanitise(key: str) -> str:
    return _INVALID_LABEL_CHARS.sub("_", key)


def parse_annotations(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--annotation K=V`` items -> dict (the value may contain ``=``)."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise PortSpecError(f"--annotation must be KEY=VALUE, got {item!r}")
        out[key.strip()] = val
    return out


def envoy_part(text: str, *, max_series: int = 10000) -> str:
    """Envoy's Prometheus text with its raw ``envoy_istio_*`` series (and their HELP/TYPE lines) replaced by
    Istio's ``istio_*`` series; with no such series (Envoy keeps none yet) no ``istio_`` line at all."""
    kept: list[str] = []
    raw: list[str] = []
    for line in text.splitlines():
        if line.startswith(_RAW_PREFIX):
            raw.append(line)
        elif line.startswith(("# TYPE " + _RAW_PREFIX, "# HELP " + _RAW_PREFIX)):
            continue
        else:
            kept.append(line)
    out = "\n".join(kept) + "\n" if kept else ""
    if raw:
        out += meshstats.render([meshstats.read("\n".join(raw), max_series=max_series)])
    return out


@dataclass
class ScrapeCounters:
    """The agent's own metrics, as Istio's agent keeps them (``istio_agent_scrapes_total`` and
    ``istio_agent_scrape_failures_total{type="envoy"|"application"}``)."""

    scrapes: int = 0
    envoy_failures: int = 0
    app_failures: int = 0

    def render(self) -> str:
        """Prometheus text for these counters."""
        return (
            "# HELP istio_agent_scrapes_total The total number of scrapes.\n"
            "# TYPE istio_agent_scrapes_total counter\n"
            f"istio_agent_scrapes_total {self.scrapes}\n"
            "# HELP istio_agent_scrape_failures_total The total number of failed scrapes.\n"
            "# TYPE istio_agent_scrape_failures_total counter\n"
            f'istio_agent_scrape_failures_total{{type="application"}} {self.app_failures}\n'
            f'istio_agent_scrape_failures_total{{type="envoy"}} {self.envoy_failures}\n'
        )
