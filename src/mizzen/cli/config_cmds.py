"""``mizzen apply``, ``get``, ``delete`` and ``validate``: kubectl habits over the control plane's API.

``validate`` works offline with the same code the API runs on every write, so a file that validates
applies (unless the store changed meanwhile).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
import yaml

from mizzen.cli import workload_cmds
from mizzen.cli.client import ApiClient, ApiError, ClientError, violation_from_json
from mizzen.cli.output import table
from mizzen.config import load_paths, validate
from mizzen.config.ingress_tls_checks import ingress_tls_under_mesh_mtls
from mizzen.config.kinds import KindInfo, UnknownKindError, by_kind, resolve
from mizzen.config.loader import LoadResult, Skipped
from mizzen.config.mesh_checks import unserved_jwks_uris
from mizzen.config.namespaces import in_namespace
from mizzen.config.report import Report, Violation
from mizzen.config.rules.istio_only import unrun_kind

_FILES = click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    required=True,
    help="A file, a folder of .yaml/.yml/.json files, or - for stdin (repeatable).",
)
_RECURSIVE = click.option("-R", "--recursive", is_flag=True, help="Process folders recursively.")
_STRICT = click.option(
    "--strict",
    is_flag=True,
    help="Treat warnings (e.g. a kind or field Istio acts on that Mizzen does not) as errors: exit 1.",
)


class CommandFailed(click.ClickException):
    """A command that already printed its details and must exit 1 with a final line."""

    def show(self, file: Any = None) -> None:
        """Print the final ``error:`` line (the details were printed before the exception was raised)."""
        click.echo(f"error: {self.message}", err=True)


def _print_violations(violations: Sequence[Violation]) -> None:
    for v in violations:
        click.echo(str(v), err=True)


def _print_skipped(skipped: Sequence[Skipped]) -> None:
    for s in skipped:
        where = f"{s.file}:{s.line}" if s.line is not None else s.file
        click.echo(f"skipped: {s.kind} {s.name} ({where}){_unsupported_note(s)}")


def _unsupported_note(s: Skipped) -> str:
    """Why an Istio kind is skipped: Mizzen does not support it (some are still checked by Istio's rules)."""
    if ".istio.io/" not in s.api_version:
        return ""
    if unrun_kind(s.api_version, s.kind) is not None:
        return ": an Istio kind Mizzen does not support; validated with Istio's rules, not applied"
    return ": an Istio kind Mizzen does not support; not validated, not applied"


_NAMESPACE_FLAG = click.option(
    "-n",
    "--namespace",
    default=None,
    help="The namespace of documents that name none (a document naming another one is an error, as kubectl).",
)


def _load(files: Sequence[str], recursive: bool, namespace: str | None = None) -> tuple[LoadResult, Report]:
    """Load the inputs and, when loading found problems, validate too so every problem is reported at once."""
    loaded = load_paths(list(files), recursive=recursive)
    if namespace:
        loaded.resources[:] = [in_namespace(r, namespace, loaded.report) for r in loaded.resources]
    report = Report(list(loaded.report.violations))
    if not report.ok:
        report.extend(validate(loaded.resources).violations)
    return loaded, report


def _fail_invalid(report: Report) -> None:
    _print_violations(report.violations)
    n = len(report.errors)
    raise CommandFailed(f"{n} error{'s' if n != 1 else ''} found; nothing was applied")


def _kind_of(kind: str) -> KindInfo:
    try:
        return resolve(kind)
    except UnknownKindError as exc:
        raise ClientError(str(exc)) from None


def _not_found(info: KindInfo, name: str) -> str:
    """kubectl's line for a missing object: ``Error from server (NotFound): services "x" not found``."""
    resource = f"{info.plural}.{info.group}" if info.group else info.plural
    return f'Error from server (NotFound): {resource} "{name}" not found'


def _qualified(kind: str) -> str:
    info = by_kind(kind)
    return info.qualified if info else kind.lower()


def _refuse_warnings(warnings: Sequence[Violation]) -> None:
    """``apply --strict``: any warning stops the apply before anything is sent."""
    if warnings:
        _print_violations(warnings)
        n = len(warnings)
        raise CommandFailed(f"{n} warning{'s' if n != 1 else ''} found (--strict); nothing was applied")


def _send(client: ApiClient, loaded: LoadResult, dry_run: bool) -> dict[str, Any]:
    try:
        return client.apply(loaded.resources, dry_run=dry_run)
    except ApiError as exc:
        if exc.status == 422 and exc.violations:
            _fail_invalid(Report(exc.violations))
        raise


def _server_warnings(client: ApiClient, loaded: LoadResult) -> list[Violation]:
    """The warnings a dry-run apply gets from the server (nothing is stored)."""
    answer = _send(client, loaded, dry_run=True)
    return [v for v in (violation_from_json(w) for w in answer.get("report", [])) if v.level == "warning"]


@click.command("apply")
@_FILES
@_RECURSIVE
@click.option("--dry-run", is_flag=True, help="Validate and report what would change, without storing.")
@_STRICT
@_NAMESPACE_FLAG
@click.pass_context
def apply(
    ctx: click.Context, files: tuple[str, ...], recursive: bool, dry_run: bool, strict: bool, namespace: str | None
) -> None:
    """Apply configuration from files: every document is stored, or none is."""
    loaded, report = _load(files, recursive, namespace)
    if not report.ok:
        _fail_invalid(report)
    if strict:
        _refuse_warnings([*report.warnings, *validate(loaded.resources).warnings])
    for v in report.warnings:  # the loader's (a Gateway API kind Mizzen skips); the API reports the rest
        click.echo(f"Warning: {v}", err=True)
    if not loaded.resources:
        _print_skipped(loaded.skipped)
        if loaded.skipped:
            return
        raise CommandFailed("no objects passed to apply")
    client = ApiClient.from_context(ctx)
    if strict:  # the server's warnings too: some need the stored configuration (a jwksUri nothing serves)
        _refuse_warnings(_server_warnings(client, loaded))
    answer = _send(client, loaded, dry_run)
    suffix = " (dry run)" if dry_run else ""
    for r in answer["results"]:
        click.echo(f"{_qualified(r['kind'])}/{r['name']} {r['action']}{suffix}")
    _print_skipped(loaded.skipped)
    for v in (violation_from_json(w) for w in answer.get("report", [])):
        click.echo(f"Warning: {v}", err=True)


@click.command("get")
@click.argument("kinds")
@click.argument("names", nargs=-1)
@click.option("-n", "--namespace", default="default", show_default=True, help="The namespace to look in.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List objects in every namespace.")
@click.option("-l", "--selector", default="", help="Label selector, e.g. app=reviews,version!=v1.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json", "wide", "name"]),
    default=None,
    help="Output format (default: a table).",
)
@click.pass_context
def get(
    ctx: click.Context,
    kinds: str,
    names: tuple[str, ...],
    namespace: str,
    all_namespaces: bool,
    selector: str,
    output: str | None,
) -> None:
    """Show objects of one or more kinds (vs,dr,gw,svc,... and workloads), as kubectl does."""
    client = ApiClient.from_context(ctx)
    if kinds.lower() in workload_cmds.WORKLOAD_NAMES:
        workload_cmds.show_workloads(client, names, namespace, all_namespaces, output)
        return
    infos = [_kind_of(k) for k in kinds.split(",") if k]
    found: list[tuple[KindInfo, list[dict[str, Any]]]] = []
    missing = 0
    for info in infos:
        if names:
            objects = []
            for name in names:
                try:
                    objects.append(client.get(info, namespace, name))
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    click.echo(_not_found(info, name), err=True)
                    missing += 1
        else:
            objects = client.list_objects(info, None if all_namespaces else namespace, selector=selector)
        found.append((info, objects))
    _show(found, output, all_namespaces and not names, namespace, quiet=missing > 0)
    if missing:
        sys.exit(1)


