"""``runner trace RUN [--all] [--otlp-json FILE]``: where a run's time went.

Reads the spans the run's processes wrote under ``<home>/traces/<run>/``
(tracing with no OTLP endpoint) and draws the waterfall: one bar per span on
the run's time axis — the run, each step attempt, what ran inside each step
— with cached and failed attempts labelled and the critical path starred.
``--otlp-json`` writes the spans as one OTLP/JSON file instead (Jaeger's UI
loads it). No server is needed: it works offline and after the stack is gone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from runner.cli.errors import user_errors
from runner.cli.options import settings_of, settings_options
from runner.cli.render import format_duration
from runner.errors import NotFoundError
from runner.events.kinds import validate_name

if TYPE_CHECKING:
    from runner.telemetry.waterfall import Row, Waterfall

__all__ = ["register", "render_waterfall"]

TRACE_DIR_NAME = "traces"
_STYLES = {
    "succeeded": "green",
    "cached": "cyan",
    "failed": "red",
    "error": "red",
    "retried": "yellow",
    "cancelled": "magenta",
}
_TAGGED = ("cached", "failed", "retried", "cancelled", "error")


@settings_options("home", "config")
def trace_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    otlp_json: Annotated[
        Path | None,
        typer.Option(
            "--otlp-json",
            metavar="FILE",
            help="Write the run's spans as OTLP/JSON to FILE (load it in Jaeger's UI).",
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also show the controller's own work spans.")
    ] = False,
) -> None:
    """Draw a run's trace as a waterfall, or export it as OTLP/JSON."""
    with user_errors():
        settings = settings_of(ctx)
        validate_name(run_id, "run id")
        from runner.telemetry.waterfall import build_waterfall, parse_spans, read_requests

        trace_dir = settings.home.resolve() / TRACE_DIR_NAME
        requests = read_requests(trace_dir, run_id)
        if not requests:
            raise NotFoundError(
                f"no spans of run {run_id!r} under {trace_dir}: check the run id "
                "(`runner runs list`) and --home; spans are written there only when no "
                "OTEL_EXPORTER_OTLP_ENDPOINT is set and OTEL_SDK_DISABLED is not true — "
                f"otherwise find the run in your tracing backend by runner.run_id={run_id}"
            )
        if otlp_json is not None:
            from runner.telemetry.otlp_json import merge_requests

            otlp_json.write_text(json.dumps(merge_requests(requests), indent=1))
            count = len(parse_spans(requests))
            typer.echo(f"wrote {count} spans of run {run_id} to {otlp_json}")
            return
        waterfall = build_waterfall(parse_spans(requests), controller_work=show_all)
        render_waterfall(waterfall, Console(highlight=False), run_id)


def render_waterfall(waterfall: Waterfall, console: Console, run_id: str) -> None:
    """The waterfall as text: one line per span, a bar on the run's time axis."""
    console.print(_header(waterfall, run_id))
    rows = waterfall.rows
    labels = ["  " * row.depth + row.span.name for row in rows]
    name_width = min(max((len(label) for label in labels), default=10), 48)
    bar_width = max(console.width - name_width - 2 - 2 * 8 - 10, 20)
    total = max(waterfall.end_ns - waterfall.start_ns, 1)
    axis = format_duration(waterfall.seconds)
    console.print(" " * (name_width + 2) + f"{'start':>7} {'took':>7} 0s".ljust(bar_width) + axis)
    for row, label in zip(rows, labels, strict=True):
        console.print(_line(row, label, name_width, bar_width, waterfall.start_ns, total))
    if waterfall.critical:
        path = " → ".join(waterfall.critical)
        console.print(Text(f"* critical path: {path}", style="bold yellow"))


def _header(waterfall: Waterfall, run_id: str) -> Text:
    run = waterfall.run
    if run is None:
        text = Text(f"run {run_id}: in progress or its run span was lost (no run span yet)")
    else:
        pipeline = run.attributes.get("runner.pipeline", "?")
        status = run.outcome
        text = Text(f"run {run_id} (pipeline {pipeline}) ")
        text.append(status, style=_STYLES.get(status, "bold"))
        text.append(f" in {format_duration(run.seconds)}")
    traces = ", ".join(sorted(waterfall.trace_ids))
    text.append(f"\ntrace {traces}" if len(waterfall.trace_ids) == 1 else f"\ntraces {traces}")
    return text


def _line(row: Row, label: str, name_width: int, bar_width: int, start: int, total: int) -> Text:
    span = row.span
    offset = (span.start_ns - start) / total * bar_width
    column = min(int(offset), bar_width - 1)
    length = max(1, min(round(span.seconds * 1e9 / total * bar_width), bar_width - column))
    outcome = span.outcome if span.step or span.is_run else span.status
    style = _STYLES.get(outcome, "bold" if span.is_run else "blue")
    text = Text("* " if row.critical else "  ", style="bold yellow")
    text.append(label[:name_width].ljust(name_width), style="bold" if row.critical else "")
    seconds_in = (span.start_ns - start) / 1e9
    text.append(f" {format_duration(seconds_in):>7} {format_duration(span.seconds):>7} ")
    text.append(" " * column)
    text.append("█" * length, style=style)
    if outcome in _TAGGED:
        text.append(f" {outcome}", style=style)
    return text


def register(app: typer.Typer) -> None:
    app.command("trace")(trace_command)
