"""``runner experiments list``: experiments and their runs, from the run index."""

from __future__ import annotations

import json

import typer

from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import READ_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.render import format_table, format_time
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.lifecycle.history import ExperimentSummary, experiments

__all__ = ["register"]

experiments_app = typer.Typer(help="Experiments: groups of runs.", no_args_is_help=True)


@experiments_app.command("list")
@settings_options(*READ_FLAGS)
def list_command(
    ctx: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """List experiments, most recently used first."""
    with user_errors():
        found = run_async(_experiments(settings_of(ctx)))
    if json_output:
        typer.echo(json.dumps([e.to_json() for e in found], indent=2))
        return
    if not found:
        typer.echo("no experiments (no runs yet)", err=True)
        return
    rows = [
        [
            e.name,
            str(e.runs),
            ", ".join(f"{n} {s}" for s, n in sorted(e.statuses.items())),
            ", ".join(sorted(e.pipelines)),
            format_time(e.last_run),
        ]
        for e in found
    ]
    typer.echo(format_table(["EXPERIMENT", "RUNS", "STATUSES", "PIPELINES", "LAST RUN"], rows))


async def _experiments(settings: Settings) -> list[ExperimentSummary]:
    async with open_stack(settings, controller=False) as stack:
        return await experiments(stack.bus)


def register(app: typer.Typer) -> None:
    app.add_typer(experiments_app, name="experiments")
