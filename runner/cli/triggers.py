"""``runner trigger add|ls|rm|enable|disable|test`` and ``runner triggers``.

Triggers are stored in the stack's NATS (KV bucket ``runner-triggers``), so a
trigger added here is served by whatever serves that NATS: ``runner up``,
the controller in a cluster, or ``runner triggers`` (triggers and sinks
only, no controller). ``add`` compiles the pipeline file and puts its spec
and code package in the store now: later edits to the file do not change
what the trigger runs (add it again with ``--replace``); ``NAME@VERSION``
names a version uploaded with ``runner pipeline upload``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from runner.cli.aio import run_async
from runner.cli.definitions import add_state_commands
from runner.cli.errors import user_errors
from runner.cli.options import NATS_FLAGS, READ_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.params import parse_value, split_assignment
from runner.cli.render import format_table
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.errors import ValidationError
from runner.lifecycle.registry import PipelineRegistry
from runner.privacy import redact_url
from runner.records.pipelines import PipelineRef
from runner.store.listing import S3BucketLister
from runner.triggers import (
    Limits,
    NatsSource,
    ObjectFilter,
    PollSource,
    Trigger,
    freeze_pipeline,
    list_bucket,
    new_trigger,
    parse_notification,
    preview,
    seen_bucket,
    trigger_definitions,
)
from runner.triggers.engine import now_utc
from runner.triggers.manage import checked
from runner.triggers.models import DEFAULT_SUBJECT

__all__ = ["register"]

trigger_app = typer.Typer(help="Bucket triggers: new objects start runs.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Trigger name.")]


def _opt(flag: str, help: str, metavar: str | None = None) -> Any:
    return typer.Option(flag, help=help, metavar=metavar, show_default=False)


@trigger_app.command("add")
@settings_options(*READ_FLAGS, "log_level")
def add_command(
    ctx: typer.Context,
    name: NameArgument,
    pipeline: Annotated[
        str, _opt("--pipeline", "path/to/pipeline.py[:func], or NAME@VERSION (uploaded).", "TARGET")
    ],
    bucket: Annotated[str, _opt("--bucket", "Bucket to watch.", "BUCKET")],
    prefix: Annotated[str, _opt("--prefix", "Only keys starting with this.")] = "",
    suffix: Annotated[str, _opt("--suffix", "Only keys ending with this (e.g. .csv).")] = "",
    event: Annotated[
        list[str] | None, _opt("--event", "Event-name pattern (default s3:ObjectCreated:*).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", metavar="NAME=VALUE", help="A parameter; may use {{ object.uri }}."
        ),
    ] = None,
    experiment: Annotated[str, typer.Option("--experiment")] = "default",
    poll: Annotated[bool, _opt("--poll", "List the bucket instead of NATS notifications.")] = False,
    interval: Annotated[float, _opt("--interval", "Seconds between polls (default 60).")] = 60.0,
    endpoint: Annotated[str | None, _opt("--endpoint", "S3 endpoint for --poll.", "URL")] = None,
    start: Annotated[
        str, _opt("--start", "--poll: new (default) or all existing objects.")
    ] = "new",
    subject: Annotated[
        str, _opt("--subject", f"Notification subject (default {DEFAULT_SUBJECT}).")
    ] = (DEFAULT_SUBJECT),
    core: Annotated[bool, _opt("--core", "Notifications on core NATS, not JetStream.")] = False,
    stream: Annotated[str | None, _opt("--stream", "Stream holding --subject.", "NAME")] = None,
    max_concurrent: Annotated[int | None, _opt("--max-concurrent", "Unfinished runs at most.")] = (
        None
    ),
    max_per_minute: Annotated[float | None, _opt("--max-per-minute", "Runs per minute.")] = None,
    no_cache: Annotated[bool, _opt("--no-cache", "Runs do not use cached results.")] = False,
    disabled: Annotated[bool, _opt("--disabled", "Store it disabled.")] = False,
    replace: Annotated[bool, _opt("--replace", "Replace a trigger of that name.")] = False,
) -> None:
    """Add a trigger: objects landing in BUCKET start runs of the pipeline."""
    with user_errors():
        settings = settings_of(ctx)
        source: NatsSource | PollSource
        if poll:
            source = checked(
                PollSource,
                "--poll",
                interval_seconds=interval,
                endpoint_url=endpoint,
                start=start,
            )
        else:
            source = checked(
                NatsSource, "--subject", subject=subject, jetstream=not core, stream=stream
            )
        flt = checked(
            ObjectFilter,
            f"trigger {name!r}",
            bucket=bucket,
            prefix=prefix,
            suffix=suffix,
            events=event or ["s3:ObjectCreated:*"],
        )
        limits = checked(
            Limits, "limits", max_concurrent_runs=max_concurrent, max_runs_per_minute=max_per_minute
        )
        options = dict(experiment=experiment, limits=limits, no_cache=no_cache)
        trigger = run_async(
            _add(settings, name, pipeline, flt, source, param or [], options, disabled, replace)
        )
    typer.echo(f"added trigger {trigger.name}: {_describe(trigger)}")


async def _add(
    settings: Settings,
    name: str,
    target: str,
    flt: ObjectFilter,
    source: NatsSource | PollSource,
    params: list[str],
    options: dict[str, Any],
    disabled: bool,
    replace: bool,
) -> Trigger:
    async with open_stack(settings, controller=False) as stack:
        definitions = await trigger_definitions(stack.bus)
        if not replace:
            names = {t.name for t, _ in await definitions.list()}
            if name in names:
                raise ValidationError(
                    f"a trigger named {name!r} already exists: pick another name, remove it "
                    f"(`runner trigger rm {name}`) or pass --replace"
                )
        # NAME@VERSION: a version uploaded with `runner pipeline upload`.
        ref = await freeze_pipeline(target, stack.store, registry=PipelineRegistry(stack.store))
        trigger = new_trigger(
            name,
            ref,
            flt,
            parameters=_parameters(ref, params),
            source=source,
            enabled=not disabled,
            **options,
        )
        await definitions.add(name, trigger, replace=replace)
        return trigger


def _parameters(ref: PipelineRef, items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE``: templates stay text; plain values are typed like ``runner run -p``."""
    decls = {d.name: d for d in ref.parameters}
    values: dict[str, Any] = {}
    for item in items:
        name, text = split_assignment(item, "--param", "uri='{{ object.uri }}'")
        decl = decls.get(name)
        values[name] = text if decl is None or "{{" in text else parse_value(decl, text)
    return values


