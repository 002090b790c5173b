"""``runner events``: the event stream as CloudEvents JSON lines, and their schemas.

Each line is one event in CloudEvents structured form (exactly the body
published on NATS), so ``runner events | jq`` and any CloudEvents SDK read
it. Without ``--follow`` it prints what the stream holds and exits; with it,
it keeps printing new events until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Annotated

import typer

from runner.cli.aio import run_async, until_interrupted
from runner.cli.errors import user_errors
from runner.cli.options import READ_FLAGS, settings_of, settings_options
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.errors import ValidationError
from runner.events.codec import encode
from runner.events.envelope import Event
from runner.events.kinds import TYPE_PREFIX, EventKind, subject_filter
from runner.events.models import DATA_MODELS

__all__ = ["register", "type_filter"]

IDLE_END_SECONDS = 1.5
"""Without --follow: the stream is taken to be drained after this long with no event."""

events_app = typer.Typer(
    help="Run and step events (CloudEvents).", invoke_without_command=True, no_args_is_help=False
)


def type_filter(value: str | None) -> str | None:
    """``step.failed``, ``runner.step.failed``, ``step`` or ``run`` -> the kind part of a filter."""
    if value is None:
        return None
    kind = value.removeprefix(TYPE_PREFIX)
    if kind in ("run", "step"):
        return kind
    try:
        return EventKind(kind).value
    except ValueError:
        known = ", ".join(k.value for k in EventKind)
        raise ValidationError(
            f"--type {value!r} is not an event kind: use run, step, or one of {known}"
        ) from None


@events_app.callback()
@settings_options(*READ_FLAGS)
def events_command(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="RUN", help="Only this run.")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--type", metavar="TYPE", help="run, step, or a kind like step.failed."),
    ] = None,
) -> None:
    """Print events as CloudEvents JSON lines (oldest first)."""
    if ctx.invoked_subcommand is not None:
        return
    with user_errors():
        settings = settings_of(ctx)
        subject = subject_filter(pipeline, run_id, type_filter(kind))
        run_async(_print_events(settings, subject, follow))


async def _print_events(settings: Settings, subject: str, follow: bool) -> None:
    async with open_stack(settings, controller=False) as stack:
        events = stack.bus.subscribe(subject, deliver="all")
        try:
            if follow:
                await until_interrupted(_print_all(events))
            else:
                await _print_all(_until_idle(events))
        finally:
            await events.aclose()  # type: ignore[attr-defined]


async def _print_all(events: AsyncIterator[Event]) -> None:
    async for event in events:
        body, _ = encode(event)
        sys.stdout.write(json.dumps(json.loads(body), separators=(",", ":")) + "\n")
        sys.stdout.flush()


async def _until_idle(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """The events until none has come for :data:`IDLE_END_SECONDS`.

    The bus has no "end of stream" marker for a subscription, so a quiet spell
    stands for it; an idle fetch on a drained stream costs about a second anyway.
    """
    while True:
        try:
            async with asyncio.timeout(IDLE_END_SECONDS):
                event = await anext(events)
        except (TimeoutError, StopAsyncIteration):
            return
        yield event


@events_app.command("schema")
def schema_command(
    kind: Annotated[str | None, typer.Argument(help="One kind, e.g. step.failed.")] = None,
) -> None:
    """Print the JSON Schema of each event kind's data."""
    with user_errors():
        chosen = type_filter(kind)
    schemas = {
        k.type: model.model_json_schema()
        for k, model in DATA_MODELS.items()
        if chosen is None or k.value == chosen or k.value.startswith(f"{chosen}.")
    }
    typer.echo(json.dumps(schemas, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
