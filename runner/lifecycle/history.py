"""Run history: listing runs and experiments from the run index.

:func:`list_runs` reads the index in one pass (filtered by experiment and
pipeline on the server), re-checks the few entries that still say a run is
active against the run state (the index is written best-effort), filters by
status and time, and sorts newest first. An index that was never built (a
stack whose controller predates it) is built here from the run states once.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from runner.bus.base import Bus
from runner.core.state import RunStatus
from runner.errors import ValidationError
from runner.events.kinds import validate_name
from runner.records.index import RunIndex, RunSummary
from runner.records.states import RunStates

__all__ = ["ExperimentSummary", "RunFilter", "experiments", "list_runs", "parse_since"]

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class RunFilter:
    experiment: str | None = None
    pipeline: str | None = None
    status: RunStatus | None = None
    since: datetime | None = None
    """Only runs created at or after this time."""
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.experiment is not None:
            validate_name(self.experiment, "experiment")
        if self.pipeline is not None:
            validate_name(self.pipeline, "pipeline")

    def keeps(self, summary: RunSummary) -> bool:
        if self.status is not None and summary.status is not self.status:
            return False
        return self.since is None or summary.created_at >= self.since


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2h``, ``3d``, ``1w`` (ago) or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"--since {text!r} is neither a duration nor a date: use e.g. 30m, 2h, 7d, 1w, "
            "2026-11-28 or 2026-11-28T09:30"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def list_runs(bus: Bus, where: RunFilter | None = None) -> list[RunSummary]:
    """Runs matching ``where``, newest first."""
    where = where or RunFilter()
    index = RunIndex(bus)
    if not await index.built():
        await rebuild(bus, index)
    found = await index.scan(experiment=where.experiment, pipeline=where.pipeline)
    found = await _refresh_active(bus, index, found)
    runs = sorted(
        (s for s in found if where.keeps(s)), key=lambda s: (s.created_at, s.run_id), reverse=True
    )
    return runs if where.limit is None else runs[: max(where.limit, 0)]


async def rebuild(bus: Bus, index: RunIndex | None = None) -> int:
    """Index every run state (once per stack, when no controller did it)."""
    index = index or RunIndex(bus)
    states = RunStates(bus)
    summaries = []
    for run_id in await states.run_ids():
        loaded = await states.load(run_id)
        if loaded is not None:
            summaries.append(RunSummary.from_state(loaded[0]))
    return await index.backfill(summaries)


async def _refresh_active(bus: Bus, index: RunIndex, found: list[RunSummary]) -> list[RunSummary]:
    """Entries that say "running" are checked against the state: a controller that
    died between writing the state and the index leaves them stale."""
    states = RunStates(bus)

    async def check(summary: RunSummary) -> RunSummary:
        loaded = await states.load(summary.run_id)
        if loaded is None or loaded[0].status is summary.status:
            return summary
        fresh = RunSummary.from_state(loaded[0])
        await index.put(fresh)
        return fresh

    active = [i for i, s in enumerate(found) if not s.status.terminal]
    checked = await asyncio.gather(*(check(found[i]) for i in active))
    for i, summary in zip(active, checked, strict=True):
        found[i] = summary
    return found


@dataclass
class ExperimentSummary:
    name: str
    runs: int = 0
    pipelines: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    last_run: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "experiment": self.name,
            "runs": self.runs,
            "pipelines": sorted(self.pipelines),
            "statuses": dict(sorted(self.statuses.items())),
            "last_run": self.last_run.isoformat() if self.last_run else None,
        }


async def experiments(bus: Bus) -> list[ExperimentSummary]:
    """Every experiment with at least one run, most recently used first."""
    by_name: dict[str, ExperimentSummary] = {}
    for run in await list_runs(bus):
        entry = by_name.setdefault(run.experiment, ExperimentSummary(run.experiment))
        entry.runs += 1
        entry.pipelines.add(run.pipeline)
        entry.statuses[run.status.value] += 1
        if entry.last_run is None or run.created_at > entry.last_run:
            entry.last_run = run.created_at
    return sorted(
        by_name.values(),
        key=lambda e: e.last_run or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
