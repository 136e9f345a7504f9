"""``mizzen analyze`` on files: exit codes 0/79/65, istioctl's log lines and verdicts, thresholds, formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mizzen.cli.analyze_cmd import analyze_command
from mizzen.testing.samples import istio_samples_dir

SAMPLES = istio_samples_dir()

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - port: 9080
    name: http
"""

BOGUS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-bogus
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews-bogus
"""

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"""
UNCONVENTIONAL = SERVICE.replace("name: http", "name: web")


def run(*args: str, cwd: Path) -> Result:
    """Invoke the command in-process (paths are absolute, so ``cwd`` only documents where files live)."""
    assert cwd.is_dir()
    return CliRunner().invoke(analyze_command, list(args), catch_exceptions=False)


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def test_clean_files_exit_0_with_the_check_mark_line(tmp_path: Path) -> None:
    """No issues: nothing on stdout, istioctl's check-mark line on stderr, exit 0."""
    result = run(write(tmp_path, "svc.yaml", SERVICE), cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "\u2714 No validation issues found when analyzing namespace: default.\n"


def test_errors_exit_79_with_log_lines(tmp_path: Path) -> None:
    """An error prints istioctl's log line on stdout and the verdict plus docs hint on stderr; exit 79."""
    path = write(tmp_path, "reviews.yaml", BOGUS)
    result = run("-f", path, cwd=tmp_path)
    assert result.exit_code == 79
    assert result.stdout == (
        f'Error [IST0101] (VirtualService default/reviews-bogus {path}:10) Referenced host not found: "reviews-bogus"\n'
    )
    assert result.stderr == (
        "Error: Analyzers found issues when analyzing namespace: default.\n"
        "See https://istio.io/latest/docs/reference/config/analysis for more information about causes and "
        "resolutions.\n"
    )


def test_info_messages_do_not_fail_by_default(tmp_path: Path) -> None:
    """Below the default failure threshold (Error) messages are printed and the exit code is 0."""
    result = run(write(tmp_path, "svc.yaml", UNCONVENTIONAL), cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stdout.startswith("Info [IST0118] (Service default/reviews ")


def test_failure_threshold_info_makes_infos_fail(tmp_path: Path) -> None:
    """``--failure-threshold Info`` turns the same Info message into exit 79."""
    result = run("--failure-threshold", "info", write(tmp_path, "svc.yaml", UNCONVENTIONAL), cwd=tmp_path)
    assert result.exit_code == 79


def test_output_threshold_hides_lower_levels_but_not_the_verdict(tmp_path: Path) -> None:
    """``--output-threshold Error`` hides the Info line; with nothing shown the check-mark line appears."""
    result = run("--output-threshold", "Error", write(tmp_path, "svc.yaml", UNCONVENTIONAL), cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No validation issues found" in result.stderr


def test_suppress_drops_the_message(tmp_path: Path) -> None:
    """``-S CODE=Kind ns/name`` removes the error, so the command succeeds."""
    path = write(tmp_path, "reviews.yaml", BOGUS)
    result = run("-S", "IST0101=VirtualService default/reviews-bogus", path, cwd=tmp_path)
    assert result.exit_code == 0
    bad = run("-S", "IST0101", path, cwd=tmp_path)
    assert bad.exit_code == 2


def test_json_output(tmp_path: Path) -> None:
    """``-o json`` prints istioctl's JSON list (and still exits 79 on errors)."""
    path = write(tmp_path, "reviews.yaml", BOGUS)
    result = run("-o", "json", path, cwd=tmp_path)
    assert result.exit_code == 79
    [item] = json.loads(result.stdout)
    assert item["code"] == "IST0101" and item["origin"] == "VirtualService default/reviews-bogus"
    assert item["reference"] == f"{path}:10"


def test_unparseable_file_exits_65(tmp_path: Path) -> None:
    """A file that is not YAML is reported and the command exits 65 ("Some files couldn't be parsed.")."""
    bad = write(tmp_path, "bad.yaml", "kind: [unclosed\n")
    result = run(bad, write(tmp_path, "svc.yaml", SERVICE), cwd=tmp_path)
    assert result.exit_code == 65
    assert "bad.yaml" in result.stderr
    assert result.stderr.endswith("Error: Some files couldn't be parsed.\n")


def test_namespace_and_all_namespaces(tmp_path: Path) -> None:
    """Issues in another namespace are ignored with ``-n default`` and found with ``-A``."""
    path = write(
        tmp_path, "team.yaml", BOGUS.replace("  name: reviews-bogus\n", "  name: reviews-bogus\n  namespace: team\n")
    )
    assert run(path, cwd=tmp_path).exit_code == 0
    result = run("-A", path, cwd=tmp_path)
    assert result.exit_code == 79
    assert "analyzing all namespaces." in result.stderr


def test_list_analyzers(tmp_path: Path) -> None:
    """``-L`` lists Istio's analyzer names with a description each, sorted, as istioctl prints them."""
    result = run("-L", cwd=tmp_path)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "* virtualservice.DestinationHostAnalyzer:" in lines
    names = [line[2:-1] for line in lines if line.startswith("* ")]
    assert names == sorted(names)
    assert all(line.startswith("    ") for line in lines if not line.startswith("* "))


def test_analyzer_selection_runs_only_the_named_analyzer(tmp_path: Path) -> None:
    """``--analyzer`` runs the named analyzer; an unknown name is ignored with a note, as istioctl ignores it."""
    bogus = write(tmp_path, "vs.yaml", BOGUS)
    result = run("--analyzer", "virtualservice.GatewayAnalyzer", "--analyzer", "no.SuchAnalyzer", bogus, cwd=tmp_path)
    assert result.exit_code == 0
    assert "IST0101" not in result.stdout
    assert "note: analyzer no.SuchAnalyzer is not one Mizzen runs" in result.stderr


@pytest.mark.istio_samples
def test_bookinfo_samples_get_istioctls_files_only_verdict(tmp_path: Path) -> None:
    """Bookinfo with all DRs, all-v1 VSs and the gateway, files only: istioctl's verdict.

    The assumed default ingress Service has no port 8080 (IST0162); no Pod runs the MySQL variants of
    ratings (IST0173, an error, so exit 79); the Deployments stand for their pods, which the CLI notes.
    """
    names = ("bookinfo.yaml", "destination-rule-all.yaml", "virtual-service-all-v1.yaml", "bookinfo-gateway.yaml")
    result = run(*(str(SAMPLES / n) for n in names), cwd=tmp_path)
    assert result.exit_code == 79
    codes = [line.split(" ")[1] for line in result.stdout.splitlines()]
    assert codes == ["[IST0173]", "[IST0173]", "[IST0140]", "[IST0162]"]
    assert "v2-mysql" in result.stdout
    assert "note: each Deployment in the input stands for a pod" in result.stderr


def test_mesh_config_file_sets_the_ingress_service(tmp_path: Path) -> None:
    """``--meshConfigFile``: with ``ingressControllerMode: "OFF"`` no default ingress gateway is assumed."""
    gw = write(tmp_path, "gw.yaml", GATEWAY)
    assert "IST0101" not in run(gw, cwd=tmp_path).stdout
    mesh = write(tmp_path, "mesh.yaml", 'ingressControllerMode: "OFF"\n')
    result = run("--meshConfigFile", mesh, gw, cwd=tmp_path)
    assert 'Referenced selector not found: "istio=ingressgateway"' in result.stdout


def test_duplicate_objects_across_files_are_input_errors(tmp_path: Path) -> None:
    """Two files defining the same VirtualService: the second is "item already exists", exit 65, no IST0109."""
    vs = BOGUS.replace("reviews-bogus\n", "reviews\n")
    first, second = write(tmp_path, "a.yaml", vs), write(tmp_path, "b.yaml", vs)
    result = run(write(tmp_path, "svc.yaml", SERVICE), first, second, cwd=tmp_path)
    assert result.exit_code == 65
    assert (
        f"{second}:4: error MZ2002 VirtualService default/reviews: metadata.name: item already exists "
        f"(first defined at {first}:1)" in result.stderr
    )
    assert "IST0109" not in result.stdout
