"""``mizzen analyze``: Istio's configuration analyzers on files, on the live mesh, or both.

Behaves like ``istioctl analyze``: messages go to stdout in ``log`` (default), ``json`` or ``yaml``;
the verdict goes to stderr. Exit codes: 0 no issue at or above ``--failure-threshold``; 79 issues
found; 65 some files could not be parsed; 2 bad usage; 1 the control plane could not be asked.
With no files, the live configuration is analyzed (as istioctl analyzes the cluster by default);
``--live`` adds the live configuration to the files, the files winning for the same object.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import click

from mizzen.cli.client import ApiClient, ApiError
from mizzen.config.analyze import (
    ANALYZERS,
    FORMATS,
    MeshConfig,
    MeshConfigError,
    Message,
    Suppression,
    SuppressionError,
    Workload,
    at_or_above,
    load_mesh_config,
    render,
    run,
)
from mizzen.config.analyze.schema import violation_messages
from mizzen.config.format import format_violation
from mizzen.config.kinds import KINDS
from mizzen.config.loader import Skipped, load_paths, to_resource
from mizzen.config.report import Violation
from mizzen.config.resource import Origin, Resource

EXIT_ISSUES = 79
EXIT_PARSE = 65
DOCS = "https://istio.io/latest/docs/reference/config/analysis"
LEVELS = ("Error", "Warning", "Info")
# Credentials and identities are never needed to analyze traffic configuration: not fetched.
LIVE_SKIPPED_KINDS = frozenset({"Secret", "ServiceAccount"})
PROXIES_PATH = "/api/mizzen/v1/proxies"

log = logging.getLogger(__name__)


def _level(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    for level in LEVELS:
        if level.lower() == value.lower():
            return level
    raise click.BadParameter(f"must be one of {', '.join(LEVELS)}")


def _suppressions(values: Sequence[str]) -> list[str]:
    """``-S`` values, each possibly a comma-separated list, checked up front."""
    out = [part.strip() for value in values for part in value.split(",") if part.strip()]
    for text in out:
        try:
            Suppression.parse(text)
        except SuppressionError as exc:
            raise click.BadParameter(str(exc), param_hint="--suppress") from exc
    return out


def live_resources(client: ApiClient) -> list[Resource]:
    """Every traffic-relevant object the control plane holds, across namespaces."""
    out: list[Resource] = []
    for info in KINDS:
        if info.kind in LIVE_SKIPPED_KINDS:
            continue
        for doc in client.list_objects(info):
            conv = to_resource(doc, Origin())
            if conv.resource is not None:
                out.append(conv.resource)
    return out


def live_workloads(client: ApiClient) -> list[Workload] | None:
    """The connected proxies (sidecars and gateways), or ``None`` if the API cannot list them."""
    try:
        body = client.get_json(PROXIES_PATH)
    except ApiError as exc:
        if exc.status != 404:
            raise
        log.info("the control plane does not list proxies (%s); workload-dependent checks are skipped", exc)
        return None
    items = body.get("items", []) if isinstance(body, dict) else []
    return [_workload(item) for item in items if isinstance(item, dict)]


def _workload(item: Mapping[str, object]) -> Workload:
    labels = item.get("labels")
    return Workload(
        str(item.get("name") or item.get("id") or ""),
        str(item.get("namespace") or "default"),
        {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def _merge(files: Sequence[Resource], live: Sequence[Resource]) -> list[Resource]:
    """Live objects overridden by file objects with the same kind, namespace and name."""
    keys = {r.key for r in files}
    return [r for r in live if r.key not in keys] + list(files)


def _dedupe(resources: Sequence[Resource]) -> tuple[list[Resource], list[Violation]]:
    """Keep the first object of each kind/namespace/name; later ones are input errors, as in istioctl
    ("item already exists"), e.g. when analysing a folder where several files define ``reviews``."""
    first: dict[tuple[str, str, str], Resource] = {}
    duplicates: list[Violation] = []
    for r in resources:
        seen = first.setdefault(r.key, r)
        if seen is not r:
            where = seen.origin.where()
            duplicates.append(
                Violation(
                    "MZ2002",
                    f"item already exists (first defined at {where})",
                    "metadata.name",
                    "error",
                    r.origin.file,
                    r.origin.line_of("metadata.name"),
                    r.ref(),
                )
            )
    return list(first.values()), duplicates


# Mizzen's "validated, not applied" warnings: notes beside istioctl's messages, not messages of their own.
NOT_APPLIED_CODES = frozenset({"MZ2805"})


def _is_parse_problem(v: Violation) -> bool:
    # MZ00xx: reading and parsing (see mizzen.config.codes); nothing to attach an analysis message to.
    return v.level == "error" and (v.code.startswith("MZ00") or not v.resource)


@click.command("analyze")
@click.argument("paths", nargs=-1)
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    help="A file, a folder of .yaml/.yml/.json files, or - for stdin (repeatable).",
)
@click.option("-R", "--recursive", is_flag=True, help="Process folders recursively.")
@click.option("--live", is_flag=True, help="Also analyze the configuration the control plane holds.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Report issues in every namespace.")
@click.option("-n", "--namespace", default="default", show_default=True, help="Report issues in this namespace.")
@click.option("-o", "--output", "fmt", type=click.Choice(FORMATS), default="log", show_default=True)
@click.option(
    "-S",
    "--suppress",
    multiple=True,
    metavar="CODE=Kind ns/name",
    help='Suppress matching messages, e.g. "IST0102=Namespace frod" (wildcards allowed; repeatable).',
)
@click.option(
    "--failure-threshold",
    default="Error",
    show_default=True,
    callback=_level,
    help="Lowest level (Info, Warning, Error) that makes the command fail with exit code 79.",
)
@click.option(
    "--output-threshold",
    default="Info",
    show_default=True,
    callback=_level,
    help="Lowest level (Info, Warning, Error) to print.",
)
@click.option("-L", "--list-analyzers", is_flag=True, help="List the analyzers and exit.")
@click.option(
    "--analyzer",
    "selected",
    multiple=True,
    metavar="NAME",
    help="Run only this analyzer (Istio's name, see -L; repeatable).",
)
@click.option(
    "--meshConfigFile",
    "mesh_config_file",
    type=click.Path(dir_okay=False),
    help="A MeshConfig YAML file to analyze with (default: Istio's defaults).",
)
@click.pass_context
def analyze_command(
    ctx: click.Context,
    paths: tuple[str, ...],
    files: tuple[str, ...],
    recursive: bool,
    live: bool,
    all_namespaces: bool,
    namespace: str,
    fmt: str,
    suppress: tuple[str, ...],
    failure_threshold: str,
    output_threshold: str,
    list_analyzers: bool,
    selected: tuple[str, ...],
    mesh_config_file: str | None,
) -> None:
    """Analyze Istio configuration and report potential issues, as istioctl analyze does."""
    if list_analyzers:
        _list_analyzers()
        return
    suppressions = _suppressions(suppress)
    mesh = _mesh_config(mesh_config_file)
    found = _gather(ctx, [*files, *paths], recursive, live)
    analysis = run(
        found.resources,
        skipped=found.skipped,
        workloads=found.workloads,
        mesh_config=mesh,
        files_only=found.files_only,
        analyzers=selected,
        namespace=namespace,
        all_namespaces=all_namespaces,
        suppress=suppressions,
        extra_messages=found.extra,
    )
    for note in analysis.notes:
        click.echo(f"note: {note}", err=True)
    messages = analysis.messages
    target = "all namespaces" if all_namespaces else f"namespace: {namespace}"
    _print(at_or_above(messages, output_threshold), fmt, target, found.parse_errors)
    if at_or_above(messages, failure_threshold):
        click.echo(f"Error: Analyzers found issues when analyzing {target}.", err=True)
        click.echo(f"See {DOCS} for more information about causes and resolutions.", err=True)
        sys.exit(EXIT_ISSUES)
    if found.parse_errors:
        click.echo("Error: Some files couldn't be parsed.", err=True)
        sys.exit(EXIT_PARSE)


def _list_analyzers() -> None:
    """istioctl's ``-L`` listing: each analyzer's name and description, sorted by name."""
    for name, description, _ in sorted(ANALYZERS, key=lambda a: a[0]):
        click.echo(f"* {name}:\n    {description}")


def _mesh_config(path: str | None) -> MeshConfig | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return load_mesh_config(fh.read())
    except (OSError, MeshConfigError) as exc:
        raise click.BadParameter(str(exc), param_hint="--meshConfigFile") from exc


@dataclass
class _Inputs:
    """What to analyze: resources, Kubernetes objects, running workloads (``None``: files only), problems."""

    resources: list[Resource]
    skipped: list[Skipped]
    workloads: list[Workload] | None
    parse_errors: list[Violation]
    extra: list[Message]
    files_only: bool


def _gather(ctx: click.Context, inputs: list[str], recursive: bool, live: bool) -> _Inputs:
    """Load the files (reporting unparseable ones) and, with ``--live`` or no files, the live mesh."""
    loaded = load_paths(inputs, recursive=recursive) if inputs else None
    problems = list(loaded.report.violations) if loaded else []
    resources, duplicates = _dedupe(loaded.resources if loaded else [])
    parse_errors = [v for v in problems if _is_parse_problem(v)] + duplicates
    for v in parse_errors:
        click.echo(format_violation(v), err=True)
    for v in problems:  # what Istio would act on and Mizzen validates without applying (an EnvoyFilter)
        if v.code in NOT_APPLIED_CODES:
            click.echo(f"note: {format_violation(v)}", err=True)
    workloads: list[Workload] | None = None
    files_only = not live and bool(inputs)
    if not files_only:
        client = ApiClient.from_context(ctx)
        try:
            resources = _merge(resources, live_resources(client))
            workloads = live_workloads(client)
        finally:
            client.close()
    extra = violation_messages(v for v in problems if not _is_parse_problem(v))
    skipped = list(loaded.skipped) if loaded else []
    return _Inputs(resources, skipped, workloads, parse_errors, extra, files_only)


def _print(shown: Sequence[Message], fmt: str, target: str, parse_errors: Sequence[Violation]) -> None:
    """Messages on stdout; with none in ``log`` format, istioctl's "No validation issues" line on stderr."""
    if shown or fmt != "log":
        click.echo(render(shown, fmt), nl=False)
    elif not parse_errors:
        click.echo(f"\u2714 No validation issues found when analyzing {target}.", err=True)
    else:
        n = len({v.file for v in parse_errors})
        click.echo(
            f"No validation issues found when analyzing {target} (but {n} file{'s' if n != 1 else ''} "
            "could not be parsed).",
            err=True,
        )


COMMANDS: tuple[click.Command, ...] = (analyze_command,)
