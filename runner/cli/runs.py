"""``runner status RUN``, ``runner runs list | compare | rerun`` and ``runner cancel RUN``.

They read the run states the controller keeps in the JetStream KV bucket
(through the same stack ``runner run`` would use: ``--nats``, a running
``runner up``, else the home's embedded server, started just for the
command) and never run a controller themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from runner.api import RunHandle, request_run
from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import READ_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.render import format_duration, format_table, format_time
from runner.cli.run import RunOptions, Starter, follow_new_run
from runner.cli.runs_compare import comparison_lines
from runner.cli.runstate import load_run
from runner.cli.stack import open_stack
from runner.cli.summary import status_lines
from runner.config import Settings
from runner.core.state import RunState, RunStatus
from runner.lifecycle.compare import compare_runs, plot_metrics
from runner.lifecycle.history import RunFilter, list_runs, parse_since
from runner.records import RunRecord
from runner.records.index import RunSummary
from runner.spec.models import PipelineSpec
from runner.stack import Stack
from runner.store.factory import open_store

__all__ = ["register"]

runs_app = typer.Typer(help="Runs known to the stack.", no_args_is_help=True)

RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="Run id.")]


@settings_options(*READ_FLAGS)
def status_command(
    ctx: typer.Context,
    run_id: RunArgument,
    json_output: JsonOption = False,
) -> None:
    """Show a run: its status, parameters, steps, outputs, metrics and errors."""
    with user_errors():
        record = run_async(_status(settings_of(ctx), run_id))
    if json_output:
        typer.echo(record.model_dump_json(indent=2))
    else:
        typer.echo("\n".join(status_lines(record)))


async def _status(settings: Settings, run_id: str) -> RunRecord:
    async with open_stack(settings, controller=False) as stack:
        return RunRecord.from_state(await load_run(stack.bus, run_id))


@runs_app.command("list")
@settings_options(*READ_FLAGS)
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most N runs.")] = 20,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Only runs of this experiment.")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")
    ] = None,
    status: Annotated[
        RunStatus | None, typer.Option("--status", help="Only runs in this status.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="T", help="Only runs created since T: 2h, 7d or a date."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List runs, newest first (from the run index: fast with many runs)."""
    with user_errors():
        settings = settings_of(ctx)
        where = RunFilter(
            experiment=experiment,
            pipeline=pipeline,
            status=status,
            since=parse_since(since) if since else None,
            limit=limit,
        )
        runs = run_async(_list(settings, where))
    if json_output:
        typer.echo(json.dumps([_summary_json(r) for r in runs], indent=2))
        return
    if not runs:
        typer.echo("no runs", err=True)
        return
    rows = [
        [
            r.run_id,
            r.pipeline,
            r.status.value,
            format_time(r.created_at),
            format_duration(r.duration_seconds),
            f"{r.done}/{r.steps}",
            r.experiment,
            r.version or "-",
        ]
        for r in runs
    ]
    headers = ["RUN", "PIPELINE", "STATUS", "CREATED", "DURATION", "STEPS", "EXPERIMENT", "VERSION"]
    typer.echo(format_table(headers, rows))


async def _list(settings: Settings, where: RunFilter) -> list[RunSummary]:
    async with open_stack(settings, controller=False) as stack:
        return await list_runs(stack.bus, where)


def _summary_json(summary: RunSummary) -> dict[str, Any]:
    return {
        **summary.model_dump(mode="json"),
        "duration_seconds": summary.duration_seconds,
    }


@runs_app.command("compare")
@settings_options(*READ_FLAGS)
def compare_command(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN RUN...", help="Runs to compare.")],
    json_output: JsonOption = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="FILE.png", help="Draw each metric across the runs."),
    ] = None,
) -> None:
    """Parameters and metrics of runs side by side, differences marked with '*'."""
    with user_errors():
        comparison = compare_runs(run_async(_records(settings_of(ctx), run_ids)))
        drawn = plot_metrics(comparison, plot) if plot is not None else []
    if json_output:
        typer.echo(json.dumps(comparison.to_json(), indent=2, default=str))
    else:
        typer.echo("\n".join(comparison_lines(comparison)))
    if plot is not None:
        typer.echo(f"plot of {len(drawn)} metric(s) written to {plot}", err=True)


async def _records(settings: Settings, run_ids: list[str]) -> list[RunRecord]:
    async with open_stack(settings, controller=False) as stack:
        return [RunRecord.from_state(await load_run(stack.bus, r)) for r in run_ids]


@runs_app.command("rerun")
@settings_options(*READ_FLAGS)
def rerun_command(
    ctx: typer.Context,
    run_id: RunArgument,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step; do not use cached results.")
    ] = False,
    detach: Annotated[
        bool, typer.Option("--detach", help="Print the new run id and return (needs `runner up`).")
    ] = False,
    json_output: JsonOption = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="One line per change, even on a terminal.")
    ] = False,
) -> None:
    """Start a new run of the same pipeline version with the same parameters."""
    with user_errors():
        settings = settings_of(ctx)
        original = run_async(_original(settings, run_id))
        options = RunOptions(
            params=dict(original.parameters),
            no_cache=no_cache,
            experiment=original.experiment,
            detach=detach,
            json=json_output,
            plain=plain,
        )
        tasks = run_async(_task_names(settings, original))
        code = run_async(follow_new_run(settings, rerun_starter(original, options), tasks, options))
    raise typer.Exit(code)


async def _original(settings: Settings, run_id: str) -> RunState:
    async with open_stack(settings, controller=False) as stack:
        return await load_run(stack.bus, run_id)


async def _task_names(settings: Settings, state: RunState) -> list[str]:
    store = open_store(settings.store_uri(), settings.storage)
    try:
        raw = await store.get_json(store.key_for(state.spec_uri))
    finally:
        await store.close()
    return [t.name for t in PipelineSpec.model_validate(raw).tasks]


def rerun_starter(original: RunState, options: RunOptions) -> Starter:
    async def start(stack: Stack) -> RunHandle:
        return await request_run(
            bus=stack.bus,
            pipeline=original.pipeline,
            digest=original.pipeline_digest,
            spec_uri=original.spec_uri,
            code=original.code,
            parameters=options.params,
            no_cache=options.no_cache,
            experiment=options.experiment,
            version=original.version,
            requested_by=f"rerun/{original.run_id}",
            labels={"rerun_of": original.run_id},
        )

    return start


@settings_options(*READ_FLAGS)
def cancel_command(
    ctx: typer.Context,
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
) -> None:
    """Cancel a run: running steps are stopped, pending ones skipped."""
    with user_errors():
        code = run_async(_cancel(settings_of(ctx), run_id, reason, timeout if wait else None))
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
