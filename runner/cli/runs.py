"""``runner status RUN``, ``runner runs list`` and ``runner cancel RUN``.

They read the run states the controller keeps in the JetStream KV bucket
(through the same stack ``runner run`` would use: ``--nats``, a running
``runner up``, else the home's embedded server, started just for the
command) and never run a controller themselves.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from runner.api import RunHandle
from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import (
    ConfigOption,
    HomeOption,
    JsonOption,
    NatsOption,
    StoreOption,
    build_settings,
)
from runner.cli.render import format_duration, format_table, format_time
from runner.cli.runstate import all_runs, load_run
from runner.cli.stack import open_stack
from runner.cli.summary import status_lines
from runner.config import Settings
from runner.core.state import RunStatus
from runner.records import RunRecord

__all__ = ["register"]

runs_app = typer.Typer(help="Runs known to the stack.", no_args_is_help=True)

RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="Run id.")]


def status_command(
    run_id: RunArgument,
    json_output: JsonOption = False,
    home: HomeOption = None,
    nats: NatsOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """Show a run: its status, parameters, steps, outputs, metrics and errors."""
    with user_errors():
        settings = build_settings(home=home, nats=nats, store=store, config=config)
        record = run_async(_status(settings, run_id))
    if json_output:
        typer.echo(record.model_dump_json(indent=2))
    else:
        typer.echo("\n".join(status_lines(record)))


async def _status(settings: Settings, run_id: str) -> RunRecord:
    async with open_stack(settings, controller=False) as stack:
        return RunRecord.from_state(await load_run(stack.bus, run_id))


@runs_app.command("list")
def list_command(
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most N runs.")] = 20,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")
    ] = None,
    status: Annotated[
        RunStatus | None, typer.Option("--status", help="Only runs in this status.")
    ] = None,
    json_output: JsonOption = False,
    home: HomeOption = None,
    nats: NatsOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """List runs, newest first."""
    with user_errors():
        settings = build_settings(home=home, nats=nats, store=store, config=config)
        records = run_async(_list(settings))
    records = [
        r
        for r in records
        if (pipeline is None or r.pipeline == pipeline) and (status is None or r.status is status)
    ][: max(limit, 0)]
    if json_output:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    if not records:
        typer.echo("no runs", err=True)
        return
    rows = [
        [
            r.run_id,
            r.pipeline,
            r.status.value,
            format_time(r.created_at),
            format_duration(r.duration_seconds),
            _steps_done(r),
        ]
        for r in records
    ]
    typer.echo(format_table(["RUN", "PIPELINE", "STATUS", "CREATED", "DURATION", "STEPS"], rows))


async def _list(settings: Settings) -> list[RunRecord]:
    async with open_stack(settings, controller=False) as stack:
        return [RunRecord.from_state(s) for s in await all_runs(stack.bus)]


def _steps_done(record: RunRecord) -> str:
    done = sum(1 for s in record.steps.values() if s.status.done)
    return f"{done}/{len(record.steps)}"


def cancel_command(
    run_id: RunArgument,
    reason: Annotated[str, typer.Option("--reason", help="Recorded with the run.")] = (
        "cancelled by user"
    ),
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the run has stopped.")
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the run to stop.")
    ] = 30.0,
    home: HomeOption = None,
    nats: NatsOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """Cancel a run: running steps are stopped, pending ones skipped."""
    with user_errors():
        settings = build_settings(home=home, nats=nats, store=store, config=config)
        code = run_async(_cancel(settings, run_id, reason, timeout if wait else None))
    raise typer.Exit(code)


async def _cancel(settings: Settings, run_id: str, reason: str, timeout: float | None) -> int:
    async with open_stack(settings, controller=False) as stack:
        state = await load_run(stack.bus, run_id)
        if state.status.terminal:
            typer.echo(f"run {run_id} already {state.status.value}; nothing to cancel")
            return 0
        handle = RunHandle(bus=stack.bus, run_id=run_id, pipeline=state.pipeline)
        await handle.cancel(reason=reason, requested_by="cli")
        if timeout is None:
            typer.echo(f"cancellation of run {run_id} requested")
            return 0
        try:
            final = await handle.wait(timeout=timeout)
        except TimeoutError:
            typer.echo(
                f"error: run {run_id} did not stop within {timeout:g}s: is its controller "
                "(`runner up`, or the `runner run` that started it) still running?",
                err=True,
            )
            return 1
        typer.echo(f"run {run_id} {final.status.value}")
        return 0 if final.status is RunStatus.CANCELLED else 1


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)
    app.command("cancel")(cancel_command)
    app.add_typer(runs_app, name="runs")
