"""The scheduler with a fake clock: on time, once per tick across restarts and crashes,
catch-up bounded, no-catchup, max concurrency, pause and resume."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from runner.bus.memory import MemoryBus
from runner.core.state import RunStatus
from runner.events.codec import decode
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.lifecycle.scheduler import MAX_CATCHUP, Scheduler
from runner.lifecycle.schedules import Schedule, Schedules
from runner.records.states import RunStates
from tests.unit.lifecycle.factories import run_state

T0 = datetime(2026, 11, 2, 9, 58, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def bus() -> MemoryBus:
    memory = MemoryBus()
    await memory.ensure_streams()
    return memory


async def add(bus: MemoryBus, cron: str = "*/5 * * * *", **fields: object) -> Schedule:
    schedule = Schedule(
        name=str(fields.pop("name", "every5")),
        pipeline="iris",
        version="v1",
        digest="d" * 64,
        spec_uri="file:///store/pipelines/iris/x.json",
        cron=cron,
        parameters={"lr": 0.1},
        created_at=T0,
        **fields,  # type: ignore[arg-type]
    )
    await Schedules(bus).add(schedule)
    return schedule


def events(bus: MemoryBus) -> list[Event]:
    return [decode(m.body, m.headers) for m in bus.messages]


def requested(bus: MemoryBus) -> list[str]:
    return [e.run_id for e in events(bus) if e.kind is EventKind.RUN_REQUESTED]


async def test_fires_on_time_once_and_not_again_after_a_restart(bus: MemoryBus) -> None:
    clock = Clock(T0)
    await add(bus, experiment="nightly")
    scheduler = Scheduler(bus, clock=clock)
    assert await scheduler.run_once() == []
    clock.advance(seconds=89)  # 09:59:59
    assert await scheduler.run_once() == []
    clock.advance(seconds=1)  # 10:00:00 exactly
    assert await scheduler.run_once() == ["every5-20261102-1000"]
    assert await scheduler.run_once() == []
    restarted = Scheduler(bus, clock=clock)  # a controller restart: a new scheduler
    assert await restarted.run_once() == []
    assert requested(bus) == ["every5-20261102-1000"]
    [event] = events(bus)
    assert event.id == "every5-20261102-1000/run.requested"
    data = event.data
    assert data.experiment == "nightly"
    assert data.version == "v1"
    assert data.requested_by == "schedule/every5"  # type: ignore[union-attr]
    assert data.parameters == {"lr": 0.1}  # type: ignore[union-attr]


async def test_a_crash_after_publishing_fires_the_same_request_again(bus: MemoryBus) -> None:
    clock = Clock(T0 + timedelta(minutes=2))  # 10:00:30
    await add(bus)
    crashing = Scheduler(bus, clock=clock)

    async def crash(*args: object) -> bool:
        raise RuntimeError("killed before the cursor was written")

    crashing._save = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await crashing.run_once()
    assert await Scheduler(bus, clock=clock).run_once() == ["every5-20261102-1000"]
    # The same deterministic event twice: JetStream (here the memory bus) drops the repeat.
    assert requested(bus) == ["every5-20261102-1000"]
    assert bus.stats["duplicates"] == 1


async def test_catch_up_fires_each_missed_tick_once_bounded(bus: MemoryBus) -> None:
    clock = Clock(T0)
    await add(bus)
    clock.advance(minutes=16)  # 10:14:30: 10:00, 10:05, 10:10 were missed
    fired = await Scheduler(bus, clock=clock).run_once()
    assert fired == ["every5-20261102-1000", "every5-20261102-1005", "every5-20261102-1010"]
    clock.advance(days=2)  # far more than MAX_CATCHUP ticks
    fired = await Scheduler(bus, clock=clock).run_once()
    assert len(fired) == MAX_CATCHUP
    assert fired[-1] == "every5-20261104-1010"


async def test_without_catch_up_only_the_latest_missed_tick_fires(bus: MemoryBus) -> None:
    clock = Clock(T0)
    await add(bus, catchup=False)
    clock.advance(minutes=16)
    assert await Scheduler(bus, clock=clock).run_once() == ["every5-20261102-1010"]


async def test_max_concurrency_waits_for_a_run_to_finish(bus: MemoryBus) -> None:
    clock = Clock(T0)
    await add(bus, max_concurrency=1)
    scheduler = Scheduler(bus, clock=clock)
    clock.advance(minutes=2)
    assert await scheduler.run_once() == ["every5-20261102-1000"]
    clock.advance(minutes=5)
    assert await scheduler.run_once() == []  # the 10:00 run is not finished
    state = run_state("every5-20261102-1000", status=RunStatus.SUCCEEDED)
    await RunStates(bus).save(state, None)
    assert await scheduler.run_once() == ["every5-20261102-1005"]


async def test_paused_ticks_are_skipped_and_resume_starts_afresh(bus: MemoryBus) -> None:
    clock = Clock(T0)
    await add(bus)
    schedules = Schedules(bus)
    await schedules.set_paused("every5", True, clock())
    clock.advance(minutes=12)  # 10:10:30
    assert await Scheduler(bus, clock=clock).run_once() == []
    await schedules.set_paused("every5", False, clock())
    clock.advance(minutes=5)  # 10:15:30
    assert await Scheduler(bus, clock=clock).run_once() == ["every5-20261102-1015"]


async def test_the_loop_runs_until_its_owner_leaves(bus: MemoryBus) -> None:
    clock = Clock(T0 + timedelta(minutes=2))
    await add(bus)
    slept = asyncio.Event()

    async def sleep(_: float) -> None:
        slept.set()
        await asyncio.Event().wait()  # until the scheduler is stopped

    async with Scheduler(bus, clock=clock, sleep=sleep) as scheduler:
        async with asyncio.timeout(10):
            await slept.wait()
    assert scheduler.fired == ["every5-20261102-1000"]


async def test_a_broken_schedule_does_not_stop_the_others(bus: MemoryBus) -> None:
    clock = Clock(T0 + timedelta(minutes=2))
    await add(bus, cron="0 25 * * *", name="broken")  # the CLI would refuse it; stored anyway
    await add(bus)
    assert await Scheduler(bus, clock=clock).run_once() == ["every5-20261102-1000"]
