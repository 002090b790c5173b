"""``runner schedule add | ls | pause | resume | rm``: run a pipeline version on a cron.

Schedules are kept on NATS (:mod:`runner.lifecycle.schedules`) and fired by
``runner up`` or the in-cluster controller. Times are UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import READ_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.params import parse_params
from runner.cli.render import format_table
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.events.kinds import validate_name
from runner.lifecycle.registry import PipelineRegistry
from runner.lifecycle.schedules import Cursor, Schedule, Schedules, validate_schedule_name

if TYPE_CHECKING:
    from runner.lifecycle.cron import CronExpression

__all__ = ["register"]

schedule_app = typer.Typer(help="Run pipeline versions on a cron schedule.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Schedule name.")]


@schedule_app.command("add")
@settings_options(*READ_FLAGS)
def add_command(
    ctx: typer.Context,
    name: NameArgument,
    pipeline: Annotated[
        str,
        typer.Option(
            "--pipeline", metavar="NAME@VERSION", help="Registered version (NAME: latest now)."
        ),
    ],
    cron: Annotated[
        str, typer.Option("--cron", metavar="EXPR", help="5-field cron expression, in UTC.")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A pipeline parameter."),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, help="At most N of its runs at once."),
    ] = None,
    no_catchup: Annotated[
        bool, typer.Option("--no-catchup", help="After downtime fire only the latest tick.")
    ] = False,
    experiment: Annotated[
        str, typer.Option("--experiment", help="Experiment to file its runs under.")
    ] = "default",
    json_output: JsonOption = False,
) -> None:
    """Add a schedule; `runner up` (or the cluster's controller) fires it."""
    with user_errors():
        validate_schedule_name(name)
        validate_name(experiment, "experiment")
        expression = _parse_cron(cron)
        settings = settings_of(ctx)

        async def add() -> Schedule:
            async with open_stack(settings, controller=False) as stack:
                registry = PipelineRegistry(stack.store)
                record = await registry.lookup(pipeline)
                assert record.version is not None  # a registry record always names its version
                spec = await registry.spec(record)
                schedule = Schedule(
                    name=name,
                    pipeline=record.name,
                    version=record.version,
                    digest=record.digest,
                    spec_uri=record.spec_uri,
                    code=record.code,
                    cron=expression.text,
                    parameters=parse_params(spec, param or []),
                    max_concurrency=max_concurrency,
                    catchup=not no_catchup,
                    experiment=experiment,
                    created_at=datetime.now(UTC),
                )
                await Schedules(stack.bus).add(schedule)
                return schedule

        schedule = run_async(add())
    if json_output:
        typer.echo(json.dumps(schedule.model_dump(mode="json"), indent=2))
        return
    typer.echo(
        f"schedule {name}: {schedule.ref} at {schedule.cron!r} (UTC); next run "
        f"{_utc(expression.next_after(datetime.now(UTC)))}"
    )


@schedule_app.command("ls")
@settings_options(*READ_FLAGS)
def ls_command(
    ctx: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """List schedules with their next and last ticks."""
    with user_errors():
        found = run_async(_all(settings_of(ctx)))
    if json_output:
        typer.echo(json.dumps([_json(s, c) for s, c in found], indent=2))
        return
    if not found:
        typer.echo("no schedules", err=True)
        return
    rows = [
        [
            s.name,
            s.ref,
            s.cron,
            "paused" if s.paused else "active",
            "-" if s.paused else _utc(_parse_cron(s.cron).next_after(datetime.now(UTC))),
            _utc(c.last_tick),
            str(len(c.active)),
            s.experiment,
            "yes" if s.catchup else "no",
        ]
        for s, c in found
    ]
    headers = ["NAME", "PIPELINE", "CRON", "STATE", "NEXT", "LAST", "ACTIVE", "EXPERIMENT"]
    typer.echo(format_table([*headers, "CATCHUP"], rows))


def _parse_cron(text: str) -> CronExpression:
    # Imported here, not at the top: it imports croniter, which `runner --help` does without.
    from runner.lifecycle.cron import parse_cron

    return parse_cron(text)


def _json(schedule: Schedule, cursor: Cursor) -> dict[str, Any]:
    return {**schedule.model_dump(mode="json"), "cursor": cursor.model_dump(mode="json")}


def _utc(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else "-"


async def _all(settings: Settings) -> list[tuple[Schedule, Cursor]]:
    async with open_stack(settings, controller=False) as stack:
        schedules = Schedules(stack.bus)
        return [(s, (await schedules.cursor(s.name))[0]) for s in await schedules.all()]


def _change(settings: Settings, name: str, paused: bool | None) -> None:
    async def change() -> None:
        async with open_stack(settings, controller=False) as stack:
            schedules = Schedules(stack.bus)
            if paused is None:
                await schedules.remove(name)
            else:
                await schedules.set_paused(name, paused, datetime.now(UTC))

    run_async(change())


@schedule_app.command("pause")
@settings_options(*READ_FLAGS)
def pause_command(
    ctx: typer.Context,
    name: NameArgument,
) -> None:
    """Stop firing a schedule (its ticks while paused are skipped)."""
    with user_errors():
        _change(settings_of(ctx), name, True)
    typer.echo(f"schedule {name} paused")


@schedule_app.command("resume")
@settings_options(*READ_FLAGS)
def resume_command(
    ctx: typer.Context,
    name: NameArgument,
) -> None:
    """Fire a paused schedule again, from its next tick."""
    with user_errors():
        _change(settings_of(ctx), name, False)
    typer.echo(f"schedule {name} resumed")


@schedule_app.command("rm")
@settings_options(*READ_FLAGS)
def rm_command(
    ctx: typer.Context,
    name: NameArgument,
) -> None:
    """Remove a schedule (its runs stay)."""
    with user_errors():
        _change(settings_of(ctx), name, None)
    typer.echo(f"schedule {name} removed")


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
