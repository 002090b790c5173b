"""Live progress of a run: the run's events folded into one row per step.

:class:`RunProgress` is the model (pure: events in, rows and change lines
out). Two views show it: :class:`PlainView` prints one line per state change
(``12:00:01 train         running    attempt 1``) for pipes, logs and CI;
:class:`LiveView` redraws a rich table in place on a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runner.cli.render import format_duration, format_time
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.events.models import (
    RunCancelled,
    RunFailed,
    StepCached,
    StepFailed,
    StepLaunched,
    StepPending,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
)
from runner.records import duration_between

__all__ = ["LiveView", "PlainView", "ProgressView", "RunProgress", "StepRow", "make_view"]

_STYLES = {
    "succeeded": "green",
    "cached": "cyan",
    "failed": "bold red",
    "running": "yellow",
    "launching": "yellow",
    "waiting": "magenta",
    "skipped": "dim",
    "cancelled": "red",
    "pending": "dim",
}
_TERMINAL = frozenset({"succeeded", "cached", "failed", "skipped", "cancelled"})


@dataclass
class StepRow:
    """What the progress shows for one step."""

    name: str
    state: str = "pending"
    attempt: int = 0
    cached: bool = False
    started: datetime | None = None
    finished: datetime | None = None
    detail: str = ""

    def duration(self, now: datetime) -> float | None:
        if self.started is None:
            return None
        return duration_between(self.started, self.finished or now)


class RunProgress:
    """The run's state as its events tell it, with a line for every change."""

    def __init__(self, run_id: str, steps: Iterable[str]) -> None:
        self.run_id = run_id
        self.state = "requested"
        self.rows: dict[str, StepRow] = {name: StepRow(name) for name in steps}
        self.width = max([len(n) for n in self.rows] + [12])

    def apply(self, event: Event) -> str | None:
        """Fold in ``event``; the change as a line (``None`` if nothing changed)."""
        if event.step is None:
            return self._run_event(event)
        row = self.rows.get(event.step)
        if row is None:
            row = self.rows[event.step] = StepRow(event.step)  # e.g. a fan-out iteration
            self.width = max(self.width, len(event.step))
        detail = self._step_event(row, event)
        if detail is None:
            return None
        return self.line(event.time, row.name, row.state, detail)

    def line(self, when: datetime, name: str, state: str, detail: str) -> str:
        text = f"{format_time(when, date=False)} {name:<{self.width}} {state:<10}"
        return f"{text} {detail}".rstrip()

    def _run_event(self, event: Event) -> str | None:
        data = event.data
        kind = event.kind
        if kind is EventKind.RUN_STARTED:
            self.state = "running"
            return self.line(event.time, "run", "started", self.run_id)
        if kind is EventKind.RUN_CANCEL_REQUESTED:
            self.state = "cancelling"
            return self.line(event.time, "run", "cancelling", "")
        if kind is EventKind.RUN_SUCCEEDED:
            self.state = "succeeded"
        elif isinstance(data, RunFailed):
            self.state = "failed"
            return self.line(event.time, "run", "failed", data.error.message.splitlines()[0])
        elif isinstance(data, RunCancelled):
            self.state = "cancelled"
            return self.line(event.time, "run", "cancelled", data.reason)
        else:
            return None
        return self.line(event.time, "run", self.state, "")

    def _step_event(self, row: StepRow, event: Event) -> str | None:
        data = event.data
        if isinstance(data, StepLaunched):
            row.state, row.attempt, row.finished = "launching", data.attempt, None
            return f"attempt {data.attempt}"
        if isinstance(data, StepStarted):
            row.state, row.attempt, row.started = "running", data.attempt, event.time
            return f"attempt {data.attempt}"
        if isinstance(data, StepSucceeded):
            row.state, row.attempt, row.finished = "succeeded", data.attempt, event.time
            row.started = row.started or event.time
            took = data.duration_seconds or row.duration(event.time)
            return f"attempt {data.attempt} in {format_duration(took)}"
        if isinstance(data, StepCached):
            row.state, row.cached, row.finished = "cached", True, event.time
            row.detail = f"from {data.producer_run}"
            return row.detail
        if isinstance(data, StepFailed):
            # A step stopped by a cancellation is reported as failed with reason Cancelled.
            cancelled = data.error.reason == "Cancelled"
            row.state, row.finished = "cancelled" if cancelled else "failed", event.time
            row.attempt = data.attempt
            row.detail = _one_line(data.error.type, data.error.message)
            return f"attempt {data.attempt}: {row.detail}"
        if isinstance(data, StepRetrying):
            row.state = "waiting"
            row.detail = f"retry as attempt {data.next_attempt} in {data.delay_seconds:g}s"
            return f"attempt {data.attempt} failed; {row.detail}"
        if isinstance(data, StepPending):
            row.state = "pending"
            row.detail = _one_line(data.reason, data.message)
            return f"attempt {data.attempt}: {row.detail}"
        if isinstance(data, StepSkipped):
            row.state, row.finished = "skipped", event.time
            row.detail = data.reason.replace("_", " ")
            if data.upstream:
                row.detail += f" ({data.upstream})"
            return row.detail
        return None

    def cancelled_rows(self) -> None:
        """After a cancellation, steps that never reported are shown as cancelled."""
        for row in self.rows.values():
            if row.state not in _TERMINAL:
                row.state = "cancelled"


def _one_line(kind: str | None, message: str) -> str:
    first = (message.strip().splitlines() or [""])[0]
    return f"{kind}: {first}" if kind else first


class ProgressView:
    """Shows a :class:`RunProgress`; a context manager around the run."""

    def __init__(self, progress: RunProgress, stream: IO[str]) -> None:
        self.progress = progress
        self.stream = stream

    def __enter__(self) -> ProgressView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, event: Event) -> None:
        raise NotImplementedError

    def note(self, text: str) -> None:
        """A line that is not a state change (a hint, a warning)."""
        print(text, file=self.stream, flush=True)


class PlainView(ProgressView):
    """One line per state change."""

    def update(self, event: Event) -> None:
        line = self.progress.apply(event)
        if line is not None:
            self.note(line)


class LiveView(ProgressView):
    """A table redrawn in place while the run goes on."""

    def __init__(self, progress: RunProgress, console: Console) -> None:
        super().__init__(progress, console.file)
        self.console = console
        self._live = Live(
            get_renderable=self._table, console=console, refresh_per_second=4, transient=False
        )

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def update(self, event: Event) -> None:
        self.progress.apply(event)
        self._live.refresh()

    def note(self, text: str) -> None:
        self.console.print(Text(text), soft_wrap=True)  # above the table

    def _table(self) -> Table:
        now = datetime.now(UTC)
        table = Table(box=None, pad_edge=False, title_justify="left")
        table.title = f"run {self.progress.run_id}: {self.progress.state}"
        for header in ("STEP", "STATE", "CACHED", "ATTEMPT", "DURATION", ""):
            table.add_column(header, no_wrap=header != "")
        for row in self.progress.rows.values():
            table.add_row(
                row.name,
                Text(row.state, style=_STYLES.get(row.state, "")),
                "yes" if row.cached else "",
                str(row.attempt) if row.attempt else "",
                format_duration(row.duration(now)),
                Text(row.detail, style="dim"),
            )
        return table


def make_view(progress: RunProgress, stream: IO[str], *, plain: bool) -> ProgressView:
    """A live table on a terminal (unless ``plain``), else one line per change."""
    console = Console(file=stream, highlight=False)
    if plain or not console.is_terminal or console.is_dumb_terminal:
        return PlainView(progress, stream)
    return LiveView(progress, console)
