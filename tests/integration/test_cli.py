"""The mizzen CLI against a real control-plane process over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import mizzen.samples
from mizzen.testing.controlplane import MizzenCli, RunningControlPlane, cli_runner, free_port
from mizzen.testing.samples import istio_sample_files, istio_samples_dir

# Istio's own files (tests marked istio_samples) and the copy shipped with Mizzen, which means the same
# (tests/unit/samples pins that) and serves the tests about the CLI's mechanics in a fresh clone too.
SAMPLES = istio_samples_dir()
SAMPLE_FILES = istio_sample_files()
SHIPPED = Path(mizzen.samples.__file__).parent / "bookinfo" / "networking"
PLATFORM = Path(mizzen.samples.__file__).parent / "bookinfo" / "platform" / "bookinfo.yaml"
GET_KINDS = {
    "VirtualService": "virtualservice.networking.istio.io",
    "DestinationRule": "destinationrule.networking.istio.io",
    "Gateway": "gateway.networking.istio.io",
    "Service": "service",
}
VIOLATION_LINE = re.compile(r"^(?P<file>\S+):(?P<line>\d+): error (?P<code>MZ\d{4}) \S+ \S+: (?P<path>[^:]+): .+$")

BAD = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: fine-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weigth: 50
    timeout: 5x
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp:
        connectTimeout: abc
  subsets:
  - name: v1
    labels:
      version: v1
    extra: 1
"""


def _defined(files: list[Path]) -> set[tuple[str, str, str]]:
    """(qualified kind, namespace, name) of the VS/DR/GW/Service documents in ``files`` (read with plain YAML)."""
    out = set()
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") in GET_KINDS:
                meta = doc["metadata"]
                out.add((GET_KINDS[doc["kind"]], meta.get("namespace", "default"), meta["name"]))
    return out


@pytest.mark.istio_samples
def test_all_istio_samples_apply_and_reapply_unchanged(mizzen: MizzenCli) -> None:
    """Every Istio sample file applies unchanged; applying it again reports every object unchanged."""
    assert len(SAMPLE_FILES) >= 22
    for f in SAMPLE_FILES:
        first = mizzen("apply", "-f", str(f))
        assert first.exit_code == 0, f"{f.name}: {first.stderr}"
        assert first.stdout.strip(), f.name
        again = mizzen("apply", "-f", str(f))
        assert again.exit_code == 0, again.stderr
        actions = [line.split()[-1] for line in again.stdout.splitlines() if not line.startswith("skipped:")]
        assert actions and set(actions) == {"unchanged"}, (f.name, again.stdout)


@pytest.mark.istio_samples
def test_bookinfo_skips_deployments_with_lines(mizzen: MizzenCli) -> None:
    """Kinds Mizzen does not run are reported as skipped with file:line and never block the rest."""
    r = mizzen("apply", "-f", str(SAMPLES / "bookinfo.yaml"))
    assert r.exit_code == 0, r.stderr
    assert "service/reviews created" in r.stdout
    assert "serviceaccount/bookinfo-reviews created" in r.stdout
    skipped = [line for line in r.stdout.splitlines() if line.startswith("skipped: Deployment")]
    assert len(skipped) == 6
    assert re.fullmatch(r"skipped: Deployment details-v1 \(.*bookinfo\.yaml:\d+\)", skipped[0])


@pytest.mark.istio_samples
def test_get_lists_what_the_samples_define(mizzen: MizzenCli) -> None:
    """`mizzen get vs,dr,gw,svc -A` lists every VS, DR, Gateway and Service the samples define."""
    for f in SAMPLE_FILES:
        assert mizzen("apply", "-f", str(f)).exit_code == 0
    r = mizzen("get", "vs,dr,gw,svc", "-A")
    assert r.exit_code == 0, r.stderr
    listed = set()
    for line in r.stdout.splitlines():
        cells = line.split()
        if cells and cells[0] != "NAMESPACE":
            kind, name = cells[1].split("/", 1)
            listed.add((kind, cells[0], name))
    assert listed == _defined(SAMPLE_FILES)
    assert re.search(r"^NAMESPACE\s+NAME\s+GATEWAYS\s+HOSTS\s+AGE$", r.stdout, re.M)
    assert re.search(r"^NAMESPACE\s+NAME\s+HOST\s+AGE$", r.stdout, re.M)
    assert re.search(r'virtualservice\.networking\.istio\.io/bookinfo\s+\["bookinfo-gateway"\]\s+\["\*"\]', r.stdout)


