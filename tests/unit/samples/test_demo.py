"""`mizzen demo`'s plan (command lines, files, page classification) and its process bookkeeping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from mizzen.cli.demo_cmd import demo_command
from mizzen.samples.bookinfo import demo_plan as plan
from mizzen.samples.bookinfo import page
from mizzen.samples.bookinfo.launcher import DemoState, ProcessRecord, launch, port_in_use, stop_all
from mizzen.samples.bookinfo.productpage import PRODUCTS, REVIEWS_ERROR
from mizzen.samples.bookinfo.reviews import ReviewsConfig, reviews_body

# Appends its name to a file when SIGTERM arrives, then exits: shows the order processes were stopped in.
RECORD_SIGTERM = """
import signal, sys, time
name, out = sys.argv[1], sys.argv[2]
def stop(*_):
    with open(out, "a") as fh:
        fh.write(name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def test_workload_command_line() -> None:
    """reviews-v2 runs under `mizzen run` with its labels, account, port, readiness path and version."""
    (reviews_v2,) = [w for w in plan.WORKLOADS if w.name == "reviews-v2"]
    argv = plan.workload_argv("/py", reviews_v2)
    assert argv[:4] == ["/py", "-m", "mizzen.cli.main", "run"]
    sep = argv.index("--")
    opts = argv[4:sep]
    assert opts == [
        "--name",
        "reviews-v2",
        "-n",
        "default",
        "--labels",
        "app=reviews,version=v2",
        "--service-account",
        "bookinfo-reviews",
        "--port",
        "http=9080",
        "--ready-path",
        "/health",
    ]
    assert argv[sep + 1 :] == ["/py", "-m", "mizzen.samples.bookinfo.reviews", "--port", "{port}", "--version", "v2"]
    assert [w.name for w in plan.WORKLOADS] == [
        "details-v1",
        "ratings-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
        "productpage-v1",
    ]


def test_gateway_controlplane_and_apply_command_lines() -> None:
    """The gateway, control plane and apply are invoked with the documented flags and files."""
    assert plan.gateway_argv("/py")[3:] == [
        "gateway",
        "--name",
        "istio-ingressgateway",
        "-n",
        "istio-system",
        "--labels",
        "istio=ingressgateway",
        "--address",
        "127.0.0.1",
    ]
    assert plan.controlplane_argv("/py")[3:] == [
        "controlplane",
        "--address",
        "127.0.0.1",
        "--port",
        "15014",
        "--xds-port",
        "15010",
    ]
    files = plan.setup_files()
    assert [f.name for f in files] == ["bookinfo.yaml", "bookinfo-gateway.yaml", "destination-rule-all.yaml"]
    assert all(f.is_file() for f in files)
    assert plan.apply_argv("/py", files)[3:] == ["apply", "-f", str(files[0]), "-f", str(files[1]), "-f", str(files[2])]


def test_reviews_version_is_read_from_the_rendered_page() -> None:
    """Pages rendered from reviews v1/v2/v3 classify as v1/v2/v3; a reviews error page as None."""
    for version in ("v1", "v2", "v3"):
        config = ReviewsConfig.from_env({}, version)
        body = (
            reviews_body(config, 0, {})
            if version == "v1"
            else {
                **reviews_body(ReviewsConfig(version=version), 0, {}),
                "reviews": [{"reviewer": "R", "text": "t", "rating": {"stars": 4, "color": config.star_color}}],
            }
        )
        html = page.product_page(PRODUCTS[0], "", 200, {}, 200, body)
        assert plan.reviews_version(html) == version
    error = page.product_page(PRODUCTS[0], "", 200, {}, 503, {"error": REVIEWS_ERROR})
    assert plan.reviews_version(error) is None


def test_port_in_use_sees_a_listener() -> None:
    """A listening socket makes its port busy; once closed the port is free again."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_state_round_trip_and_unreadable_file(tmp_path: Path) -> None:
    """demo.json reads back what was saved; a corrupt file reads as no state."""
    state = DemoState(
        mode="detached",
        demo_pid=1,
        started="now",
        processes=[ProcessRecord("controlplane", 42, "/log", ["x"], "123")],
        reused_controlplane=False,
    )
    state.save(tmp_path)
    assert DemoState.load(tmp_path) == state
    DemoState.path(tmp_path).write_text("{not json")
    assert DemoState.load(tmp_path) is None


def test_a_reused_pid_is_not_alive() -> None:
    """A record whose start time differs from the live process's is treated as gone."""
    record = ProcessRecord("me", os.getpid(), "/log", [], start_time="1")
    assert not record.alive()
    assert ProcessRecord("me", os.getpid(), "/log", [], start_time=None).alive()


Popens = dict[int, subprocess.Popen[bytes]]


def _start_recorders(tmp_path: Path, names: list[str]) -> tuple[list[ProcessRecord], Popens]:
    out = tmp_path / "stopped.txt"
    launched = [
        launch(n, [sys.executable, "-c", RECORD_SIGTERM, n, str(out)], tmp_path / f"{n}.log", os.environ) for n in names
    ]
    deadline = time.monotonic() + 10
    while not all("ready" in (tmp_path / f"{n}.log").read_text() for n in names):
        assert time.monotonic() < deadline, "recorder processes did not start"
        time.sleep(0.05)
    return [item.record for item in launched], {item.record.pid: item.popen for item in launched}


def test_stop_all_stops_the_control_plane_last(tmp_path: Path) -> None:
    """Workloads and gateway are stopped before the control plane, and nothing is left running."""
    records, popens = _start_recorders(tmp_path, ["controlplane", "gateway", "reviews-v1"])
    stop_all(records, popens)
    stopped = (tmp_path / "stopped.txt").read_text().split()
    assert sorted(stopped[:2]) == ["gateway", "reviews-v1"] and stopped[2] == "controlplane"
    assert not any(r.alive() for r in records)


def test_second_demo_is_refused_and_down_stops_the_first(tmp_path: Path) -> None:
    """With a live demo recorded in demo.json, `demo` refuses to start; `demo --down` stops it."""
    records, popens = _start_recorders(tmp_path, ["controlplane", "reviews-v1"])
    DemoState(mode="detached", demo_pid=999999, started="earlier", processes=records).save(tmp_path)
    runner = CliRunner()
    again = runner.invoke(demo_command, ["--home", str(tmp_path)])
    assert again.exit_code == 1
    assert "already running" in again.output and "mizzen demo --down" in again.output
    down = runner.invoke(demo_command, ["--home", str(tmp_path), "--down"])
    assert down.exit_code == 0 and "demo stopped" in down.output
    assert not DemoState.path(tmp_path).exists()
    deadline = time.monotonic() + 10
    while any(r.alive() for r in records):
        assert time.monotonic() < deadline, "demo processes still running after --down"
        time.sleep(0.05)
    assert (tmp_path / "stopped.txt").read_text().split()[-1] == "controlplane"
    for popen in popens.values():
        popen.wait(timeout=5)  # reap: --down stops them by PID, but this test is their parent


def test_down_without_a_demo_says_so(tmp_path: Path) -> None:
    """`demo --down` with nothing recorded reports that no demo runs and succeeds."""
    result = CliRunner().invoke(demo_command, ["--home", str(tmp_path), "--down"])
    assert result.exit_code == 0 and "no demo is running" in result.output


def test_proxy_synced_needs_every_sent_type_acked() -> None:
    """A proxy counts as synced when every sent type is SYNCED; STALE, ERROR or nothing sent is not."""
    assert plan.proxy_synced({"xds": {"CDS": {"status": "SYNCED"}, "SDS": {"status": "NOT SENT"}}})
    assert not plan.proxy_synced({"xds": {"CDS": {"status": "SYNCED"}, "LDS": {"status": "STALE"}}})
    assert not plan.proxy_synced({"xds": {"CDS": {"status": "NOT SENT"}}})
    assert not plan.proxy_synced({"connected": False, "xds": {"CDS": {"status": "SYNCED"}}})


def test_wait_progress_reports_each_fact_once_and_knows_when_done() -> None:
    """Progress lines appear once per new fact; done needs registrations, sync and all three versions."""
    lines: list[str] = []
    progress = plan.WaitProgress(lines.append)
    names = {w.name for w in plan.WORKLOADS}
    progress.registered({"details-v1", "unrelated"})
    progress.registered({"details-v1"})
    assert lines == ["      details-v1 registered"]
    assert "not registered" in progress.missing()
    progress.registered(names)
    progress.synced({f"{n}.default" for n in names})
    assert not progress.proxies_ok and "istio-ingressgateway.istio-system" in progress.missing()
    progress.synced({f"{n}.default" for n in names} | {"istio-ingressgateway.istio-system"})
    for version in ("v1", "v1", None, "v3"):
        progress.page(version)
    assert not progress.done and progress.missing().endswith("v2")
    progress.page("v2")
    assert progress.done
    assert lines.count("      all 7 proxies synced") == 1
    assert lines.count("      product page served with reviews v1") == 1


def test_without_a_proxy_list_sync_is_not_required() -> None:
    """When the control plane has no proxy list, the wait relies on registration and the page."""
    progress = plan.WaitProgress(lambda _s: None)
    progress.synced(None)
    assert progress.proxies_ok


def _listen_ports(ports: plan.DemoPorts) -> dict[int, int]:
    """Gateway server port -> the port the demo's gateway binds, through the demo's Service as registered."""
    import yaml

    from mizzen.config import load_text, validate
    from mizzen.config.models import parse
    from mizzen.config.semantics.ports import gateway_listen_port
    from mizzen.registry import build_registry

    loaded = load_text(yaml.safe_dump(plan.gateway_service(ports)))
    assert loaded.report.ok and validate(loaded.resources).ok
    (svc,) = build_registry(parse(r) for r in loaded.resources).services
    pairs = [(p.number, p.target_port) for p in svc.ports]
    return {server: gateway_listen_port(server, pairs) for server in (80, 443, 8080)}


def test_demo_gateway_service_puts_bookinfo_gateway_on_the_demo_port() -> None:
    """Default ports: Istio's Service (80 -> 8080, 443 -> 8443) and Bookinfo's 8080 as written; moved
    ports: 80 and Bookinfo's 8080 bind --gateway-port, 443 binds --gateway-https-port."""
    assert _listen_ports(plan.DEFAULT_PORTS) == {80: 8080, 443: 8443, 8080: 8080}
    assert [p["port"] for p in plan.gateway_service()["spec"]["ports"]] == [80, 443]
    moved = plan.DemoPorts(api=25014, xds=25010, gateway=28080, gateway_https=28443)
    assert _listen_ports(moved) == {80: 28080, 443: 28443, 8080: 28080}
    assert moved.product_page_url == "http://127.0.0.1:28080/productpage"
    assert plan.controlplane_argv("/py", moved)[-4:] == ["--port", "25014", "--xds-port", "25010"]


def test_demo_ports_zero_picks_free_ports_and_equal_ports_are_refused() -> None:
    """--port 0 (and the others) become distinct free ports; two options on one port are an error."""
    import click
    import pytest

    from mizzen.cli.demo_cmd import resolve_ports

    picked = resolve_ports(0, 0, 0, 0)
    numbers = [picked.api, picked.xds, picked.gateway, picked.gateway_https]
    assert len(set(numbers)) == 4 and not any(port_in_use(n) for n in numbers)
    assert resolve_ports(15014, 15010, 0, 8443).gateway not in (0, 15014, 15010, 8443)
    with pytest.raises(click.BadParameter, match="--gateway-port 9000"):
        resolve_ports(15014, 15010, 9000, 9000)


def test_a_busy_demo_port_names_the_option_that_moves_it(tmp_path: Path) -> None:
    """A port held by another program stops the demo before anything starts, naming --gateway-port."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        result = CliRunner().invoke(
            demo_command, ["--home", str(tmp_path), "--gateway-port", str(busy), "--port", "0", "--xds-port", "0"]
        )
    assert result.exit_code == 1
    assert f"port {busy} (needed for the ingress gateway" in result.output and "--gateway-port N" in result.output
    assert not DemoState.path(tmp_path).exists()
