"""The scheduler: fires each schedule's due cron ticks as runs, effectively once.

Runs inside ``runner up`` and the in-cluster controller
(:func:`runner.service.serve`). Every pass (:meth:`Scheduler.run_once`) reads
the schedules and, for each one not paused, the ticks due since its cursor:

1. ticks in (cursor, now] — with catch-up the missed ones, oldest first
   (at most :data:`MAX_CATCHUP` of them), without it only the latest;
2. a tick waits while the schedule has ``max_concurrency`` unfinished runs;
3. ``run.requested`` is published with the run id ``<schedule>-<tick>`` and
   the event id ``<run id>/run.requested``;
4. the cursor moves to the tick (compare-and-set).

A crash between 3 and 4 publishes the same event again after the restart:
JetStream drops it inside its dedup window and the controller ignores a
second request for a run it knows, so a tick is neither lost nor doubled.
Two schedulers on one NATS race on the cursor the same way and are just as
safe. The clock and the sleep are injectable: tests drive a fake clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from runner.bus.base import Bus
from runner.errors import ConflictError, RunnerError
from runner.lifecycle.cron import parse_cron
from runner.lifecycle.schedules import ActiveRun, Cursor, Schedule, Schedules, tick_run_id
from runner.records.requests import request_run
from runner.records.states import RunStates
from runner.tasks import raise_if_cancelling, stop_task

__all__ = ["MAX_CATCHUP", "Scheduler"]

log = logging.getLogger(__name__)

MAX_CATCHUP = 50
"""Most missed ticks one schedule fires after downtime; older ones are skipped."""
UNSEEN_RUN_GRACE = timedelta(minutes=10)
"""A requested run the controller never recorded stops counting against the cap."""
CAS_ATTEMPTS = 5


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """``async with Scheduler(bus):`` fires schedules until the block ends."""

    def __init__(
        self,
        bus: Bus,
        *,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        poll_seconds: float = 5.0,
    ) -> None:
        self.bus = bus
        self.schedules = Schedules(bus)
        self.clock = clock
        self.sleep = sleep
        self.poll_seconds = poll_seconds
        self.fired: list[str] = []
        """Run ids this scheduler requested, in order (for tests and logs)."""
        self._states = RunStates(bus)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Scheduler:
        self._task = asyncio.create_task(self.run(), name="scheduler")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await stop_task(self._task)
        self._task = None

    async def run(self) -> None:
        """Pass after pass until cancelled; trouble in one pass is logged and retried."""
        while True:
            try:
                await self.run_once()
            except RunnerError as exc:
                raise_if_cancelling(exc)
                log.warning("scheduler: %s; trying again in %.0fs", exc, self.poll_seconds)
            except Exception as exc:  # a bug must not silently end every schedule
                raise_if_cancelling(exc)
                log.exception("scheduler: unexpected error; trying again")
            await self.sleep(self.poll_seconds)

    async def run_once(self) -> list[str]:
        """Fire every due tick of every schedule now; returns the run ids requested."""
        now = self.clock()
        fired: list[str] = []
        for schedule in await self.schedules.all():
            if schedule.paused:
                continue
            try:
                fired += await self._fire_due(schedule, now)
            except RunnerError as exc:  # one broken schedule does not stop the others
                log.warning("schedule %s: %s", schedule.name, exc)
        return fired

    async def _fire_due(self, schedule: Schedule, now: datetime) -> list[str]:
        fired: list[str] = []
        cron = parse_cron(schedule.cron)
        for _ in range(MAX_CATCHUP + CAS_ATTEMPTS):
            cursor, revision = await self.schedules.cursor(schedule.name)
            start = max(cursor.last_tick or schedule.start, schedule.start)
            due = cron.ticks_between(start, now, MAX_CATCHUP if schedule.catchup else 1)
            if not due:
                return fired
            active = await self._still_active(cursor.active, now)
            cap = schedule.max_concurrency
            if cap is not None and len(active) >= cap:
                if active != cursor.active:
                    await self._save(
                        schedule, cursor.model_copy(update={"active": active}), revision
                    )
                return fired
            tick = due[0]
            run_id = tick_run_id(schedule.name, tick)
            await self._request(schedule, run_id, tick, now)
            moved = Cursor(
                last_tick=tick,
                active=[*active, ActiveRun(run_id=run_id, at=now)],
                fired=cursor.fired + 1,
            )
            if not await self._save(schedule, moved, revision):
                continue  # another scheduler moved it; the request was the same event
            fired.append(run_id)
            self.fired.append(run_id)
            log.info("schedule %s: tick %s fired as run %s", schedule.name, tick, run_id)
        return fired

    async def _save(self, schedule: Schedule, cursor: Cursor, revision: int) -> bool:
        try:
            await self.schedules.save_cursor(schedule.name, cursor, revision)
        except ConflictError:
            return False
        return True

    async def _request(
        self, schedule: Schedule, run_id: str, tick: datetime, now: datetime
    ) -> None:
        await request_run(
            bus=self.bus,
            pipeline=schedule.pipeline,
            digest=schedule.digest,
            spec_uri=schedule.spec_uri,
            code=schedule.code,
            parameters=schedule.parameters,
            no_cache=schedule.no_cache,
            experiment=schedule.experiment,
            version=schedule.version,
            run_id=run_id,
            requested_by=f"schedule/{schedule.name}",
            labels={"schedule": schedule.name, "tick": tick.isoformat()},
            time=now,
        )

    async def _still_active(self, runs: list[ActiveRun], now: datetime) -> list[ActiveRun]:
        still = []
        for run in runs:
            loaded = await self._states.load(run.run_id)
            if loaded is None:
                if now - run.at <= UNSEEN_RUN_GRACE:
                    still.append(run)
            elif not loaded[0].status.terminal:
                still.append(run)
        return still