def test_get_formats(mizzen: MizzenCli) -> None:
    """get prints a table, names, YAML and JSON like kubectl, for one object or several."""
    assert mizzen("apply", "-f", str(PLATFORM)).exit_code == 0
    table = mizzen("get", "svc")
    assert table.stdout.splitlines()[0].split() == ["NAME", "TYPE", "PORT(S)", "AGE"]
    assert re.search(r"^reviews\s+ClusterIP\s+9080/TCP\s+\d+s$", table.stdout, re.M)
    wide = mizzen("get", "services", "-o", "wide")
    assert "SELECTOR" in wide.stdout and "app=reviews" in wide.stdout
    names = mizzen("get", "svc", "-o", "name").stdout.split()
    assert names == ["service/details", "service/productpage", "service/ratings", "service/reviews"]
    assert mizzen("get", "svc", "-l", "app=ratings", "-o", "name").stdout.split() == ["service/ratings"]
    one = yaml.safe_load(mizzen("get", "svc", "reviews", "-o", "yaml").stdout)
    assert one["kind"] == "Service" and one["metadata"]["name"] == "reviews" and one["metadata"]["uid"]
    many = json.loads(mizzen("get", "svc", "-o", "json").stdout)
    assert many["kind"] == "List" and len(many["items"]) == 4


def test_get_missing_and_empty(mizzen: MizzenCli) -> None:
    """A missing named object is a NotFound error (exit 1); an empty list says so (exit 0)."""
    r = mizzen("get", "vs", "nope")
    assert r.exit_code == 1
    assert 'Error from server (NotFound): virtualservices.networking.istio.io "nope" not found' in r.stderr
    r = mizzen("get", "dr", "-n", "prod")
    assert r.exit_code == 0 and "No resources found in prod namespace." in r.stderr


def test_rejected_file_reports_every_mistake_and_changes_nothing(mizzen: MizzenCli, tmp_path: Path) -> None:
    """A file with several mistakes is rejected whole; each mistake has file:line, path and code."""
    before = mizzen("apply", "-f", str(SHIPPED / "destination-rule-reviews.yaml"))
    assert before.exit_code == 0
    snapshot = mizzen("get", "vs,dr,gw", "-A", "-o", "json").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    r = mizzen("apply", "-f", str(bad))
    assert r.exit_code == 1
    found = {
        (int(m["line"]), m["code"], m["path"])
        for m in map(VIOLATION_LINE.match, r.stderr.splitlines())
        if m and m["file"] == str(bad)
    }
    assert {
        (24, "MZ1001", "spec.http[0].route[0].weigth"),
        (25, "MZ1006", "spec.http[0].timeout"),
        (36, "MZ1006", "spec.trafficPolicy.connectionPool.tcp.connectTimeout"),
        (41, "MZ1001", "spec.subsets[0].extra"),
    } <= found
    assert "nothing was applied" in r.stderr
    assert mizzen("get", "vs,dr,gw", "-A", "-o", "json").stdout == snapshot
    assert mizzen("get", "gw", "fine-gateway").exit_code == 1


def test_apply_stdin_and_dry_run(mizzen: MizzenCli) -> None:
    """apply -f - reads stdin; --dry-run reports without storing."""
    text = (SHIPPED / "virtual-service-reviews-v3.yaml").read_text()
    r = mizzen("apply", "-f", "-", "--dry-run", input=text)
    assert r.stdout.strip() == "virtualservice.networking.istio.io/reviews created (dry run)"
    assert mizzen("get", "vs", "reviews").exit_code == 1
    r = mizzen("apply", "-f", "-", input=text)
    assert r.stdout.strip() == "virtualservice.networking.istio.io/reviews created"
    r = mizzen("apply", "-f", str(SHIPPED / "virtual-service-reviews-v2-v3.yaml"))
    assert r.stdout.strip() == "virtualservice.networking.istio.io/reviews configured"


