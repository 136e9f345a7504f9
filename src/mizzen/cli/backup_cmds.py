"""``mizzen backup`` and ``mizzen restore``: every stored object to a YAML or JSON file and back.

Both go through the control plane's API, so they work the same on every store (SQLite, PostgreSQL)
and move a mesh from one to another: ``backup`` on the old control plane, ``restore`` on the new one.
A backup holds each object's kind, name, namespace, labels, annotations and spec (and the body of a
Secret), not the server's metadata (uid, resourceVersion, generation, creationTimestamp): a restore
is an apply of the whole file in one transaction (every object stored, or none), so it is also safe
to repeat. The file may hold Secrets, so it is written readable by its owner only.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from mizzen.cli.client import ApiClient, ApiError, violation_from_json
from mizzen.cli.config_cmds import CommandFailed
from mizzen.config import load_paths, validate
from mizzen.config.kinds import KINDS, by_kind
from mizzen.config.report import Report
from mizzen.config.resource import Resource

SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
"""Metadata the server sets; a backup leaves it out and a restore lets the new store set it again."""

_ORDER = {info.kind: index for index, info in enumerate(KINDS)}


def portable(doc: dict[str, Any]) -> dict[str, Any]:
    """An object as returned by the API, without the server-set metadata."""
    out = dict(doc)
    meta = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in SERVER_FIELDS and v not in ({}, None)}
    out["metadata"] = meta
    return out


def collect(client: ApiClient) -> list[dict[str, Any]]:
    """Every stored object of every kind, in kind-table order, then by namespace and name."""
    docs = [portable(doc) for info in KINDS for doc in client.list_objects(info)]
    return sorted(docs, key=_sort_key)


def _sort_key(doc: dict[str, Any]) -> tuple[int, str, str]:
    meta = doc.get("metadata") or {}
    return _ORDER.get(str(doc.get("kind")), len(_ORDER)), str(meta.get("namespace", "")), str(meta.get("name", ""))


def render(docs: list[dict[str, Any]], fmt: str, source: str) -> str:
    """The backup text: a YAML stream with a header comment, or a JSON ``List``."""
    if fmt == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}, indent=2, sort_keys=True) + "\n"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = f"# Mizzen backup of {len(docs)} objects from {source} at {stamp}; restore with `mizzen restore FILE`\n"
    return header + yaml.safe_dump_all(docs, sort_keys=True, explicit_start=True, default_flow_style=False)


def _write_private(path: Path, text: str) -> None:
    # Created with owner-only permissions from the start (a Secret must never be readable by others).
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


@click.command("backup")
@click.option("-o", "--output", "output", default="-", help="The file to write (- for stdout).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default=None,
    help="yaml (default) or json; taken from the file's suffix when not given.",
)
@click.pass_context
def backup(ctx: click.Context, output: str, fmt: str | None) -> None:
    """Write every stored object to a YAML or JSON file (restore it with `mizzen restore`)."""
    fmt = fmt or ("json" if output.lower().endswith(".json") else "yaml")
    client = ApiClient.from_context(ctx)
    docs = collect(client)
    text = render(docs, fmt, client.address)
    if output == "-":
        sys.stdout.write(text)
        return
    _write_private(Path(output), text)
    kinds = sorted({str(d["kind"]) for d in docs}, key=lambda k: _ORDER.get(k, len(_ORDER)))
    click.echo(f"backed up {len(docs)} objects ({', '.join(kinds) or 'none'}) to {output}")


@click.command("restore")
@click.argument("file")
@click.option("--dry-run", is_flag=True, help="Validate and report what would change, without storing.")
@click.pass_context
def restore(ctx: click.Context, file: str, dry_run: bool) -> None:
    """Apply a backup file (YAML or JSON) in one transaction: every object is stored, or none is."""
    resources = _load_backup(file)
    try:
        answer = ApiClient.from_context(ctx).apply(resources, dry_run=dry_run)
    except ApiError as exc:
        if exc.status == 422 and exc.violations:
            for v in exc.violations:
                click.echo(str(v), err=True)
            raise CommandFailed(f"the control plane refused {file}; nothing was restored") from None
        raise
    _print_results(answer, dry_run)


def _load_backup(file: str) -> list[Resource]:
    """The objects of a backup file, checked here first: any error (or a kind Mizzen does not store)
    fails the restore before the control plane is asked."""
    loaded = load_paths([file])
    report = Report(list(loaded.report.violations))
    if report.ok and loaded.skipped:
        kinds = ", ".join(sorted({s.kind for s in loaded.skipped}))
        raise CommandFailed(f"{file} holds kinds Mizzen does not store ({kinds}); is it a Mizzen backup?")
    if report.ok:
        report.extend(validate(loaded.resources).violations)
    if not report.ok:
        for v in report.violations:
            click.echo(str(v), err=True)
        raise CommandFailed(f"{len(report.errors)} errors in {file}; nothing was restored")
    if not loaded.resources:
        raise CommandFailed(f"{file} holds no objects; nothing was restored")
    return loaded.resources


def _print_results(answer: dict[str, Any], dry_run: bool) -> None:
    """One line per object and what the apply did to it, the server's warnings, then the totals."""
    counts: dict[str, int] = {}
    for r in answer["results"]:
        counts[r["action"]] = counts.get(r["action"], 0) + 1
        info = by_kind(r["kind"])
        click.echo(f"{info.qualified if info else r['kind']}/{r['name']} {r['action']}")
    for v in (violation_from_json(w) for w in answer.get("report", [])):
        click.echo(f"Warning: {v}", err=True)
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    click.echo(f"{'would restore' if dry_run else 'restored'} {len(answer['results'])} objects ({summary})")


COMMANDS = (backup, restore)
