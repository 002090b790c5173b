"""Schedules: a registered pipeline version run on a cron, stored in NATS KV.

The ``runner-schedules`` bucket holds, per schedule, its definition
(``def.<name>``: what to run, when, with which parameters) and its cursor
(``cursor.<name>``: the last tick fired and the schedule's unfinished runs).
They are separate keys so that ``pause``/``resume`` and the scheduler never
overwrite each other; both are compare-and-set.

The pipeline is resolved when the schedule is added — a registered version's
spec and code package — so the schedule keeps running exactly that version.
A tick's run id is ``<schedule>-<YYYYMMDD-HHMM>`` (UTC): the same tick always
makes the same ``run.requested``, whoever fires it and however often.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.bus.base import Bus, KVBucket
from runner.errors import ConflictError, InvalidNameError, NotFoundError
from runner.errors import ValidationError as RunnerValidationError
from runner.events.kinds import validate_name
from runner.events.models import CodeRef

__all__ = [
    "MAX_SCHEDULE_NAME",
    "SCHEDULES_BUCKET",
    "ActiveRun",
    "Cursor",
    "Schedule",
    "Schedules",
    "tick_run_id",
    "validate_schedule_name",
]

SCHEDULES_BUCKET = "runner-schedules"
MAX_SCHEDULE_NAME = 40
"""Run ids add ``-YYYYMMDD-HHMM`` (14 characters) and must stay within 63."""


def validate_schedule_name(name: str) -> str:
    validate_name(name, "schedule")
    if len(name) > MAX_SCHEDULE_NAME:
        raise InvalidNameError(
            f"schedule name {name!r} is {len(name)} characters long: use at most "
            f"{MAX_SCHEDULE_NAME} (run ids add the tick's time)"
        )
    return name


def tick_run_id(schedule: str, tick: datetime) -> str:
    return f"{schedule}-{tick:%Y%m%d-%H%M}"


class Schedule(BaseModel):
    """What a schedule runs and when."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    pipeline: str
    version: str
    digest: str
    spec_uri: str
    code: CodeRef | None = None
    cron: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: int | None = Field(default=None, ge=1)
    """At most this many of its runs unfinished at once; a tick waits for a slot."""
    catchup: bool = True
    """After downtime, fire every missed tick (bounded); off: only the latest one."""
    experiment: str = "default"
    no_cache: bool = False
    paused: bool = False
    created_at: datetime
    resumed_at: datetime | None = None
    """Ticks before this are never fired: a pause skips its ticks, downtime does not."""

    @property
    def ref(self) -> str:
        return f"{self.pipeline}@{self.version}"

    @property
    def start(self) -> datetime:
        return self.resumed_at or self.created_at


class ActiveRun(BaseModel):
    run_id: str
    at: datetime


class Cursor(BaseModel):
    """Where a schedule's firing stands."""

    last_tick: datetime | None = None
    active: list[ActiveRun] = Field(default_factory=list)
    fired: int = 0


class Schedules:
    """Schedule definitions and cursors on one NATS."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._kv: KVBucket | None = None

    async def bucket(self) -> KVBucket:
        if self._kv is None:
            self._kv = await self.bus.kv_bucket(SCHEDULES_BUCKET, description="runner schedules")
        return self._kv

    async def add(self, schedule: Schedule) -> None:
        validate_schedule_name(schedule.name)
        try:
            await (await self.bucket()).create(f"def.{schedule.name}", _dump(schedule))
        except ConflictError:
            raise RunnerValidationError(
                f"schedule {schedule.name!r} already exists: remove it first "
                f"(`runner schedule rm {schedule.name}`) or choose another name"
            ) from None

    async def get(self, name: str) -> tuple[Schedule, int]:
        validate_schedule_name(name)
        found = await (await self.bucket()).get(f"def.{name}")
        if found is None:
            known = ", ".join(s.name for s in await self.all()) or "none"
            raise NotFoundError(f"no schedule {name!r} (schedules: {known})")
        return Schedule.model_validate_json(found[0]), found[1]

    async def all(self) -> list[Schedule]:
        found = []
        for _, value in await (await self.bucket()).values("def.*"):
            try:
                found.append(Schedule.model_validate_json(value))
            except ValidationError:
                continue  # written by a newer runner; not ours to run
        return sorted(found, key=lambda s: s.name)

    async def set_paused(self, name: str, paused: bool, now: datetime) -> Schedule:
        kv = await self.bucket()
        for _ in range(5):
            schedule, revision = await self.get(name)
            if schedule.paused == paused:
                return schedule
            update: dict[str, Any] = {"paused": paused}
            if not paused:
                update["resumed_at"] = now
            changed = schedule.model_copy(update=update)
            try:
                await kv.update(f"def.{name}", _dump(changed), revision)
                return changed
            except ConflictError:
                continue
        raise ConflictError(f"schedule {name!r} kept changing; try again")

    async def remove(self, name: str) -> None:
        await self.get(name)  # NotFoundError listing the schedules there are
        kv = await self.bucket()
        await kv.delete(f"def.{name}")
        await kv.delete(f"cursor.{name}")

    async def cursor(self, name: str) -> tuple[Cursor, int]:
        """The cursor and its revision (0: none written yet)."""
        found = await (await self.bucket()).get(f"cursor.{name}")
        if found is None or not found[0]:
            return Cursor(), 0
        try:
            return Cursor.model_validate(json.loads(found[0])), found[1]
        except (ValueError, ValidationError):
            return Cursor(), found[1]

    async def save_cursor(self, name: str, cursor: Cursor, revision: int) -> None:
        """Compare-and-set; ConflictError when another scheduler moved it."""
        kv = await self.bucket()
        value = cursor.model_dump_json().encode()
        if revision == 0:
            await kv.create(f"cursor.{name}", value)
        else:
            await kv.update(f"cursor.{name}", value, revision)


def _dump(schedule: Schedule) -> bytes:
    return schedule.model_dump_json().encode()
