"""``runner sink add|ls|rm|enable|disable``: run events delivered to HTTP endpoints.

A sink POSTs each matching event as a CloudEvent in binary HTTP mode (what
Knative eventing sends), retries 408, 429, 5xx and connection errors with
exponential backoff, and dead-letters what it cannot deliver to
``runner.deadletter.sink.<name>``. Sinks are stored next to the triggers and
served by ``runner up``, the in-cluster controller or ``runner triggers``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from runner.cli.aio import run_async
from runner.cli.definitions import add_state_commands
from runner.cli.errors import user_errors
from runner.cli.events import type_filter
from runner.cli.options import NATS_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.render import format_table
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.events.kinds import validate_name
from runner.triggers import Sink, sink_definitions
from runner.triggers.manage import checked

__all__ = ["register"]

sink_app = typer.Typer(help="HTTP sinks: run events as CloudEvents.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Sink name.")]


@sink_app.command("add")
@settings_options(*NATS_FLAGS)
def add_command(
    ctx: typer.Context,
    name: NameArgument,
    url: Annotated[str, typer.Option("--url", metavar="URL", help="Where to POST events.")],
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="RUN", help="Only this run.")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--type", metavar="TYPE", help="run, step, or a kind like step.failed."),
    ] = None,
    max_attempts: Annotated[int, typer.Option("--max-attempts", help="Tries per event.")] = 8,
    backoff: Annotated[float, typer.Option("--backoff", help="First retry wait (s).")] = 1.0,
    max_backoff: Annotated[float, typer.Option("--max-backoff", help="Longest wait (s).")] = 60.0,
    timeout: Annotated[float, typer.Option("--timeout", help="Per request (s).")] = 10.0,
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it disabled.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a sink of that name.")
    ] = False,
) -> None:
    """Add a sink: matching events are POSTed to URL as CloudEvents (binary mode)."""
    with user_errors():
        settings = settings_of(ctx)
        sink = checked(
            Sink,
            f"sink {name!r}",
            name=validate_name(name, "sink"),
            url=url,
            pipeline=validate_name(pipeline, "pipeline") if pipeline else None,
            run=validate_name(run_id, "run id") if run_id else None,
            kind=type_filter(kind),
            max_attempts=max_attempts,
            backoff_seconds=backoff,
            max_backoff_seconds=max_backoff,
            timeout_seconds=timeout,
            enabled=not disabled,
        )
        run_async(_add(settings, sink, replace))
    typer.echo(f"added sink {sink.name}: {sink.subject} -> {sink.url}")


async def _add(settings: Settings, sink: Sink, replace: bool) -> None:
    async with open_stack(settings, controller=False) as stack:
        await (await sink_definitions(stack.bus)).add(sink.name, sink, replace=replace)


@sink_app.command("ls")
@settings_options(*NATS_FLAGS)
def ls_command(
    ctx: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """List sinks."""
    with user_errors():
        sinks = run_async(_list(settings_of(ctx)))
    if json_output:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in sinks], indent=2))
        return
    if not sinks:
        typer.echo("no sinks: add one with `runner sink add`", err=True)
        return
    rows = [[s.name, "yes" if s.enabled else "no", s.subject, s.url] for s in sinks]
    typer.echo(format_table(["NAME", "ENABLED", "EVENTS", "URL"], rows))


async def _list(settings: Settings) -> list[Sink]:
    async with open_stack(settings, controller=False) as stack:
        return [s for s, _ in await (await sink_definitions(stack.bus)).list()]


add_state_commands(
    sink_app,
    noun="sink",
    opener=sink_definitions,
    rm_doc="Remove a sink (its durable consumer stays, so a sink added again resumes).",
    enable_doc="Enable a sink (it resumes where it stopped).",
    disable_doc="Disable a sink.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(sink_app, name="sink")