def _show(
    found: list[tuple[KindInfo, list[dict[str, Any]]]], output: str | None, all_ns: bool, namespace: str, *, quiet: bool
) -> None:
    everything = [o for _, objs in found for o in objs]
    if output in ("yaml", "json"):
        if not everything and quiet:
            return
        doc: Any = (
            everything[0]
            if len(everything) == 1 and len(found) == 1 and found[0][1]
            else {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": everything}
        )
        if output == "json":
            click.echo(json.dumps(doc, indent=4))
        else:
            click.echo(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).rstrip())
        return
    if output == "name":
        for info, objs in found:
            for o in objs:
                click.echo(f"{info.qualified}/{o['metadata']['name']}")
        return
    if not everything:
        if not quiet:
            where = "" if all_ns else f" in {namespace} namespace"
            click.echo(f"No resources found{where}.", err=True)
        return
    tables = [
        table(info, objs, all_namespaces=all_ns, wide=output == "wide", qualify=len(found) > 1)
        for info, objs in found
        if objs
    ]
    click.echo("\n\n".join(tables))


@click.command("delete")
@click.option("-f", "--filename", "files", multiple=True, help="Delete the objects these files define.")
@_RECURSIVE
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.pass_context
def delete(ctx: click.Context, files: tuple[str, ...], recursive: bool, args: tuple[str, ...], namespace: str) -> None:
    """Delete objects named in files (-f) or by KIND NAME..."""
    source = ctx.get_parameter_source("namespace")
    given_namespace = source is not None and source != click.core.ParameterSource.DEFAULT
    if files and args:
        raise click.UsageError("give either -f FILE or KIND NAME..., not both")
    if files:
        targets = _targets_in_files(files, recursive, namespace if given_namespace else None)
    else:
        if len(args) < 2:
            raise click.UsageError("give -f FILE, or a KIND and at least one NAME")
        info = _kind_of(args[0])
        targets = [(info, namespace, name) for name in args[1:]]
    client = ApiClient.from_context(ctx)
    failed = 0
    for info, ns, name in targets:
        try:
            client.delete(info, ns, name)
        except ApiError as exc:
            if exc.status != 404:
                raise
            click.echo(_not_found(info, name), err=True)
            failed += 1
            continue
        click.echo(f'{info.qualified} "{name}" deleted')
    if failed:
        sys.exit(1)


