"""``runner pipeline upload | list | versions | show | diff``: the pipeline registry.

Versions live in the store beside the specs and code packages they name
(:mod:`runner.lifecycle.registry`); only the store is needed, not NATS.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import STORE_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.render import format_table, format_time, format_value, short_digest
from runner.config import Settings
from runner.dsl.loader import load_pipeline
from runner.lifecycle.diff import Changes, SpecDiff, diff_specs
from runner.lifecycle.registry import PipelineRegistry, upload_pipeline
from runner.records.pipelines import PipelineRef
from runner.spec.models import PipelineSpec
from runner.store.factory import open_store

__all__ = ["register"]

T = TypeVar("T")

pipeline_app = typer.Typer(help="Registered pipeline versions.", no_args_is_help=True)

RefArgument = Annotated[str, typer.Argument(metavar="NAME@VERSION", help="e.g. iris@v2")]


async def _with_registry(settings: Settings, use: Callable[[PipelineRegistry], Awaitable[T]]) -> T:
    store = open_store(settings.store_uri(), settings.storage)
    try:
        return await use(PipelineRegistry(store))
    finally:
        await store.close()


@pipeline_app.command("upload")
@settings_options(*STORE_FLAGS)
def upload_command(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(metavar="PATH[:FUNC]", help="path/to/pipeline.py[:pipeline_func]")
    ],
    version: Annotated[
        str | None,
        typer.Option("--version", help="Version name (default: 12 hex of the spec digest)."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="What this version is.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Store a pipeline's compiled spec and code package as an immutable version."""
    with user_errors():
        settings = settings_of(ctx)
        loaded = load_pipeline(target)

        async def upload(registry: PipelineRegistry) -> tuple[PipelineRef, bool]:
            return await upload_pipeline(
                registry.store, loaded, version=version, description=description
            )

        record, created = run_async(_with_registry(settings, upload))
    if json_output:
        typer.echo(json.dumps({**record.model_dump(mode="json"), "created": created}, indent=2))
        return
    what = "uploaded" if created else "already registered with the same content:"
    typer.echo(
        f"{what} {record.ref} (spec {short_digest(record.digest)}, "
        f"code {short_digest(record.code.digest if record.code else '-')})"
    )


@pipeline_app.command("list")
@settings_options(*STORE_FLAGS)
def list_command(
    ctx: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """List registered pipelines with their latest version."""
    with user_errors():
        settings = settings_of(ctx)

        async def collect(registry: PipelineRegistry) -> list[list[PipelineRef]]:
            return [await registry.versions(n) for n in await registry.names()]

        found = run_async(_with_registry(settings, collect))
    if json_output:
        rows = [
            {"name": v[-1].name, "versions": len(v), "latest": v[-1].model_dump(mode="json")}
            for v in found
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not found:
        typer.echo("no registered pipelines", err=True)
        return
    table = [
        [v[-1].name, str(len(v)), v[-1].version or "-", format_time(v[-1].created_at), _text(v[-1])]
        for v in found
    ]
    typer.echo(format_table(["PIPELINE", "VERSIONS", "LATEST", "UPLOADED", "DESCRIPTION"], table))


def _text(record: PipelineRef, limit: int = 50) -> str:
    text = " ".join((record.description or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@pipeline_app.command("versions")
@settings_options(*STORE_FLAGS)
def versions_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A registered pipeline.")],
    json_output: JsonOption = False,
) -> None:
    """List the versions of a pipeline, newest first."""
    with user_errors():
        versions = run_async(_with_registry(settings_of(ctx), lambda r: r.versions(name)))[::-1]
    if json_output:
        typer.echo(json.dumps([v.model_dump(mode="json") for v in versions], indent=2))
        return
    rows = [
        [
            v.version or "-",
            format_time(v.created_at),
            short_digest(v.digest),
            short_digest(v.code.digest) if v.code else "-",
            _text(v),
        ]
        for v in versions
    ]
    typer.echo(format_table(["VERSION", "UPLOADED", "DIGEST", "CODE", "DESCRIPTION"], rows))


@pipeline_app.command("show")
@settings_options(*STORE_FLAGS)
def show_command(
    ctx: typer.Context,
    ref: RefArgument,
    json_output: JsonOption = False,
) -> None:
    """Show a version: digests, source, parameters, tasks and components."""
    with user_errors():
        settings = settings_of(ctx)

        async def read(registry: PipelineRegistry) -> tuple[PipelineRef, PipelineSpec]:
            record = await registry.lookup(ref)
            return record, await registry.spec(record)

        record, spec = run_async(_with_registry(settings, read))
    if json_output:
        out = {"version": record.model_dump(mode="json"), "spec": spec.model_dump(mode="json")}
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo("\n".join(_show_lines(record, spec)))


def _show_lines(record: PipelineRef, spec: PipelineSpec) -> list[str]:
    lines = [
        f"pipeline:    {record.ref}",
        f"digest:      {record.digest}",
        f"code:        {record.code.digest if record.code else '-'}",
        f"uploaded:    {format_time(record.created_at)}",
        f"source:      {record.source or '-'}",
    ]
    if record.description:
        lines.append(f"description: {record.description}")
    params = [
        f"{p.name}: {p.type.value}" + (f" = {format_value(p.default)}" if p.optional else "")
        for p in spec.parameters
    ]
    lines.append(f"parameters:  {', '.join(params) or 'none'}")
    rows = [
        [t.name, t.component, short_digest(spec.components[t.component].digest)] for t in spec.tasks
    ]
    return [*lines, "", format_table(["TASK", "COMPONENT", "COMPONENT DIGEST"], rows)]


@pipeline_app.command("diff")
@settings_options(*STORE_FLAGS)
def diff_command(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(metavar="NAME@A", help="The older version.")],
    new: Annotated[str, typer.Argument(metavar="NAME@B", help="The newer version.")],
    json_output: JsonOption = False,
) -> None:
    """Show which tasks, components, parameters and digests changed between versions."""
    with user_errors():
        settings = settings_of(ctx)

        async def compare(registry: PipelineRegistry) -> SpecDiff:
            a, b = await registry.lookup(old), await registry.lookup(new)
            return diff_specs(
                await registry.spec(a),
                await registry.spec(b),
                old_label=a.ref,
                new_label=b.ref,
                old_code=a.code.digest if a.code else None,
                new_code=b.code.digest if b.code else None,
            )

        diff = run_async(_with_registry(settings, compare))
    if json_output:
        typer.echo(json.dumps(diff.to_json(), indent=2))
        return
    typer.echo("\n".join(diff_lines(diff)))


def diff_lines(diff: SpecDiff) -> list[str]:
    """The text of ``runner pipeline diff``."""
    lines = [f"{diff.old} -> {diff.new}"]
    if diff.identical:
        return [*lines, "identical: same spec and code"]
    for name, (a, b) in diff.digests.items():
        lines.append(f"{name + ' digest:':16} {short_digest(a or '-')} -> {short_digest(b or '-')}")
    for title, changes in (
        ("parameters", diff.parameters),
        ("components", diff.components),
        ("tasks", diff.tasks),
    ):
        lines += _section(title, changes)
    for task, component in diff.affected.items():
        lines.append(f"  ~ task {task}: its component {component} changed")
    return lines


def _section(title: str, changes: Changes) -> list[str]:
    if not changes:
        return [f"{title}: unchanged"]
    lines: list[Any] = [f"{title}:"]
    lines += [f"  + {n}" for n in changes.added]
    lines += [f"  - {n}" for n in changes.removed]
    lines += [f"  ~ {n} ({', '.join(fields)})" for n, fields in changes.changed.items()]
    return lines


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