def _describe(trigger: Trigger) -> str:
    flt = trigger.filter
    where = f"s3://{flt.bucket}/{flt.prefix}*{flt.suffix}"
    source = trigger.source
    if isinstance(source, PollSource):
        via = f"poll every {source.interval_seconds:g}s"
    else:
        via = f"{source.subject} ({'JetStream' if source.jetstream else 'core NATS'})"
    return f"{where} via {via} -> pipeline {trigger.pipeline.name} ({trigger.pipeline.origin})"


@trigger_app.command("ls")
@settings_options(*NATS_FLAGS)
def ls_command(
    ctx: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """List triggers."""
    with user_errors():
        triggers = run_async(_list(settings_of(ctx)))
    if json_output:
        typer.echo(json.dumps([t.model_dump(mode="json") for t in triggers], indent=2))
        return
    if not triggers:
        typer.echo("no triggers: add one with `runner trigger add`", err=True)
        return
    rows = [
        [t.name, "yes" if t.enabled else "no", t.pipeline.name, _describe(t).split(" -> ")[0]]
        for t in triggers
    ]
    typer.echo(format_table(["NAME", "ENABLED", "PIPELINE", "WATCHES"], rows))


async def _list(settings: Settings) -> list[Trigger]:
    async with open_stack(settings, controller=False) as stack:
        return [t for t, _ in await (await trigger_definitions(stack.bus)).list()]


add_state_commands(
    trigger_app,
    noun="trigger",
    opener=trigger_definitions,
    rm_doc="Remove a trigger (the runs it started stay).",
    enable_doc="Enable a trigger.",
    disable_doc="Disable a trigger (notifications meanwhile are dead-lettered).",
)


@trigger_app.command("test")
@settings_options(*NATS_FLAGS)
def try_command(
    ctx: typer.Context,
    name: NameArgument,
    notification: Annotated[
        Path | None, _opt("--notification", "A notification JSON file to try.", "FILE")
    ] = None,
    limit: Annotated[int, _opt("--limit", "List at most this many objects (default 20).")] = 20,
    json_output: JsonOption = False,
) -> None:
    """Show which objects would match and the parameters they would get (starts nothing).

    Without --notification it lists the bucket (S3 endpoint: the trigger's --endpoint,
    else AWS_ENDPOINT_URL_S3)."""
    with user_errors():
        settings = settings_of(ctx)
        body = _read(notification) if notification is not None else None
        problems, shown = run_async(_test(settings, name, body, limit))
    if json_output:
        typer.echo(json.dumps({"problems": problems, "objects": shown}, indent=2))
        return
    for problem in problems:
        typer.echo(f"unusable: {problem}", err=True)
    rows = [
        [
            "yes" if s["matches"] else "no",
            str(s["uri"]),
            ("already ran: " if s["already_requested"] else "") + str(s["run_id"])
            if s["matches"]
            else str(s["mismatch"]),
            json.dumps(s["parameters"]),
        ]
        for s in shown
    ]
    if rows:
        typer.echo(format_table(["MATCH", "OBJECT", "RUN / WHY NOT", "PARAMETERS"], rows))
    else:
        typer.echo("no objects", err=True)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read --notification {path}: {exc.strerror}") from None


async def _test(
    settings: Settings, name: str, body: bytes | None, limit: int
) -> tuple[list[str], list[dict[str, Any]]]:
    async with open_stack(settings, controller=False) as stack:
        trigger, _ = await (await trigger_definitions(stack.bus)).get(name)
        problems: list[str] = []
        if body is not None:
            parsed = parse_notification(body)
            objects, problems = parsed.objects, parsed.problems
        else:
            lister = S3BucketLister(_s3_settings(settings, trigger))
            try:
                objects = await list_bucket(trigger, lister, limit)
            finally:
                await lister.close()
        shown = await preview(trigger, objects, await seen_bucket(stack.bus), now_utc())
        return problems, [s.to_json() for s in shown]


def _s3_settings(settings: Settings, trigger: Trigger) -> Any:
    source = trigger.source
    if isinstance(source, PollSource) and (source.endpoint_url or source.region):
        return settings.storage.model_copy(
            update={
                "endpoint_url": source.endpoint_url or settings.storage.endpoint_url,
                "region": source.region or settings.storage.region,
            }
        )
    return settings.storage


@settings_options(*READ_FLAGS, "log_level")
def triggers_command(
    ctx: typer.Context,
) -> None:
    """Serve triggers and sinks only (no controller) until Ctrl-C."""
    # Imported here, not at the top: it imports croniter, which `runner --help` does without.
    from runner.service import serve

    with user_errors():
        asyncio.run(serve(settings_of(ctx), controller=False, on_ready=_ready))
    typer.echo("runner triggers: stopped")


def _ready(stack: Any) -> None:
    typer.echo(
        f"runner triggers: serving triggers and sinks on NATS {redact_url(stack.nats_url or '?')}"
    )
    typer.echo("ready: press Ctrl-C to stop")


def register(app: typer.Typer) -> None:
    app.add_typer(trigger_app, name="trigger")
    app.command("triggers")(triggers_command)