def _targets_in_files(
    files: tuple[str, ...], recursive: bool, namespace: str | None
) -> list[tuple[KindInfo, str, str]]:
    """``(kind, namespace, name)`` of every object the files define (any error in them: nothing)."""
    loaded, report = _load(files, recursive, namespace)
    if not report.ok:
        _print_violations(report.violations)
        raise CommandFailed("the files have errors; nothing was deleted")
    _print_skipped(loaded.skipped)
    return [(info, r.namespace, r.name) for r in loaded.resources if (info := by_kind(r.kind)) is not None]


@click.command("validate")
@_FILES
@_RECURSIVE
@_STRICT
def validate_cmd(files: tuple[str, ...], recursive: bool, strict: bool) -> None:
    """Validate files offline (no control plane needed) with the same rules the API applies."""
    loaded = load_paths(list(files), recursive=recursive)
    report = Report(list(loaded.report.violations))
    report.extend(validate(loaded.resources).violations)
    if report.ok:  # offline: the files are the whole mesh this command can see
        report.extend(unserved_jwks_uris(loaded.resources, loaded.resources, where="input"))
        report.extend(ingress_tls_under_mesh_mtls(loaded.resources, loaded.resources))
    _print_skipped(loaded.skipped)
    _print_violations(report.violations)
    if not report.ok:
        n = len(report.errors)
        raise CommandFailed(f"{n} error{'s' if n != 1 else ''} found")
    if strict and report.warnings:
        n = len(report.warnings)
        raise CommandFailed(f"{n} warning{'s' if n != 1 else ''} found (--strict)")
    for name in dict.fromkeys([r.origin.file for r in loaded.resources] + [s.file for s in loaded.skipped]):
        click.echo("validation succeed" if name == "<stdin>" else f'"{name}" is valid')


COMMANDS = (apply, get, delete, validate_cmd)