def test_apply_folder_recursive(mizzen: MizzenCli, tmp_path: Path) -> None:
    """A folder applies its YAML files; -R descends into subfolders."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "gw.yaml").write_text((SHIPPED / "bookinfo-gateway.yaml").read_text())
    (tmp_path / "sub" / "dr.yaml").write_text((SHIPPED / "destination-rule-reviews.yaml").read_text())
    flat = mizzen("apply", "-f", str(tmp_path))
    assert "destinationrule" not in flat.stdout and "gateway.networking.istio.io/bookinfo-gateway" in flat.stdout
    deep = mizzen("apply", "-f", str(tmp_path), "-R")
    assert "destinationrule.networking.istio.io/reviews created" in deep.stdout


def test_delete_by_file_and_by_name(mizzen: MizzenCli) -> None:
    """delete -f removes what a file defines; delete KIND NAME removes one object; missing ones fail."""
    gw = str(SHIPPED / "bookinfo-gateway.yaml")
    mizzen("apply", "-f", gw)
    mizzen("apply", "-f", str(SHIPPED / "destination-rule-reviews.yaml"))
    r = mizzen("delete", "-f", gw)
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        'gateway.networking.istio.io "bookinfo-gateway" deleted',
        'virtualservice.networking.istio.io "bookinfo" deleted',
    ]
    r = mizzen("delete", "dr", "reviews")
    assert r.exit_code == 0 and 'destinationrule.networking.istio.io "reviews" deleted' in r.stdout
    r = mizzen("delete", "dr", "reviews")
    assert r.exit_code == 1 and "NotFound" in r.stderr
    assert "No resources found" in mizzen("get", "vs,dr,gw").stderr


def test_unknown_kind(mizzen: MizzenCli) -> None:
    """An unknown kind is a one-line error and exit code 1."""
    r = mizzen("get", "foo")
    assert r.exit_code == 1
    assert r.stderr.strip() == 'error: the server doesn\'t have a resource type "foo"'


def test_bad_token(mizzen: MizzenCli) -> None:
    """A wrong token gives one clear line and exit code 1."""
    r = mizzen("get", "vs", extra_env={"MIZZEN_TOKEN": "not-the-token"})
    assert r.exit_code == 1
    assert r.stderr.startswith("error: the control plane at http://127.0.0.1:")
    assert "rejected the API token" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unreachable_control_plane(tmp_path: Path) -> None:
    """With no control plane listening, every API command says so in one line and exits 1."""
    address = f"http://127.0.0.1:{free_port()}"
    run = cli_runner({"MIZZEN_ADDRESS": address, "MIZZEN_TOKEN": "x", "MIZZEN_HOME": str(tmp_path)})
    for args in (("get", "vs"), ("apply", "-f", str(SHIPPED / "bookinfo-gateway.yaml")), ("delete", "vs", "a")):
        r = run(*args)
        assert r.exit_code == 1, args
        assert r.stderr.strip() == (
            f"error: cannot reach the Mizzen control plane at {address}: is it running? (mizzen up)"
        )


def test_usage_errors_exit_2(mizzen: MizzenCli) -> None:
    """Usage mistakes exit with code 2."""
    assert mizzen("apply").exit_code == 2
    assert mizzen("get").exit_code == 2
    assert mizzen("delete", "vs").exit_code == 2
    assert mizzen("get", "vs", "-o", "xml").exit_code == 2


def test_validate_offline(tmp_path: Path) -> None:
    """validate needs no control plane: samples are valid, a bad file lists every error and exits 1."""
    run = cli_runner({"MIZZEN_ADDRESS": f"http://127.0.0.1:{free_port()}", "MIZZEN_HOME": str(tmp_path)})
    ok = run("validate", "-f", str(SHIPPED / "virtual-service-all-v1.yaml"))
    assert ok.exit_code == 0 and ok.stdout.strip().endswith('virtual-service-all-v1.yaml" is valid')
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    r = run("validate", "-f", str(bad))
    assert r.exit_code == 1
    assert len([line for line in r.stderr.splitlines() if VIOLATION_LINE.match(line)]) >= 4
    assert r.stderr.strip().splitlines()[-1].startswith("error: ")


def test_console_script_exit_codes(controlplane: RunningControlPlane) -> None:
    """The installed entry point (python -m mizzen.cli.main) applies over HTTP and exits 0, or 1 on errors."""
    env = {**controlplane.env(), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "mizzen.cli.main"]
    ok = subprocess.run(
        [*cmd, "apply", "-f", str(SHIPPED / "bookinfo-gateway.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "gateway.networking.istio.io/bookinfo-gateway created" in ok.stdout
    bad = subprocess.run(
        [*cmd, "get", "vs", "-n", "default"],
        env={**env, "MIZZEN_TOKEN": "nope"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "rejected the API token" in bad.stderr


def test_up_status_down(tmp_path: Path) -> None:
    """up starts a background control plane (pid and log in MIZZEN_HOME), status reports it, down stops it."""
    home = tmp_path / "home"
    port, xds = free_port(), free_port()
    run = cli_runner({"MIZZEN_HOME": str(home)})
    r = run("up", "--port", str(port), "--xds-port", str(xds), "--timeout", "120")
    try:
        assert r.exit_code == 0, r.stderr
        assert f"mesh root: {home.resolve() / 'root-cert.pem'} (SHA-256 " in r.stdout  # for agents on other hosts
        pid = int((home / "controlplane.pid").read_text())
        assert (home / "controlplane.log").exists()
        st = run("status")
        assert st.exit_code == 0 and f"running (pid {pid}), ready" in st.stdout
        # The CLI finds the address the control plane wrote, and the token in MIZZEN_HOME.
        assert run("apply", "-f", str(SHIPPED / "bookinfo-gateway.yaml")).exit_code == 0
        again = run("up", "--port", str(port), "--xds-port", str(xds))
        assert again.exit_code == 1 and "already running" in again.stderr
    finally:
        down = run("down")
    assert down.exit_code == 0 and "stopped" in down.stdout
    assert run("status").exit_code == 1


@pytest.mark.istio_samples
def test_the_whole_samples_folder_applies_in_one_command_last_definition_wins(mizzen: MizzenCli) -> None:
    """`apply -f <folder>` applies every file in name order like kubectl: a redefined object ends as its last form."""
    r = mizzen("apply", "-f", str(SAMPLES))
    assert r.exit_code == 0, r.stderr
    assert "virtualservice.networking.istio.io/reviews created" in r.stdout
    assert "MZ2002" in r.stderr  # the redefinitions are reported as warnings
    got = mizzen("get", "vs", "reviews", "-o", "json")
    assert got.exit_code == 0, got.stderr
    # virtual-service-reviews-v3.yaml sorts last among the files defining `reviews`.
    assert json.loads(got.stdout)["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v3"
