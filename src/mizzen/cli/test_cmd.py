"""``mizzen test``: routing assertions (RouteTest files) checked offline against the translator's output.

    mizzen test -f mesh/ -t routetests/            # config files + tests; no process needs to run
    mizzen test --live -t routetests/ -o junit     # the running control plane's config instead
    mizzen test -f mesh/ --explain --from productpage-v1 --request 'GET http://reviews:9080/ end-user=jason'

Exit codes: 0 every case passed; 1 a case failed; 2 bad usage; 3 the config or test files have errors
(nothing was run); 4 the control plane could not be asked (``--live``).

This command imports :mod:`mizzen.simulate` in-process (a deliberate exception to "the CLI talks HTTP
only"): it must work offline, in CI, with no control plane at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mizzen.cli.analyze_cmd import PROXIES_PATH, live_resources
from mizzen.cli.client import ApiClient, ClientError
from mizzen.config.format import format_violation
from mizzen.config.report import Report
from mizzen.simulate import inputs, report, runner
from mizzen.simulate.cmdline import CommandLineError, parse_from, parse_request
from mizzen.translate.model import MeshConfig

EXIT_FAILED = 1
EXIT_INPUT = 3
EXIT_UNREACHABLE = 4


@click.command("test")
@click.option("-f", "--filename", "config", multiple=True, help="Config: a file, a folder, or - (repeatable).")
@click.option("-t", "--tests", "tests", multiple=True, help="RouteTest files or folders (repeatable).")
@click.option("-R", "--recursive", is_flag=True, help="Read folders recursively.")
@click.option("--live", is_flag=True, help="Test the running control plane's config (files given with -f win).")
@click.option("--mesh-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="mesh.yaml.")
@click.option("-o", "--output", "fmt", type=click.Choice(report.FORMATS), default="text", show_default=True)
@click.option("--junit-file", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML here.")
@click.option("-v", "--verbose", is_flag=True, help="Show what each passing case did too.")
@click.option("--explain", is_flag=True, help="Print the decision path of one request (--from, --request).")
@click.option("--from", "source", metavar="WORKLOAD", help="NAME[.NS], gateway:NAME[.NS] or k=v,... labels.")
@click.option("--request", "request", metavar="REQUEST", help="'[METHOD] URL [header=value...]'.")
@click.pass_context
def test_command(
    ctx: click.Context,
    config: tuple[str, ...],
    tests: tuple[str, ...],
    recursive: bool,
    live: bool,
    mesh_config: Path | None,
    fmt: str,
    junit_file: Path | None,
    verbose: bool,
    explain: bool,
    source: str | None,
    request: str | None,
) -> None:
    """Check routing assertions: where does a request from X with these headers go?"""
    if explain and not (source and request):
        raise click.UsageError("--explain needs --from and --request")
    if not explain and not (config or tests or live):
        raise click.UsageError("give config with -f (or --live) and RouteTest files with -t")
    try:
        settings = inputs.mesh_config(mesh_config)
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--mesh-config") from exc
    found = inputs.read_files(config, tests, recursive=recursive)
    if live:
        found = _with_live(ctx, found)
    if explain:
        assert source is not None and request is not None
        _explain(found, settings, source, request)
        return
    if not found.tests and found.report.ok:
        raise click.UsageError("no RouteTest documents found in the given files")
    plan, problems = runner.prepare(found.config, found.tests, settings, found.workloads)
    _exit_on_errors(found.report, problems)
    assert plan is not None
    run = runner.run(plan)
    click.echo(report.render(run, fmt, verbose=verbose), nl=False)
    if junit_file is not None:
        junit_file.write_text(report.junit(run), encoding="utf-8")
    if not run.passed:
        sys.exit(EXIT_FAILED)


def _exit_on_errors(*reports: Report) -> None:
    errors = [v for r in reports for v in r.errors]
    for v in errors:
        click.echo(format_violation(v), err=True)
    if errors:
        click.echo(f"error: {len(errors)} problem(s) in the input files; no case was run", err=True)
        sys.exit(EXIT_INPUT)


def _with_live(ctx: click.Context, found: inputs.Inputs) -> inputs.Inputs:
    try:
        client = ApiClient.from_context(ctx)
        try:
            return read_live(client, found)
        finally:
            client.close()
    except ClientError as exc:
        click.echo(f"error: cannot read the live mesh: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)


def read_live(client: ApiClient, found: inputs.Inputs) -> inputs.Inputs:
    """``found`` with the control plane's config under it and its connected proxies as workloads."""
    resources = live_resources(client)
    body = client.get_json(PROXIES_PATH)
    items = body.get("items", []) if isinstance(body, dict) else []
    proxies = [w for item in items if isinstance(item, dict) and (w := inputs.live_workload(item)) is not None]
    return inputs.merge_live(found, resources, proxies)


def _explain(found: inputs.Inputs, settings: MeshConfig, source: str, request: str) -> None:
    try:
        src, req = parse_from(source), parse_request(request)
    except CommandLineError as exc:
        raise click.UsageError(str(exc)) from exc
    lines, problems = runner.explain(found.config, found.tests, settings, src, req, found.workloads)
    _exit_on_errors(found.report, problems)
    for line in lines:
        click.echo(line)


COMMANDS: tuple[click.Command, ...] = (test_command,)
