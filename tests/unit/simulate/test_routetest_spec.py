"""Bad RouteTest files: every problem at once, each with file:line, field path and a stable code."""

from __future__ import annotations

from simulate_helpers import Run, route_test

BAD = """  - name: typo
    from: {workload: client}
    request: {host: reviews, port: "9080", methd: GET}
    expect: {clustr: x}
  - name: typo
    from: {}
    request: {host: reviews, protocol: udp}
    expect: {timeout: soon, weight: 50, virtualService: 3}
  - name: nobody
    from: {workload: ghost}
    request: {host: reviews}
    expect: {status: 404}
  - name: no request
    from: {workload: client}
    expect: {}
"""


def test_bad_cases_report_line_path_and_code(run_tests: Run) -> None:
    """Typos, wrong types, bad enums and durations, missing parts, unknown senders: all reported, nothing run."""
    run, report = run_tests("", route_test(BAD))
    assert run is None
    got = sorted((v.line, v.path, v.code) for v in report.errors)
    assert got == [
        (12, "spec.cases[0].request.methd", "MZ1001"),
        (12, "spec.cases[0].request.port", "MZ1002"),
        (13, "spec.cases[0].expect.clustr", "MZ1001"),
        (14, "spec.cases[1].name", "MZ2901"),
        (15, "spec.cases[1].from", "MZ1003"),
        (16, "spec.cases[1].request.protocol", "MZ1004"),
        (17, "spec.cases[1].expect.timeout", "MZ1006"),
        (17, "spec.cases[1].expect.virtualService", "MZ1002"),
        (17, "spec.cases[1].expect.weight", "MZ2901"),
        (19, "spec.cases[2].from", "MZ2902"),
        (22, "spec.cases[3].request", "MZ1003"),
        (24, "spec.cases[3].expect", "MZ1003"),
    ]
    assert all(v.file.endswith("tests.yaml") for v in report.errors)
    messages = {v.path: v.message for v in report.errors}
    assert messages["spec.cases[0].request.methd"] == 'unknown field "methd"; did you mean "method"?'
    assert 'no workload "default/ghost"' in messages["spec.cases[2].from"]


def test_duplicate_workload_descriptions(run_tests: Run) -> None:
    """A workload described twice is an error at the second description, naming the first."""
    twice = "  workloads:\n  - {name: a, labels: {app: a}}\n  - {name: a, labels: {app: b}}\n"
    case = "  - name: c\n    from: {workload: a}\n    request: {host: reviews}\n    expect: {status: 404}\n"
    run, report = run_tests("", route_test(case, workloads=twice))
    assert run is None
    [v] = report.errors
    assert (v.code, v.path, v.line) == ("MZ2904", "spec.workloads[1].name", 7)
    assert "first at" in v.message and "tests.yaml:6" in v.message


def test_bad_config_files_stop_the_run(run_tests: Run) -> None:
    """Config errors are reported like apply's (file:line, path) and no case runs."""
    bad_vs = (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [x], htp: []}\n"
    )
    case = "  - name: c\n    from: {workload: client}\n    request: {host: reviews}\n    expect: {status: 404}\n"
    run, report = run_tests(bad_vs, route_test(case))
    assert run is None
    # line 21 of config.yaml: the bad VirtualService comes after the shared Services
    assert ("MZ1001", "spec.htp", 21) in [(v.code, v.path, v.line) for v in report.errors]
    assert all(v.file.endswith("config.yaml") for v in report.errors)
