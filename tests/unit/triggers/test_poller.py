"""The poller: a cursor in KV, new objects fire once, limits keep the cursor back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from runner.errors import PermanentStoreError
from runner.store.listing import MemoryBucketLister
from runner.triggers import Limits, PollSource, TriggerEngine
from runner.triggers.limits import RunLimiter
from runner.triggers.poller import POLL_EVENT, Poller
from tests.unit.triggers.helpers import FakeClock, make_trigger, memory_bus, run_requests

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def _finished(pipeline: str, run_id: str) -> bool | None:
    return True


async def poller_for(start: str = "new", limits: Limits | None = None, suffix: str = ""):  # type: ignore[no-untyped-def]
    bus, clock, lister = await memory_bus(), FakeClock(), MemoryBucketLister()
    kv = await bus.kv_bucket("runner-triggers")
    engine = TriggerEngine(bus, await bus.kv_bucket("seen"), RunLimiter(kv, _finished), clock=clock)
    trigger = make_trigger(
        source=PollSource(interval_seconds=5, start=start),  # type: ignore[arg-type]
        limits=limits,
        suffix=suffix,
        parameters={"uri": "{{ object.uri }}", "note": "{{ event.name }}"},
    )
    return bus, lister, Poller(trigger, lister, engine, kv), kv


async def test_objects_already_there_start_nothing_new_ones_start_one_run_each() -> None:
    bus, lister, poller, kv = await poller_for()
    lister.put("training-data", "incoming/old.csv", "e0", modified=T0)
    assert await poller.poll_once() == 0  # sets the cursor only
    assert json.loads((await kv.get("cursor.incoming"))[0]) == {  # type: ignore[index]
        "since": T0.isoformat(),
        "at": ["incoming/old.csv\ne0"],
    }

    lister.put("training-data", "incoming/new file=1.csv", "e1", modified=T0 + timedelta(seconds=3))
    lister.put("training-data", "elsewhere/x.csv", "e2", modified=T0 + timedelta(seconds=3))
    assert await poller.poll_once() == 1
    assert await poller.poll_once() == 0
    assert await poller.poll_once() == 0
    (request,) = run_requests(bus)
    assert request.parameters == {
        "uri": "s3://training-data/incoming/new file=1.csv",
        "note": POLL_EVENT,
    }
    assert poller.stats == {"polls": 4, "errors": 0, "fired": 1}


async def test_an_overwrite_with_new_content_is_a_new_run() -> None:
    bus, lister, poller, _ = await poller_for(start="all")
    lister.put("training-data", "incoming/a.csv", "e1", modified=T0)
    assert await poller.poll_once() == 1
    lister.put("training-data", "incoming/a.csv", "e2", modified=T0 + timedelta(seconds=1))
    assert await poller.poll_once() == 1
    assert await poller.poll_once() == 0
    assert len(run_requests(bus)) == 2


async def test_same_second_objects_are_not_missed() -> None:
    """S3 times have one-second resolution: an object at the cursor time is still looked at."""
    _bus, lister, poller, _ = await poller_for(start="all")
    lister.put("training-data", "incoming/a.csv", "e1", modified=T0)
    assert await poller.poll_once() == 1
    lister.put("training-data", "incoming/b.csv", "e2", modified=T0)
    assert await poller.poll_once() == 1


async def test_filters_apply_to_polls() -> None:
    _bus, lister, poller, _ = await poller_for(start="all", suffix=".csv")
    lister.put("training-data", "incoming/a.json", "e1", modified=T0)
    assert await poller.poll_once() == 0


async def test_a_rate_limit_leaves_the_rest_for_the_next_poll() -> None:
    bus, lister, poller, kv = await poller_for(start="all", limits=Limits(max_runs_per_minute=1))
    for i in range(3):
        lister.put(
            "training-data", f"incoming/{i}.csv", f"e{i}", modified=T0 + timedelta(seconds=i)
        )
    assert await poller.poll_once() == 1
    cursor = json.loads((await kv.get("cursor.incoming"))[0])  # type: ignore[index]
    assert cursor == {"since": (T0 + timedelta(seconds=1)).isoformat(), "at": []}
    poller.engine.clock.advance(60)  # type: ignore[attr-defined]
    assert await poller.poll_once() == 1
    poller.engine.clock.advance(60)  # type: ignore[attr-defined]
    assert await poller.poll_once() == 1
    assert [r.parameters["uri"] for r in run_requests(bus)] == [
        f"s3://training-data/incoming/{i}.csv" for i in range(3)
    ]


async def test_errors_are_counted_and_polling_goes_on() -> None:
    _, lister, poller, _ = await poller_for()
    with pytest.raises(PermanentStoreError, match="does not exist"):
        await poller.poll_once()

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise _Stop

    poller.sleep = sleep
    with pytest.raises(_Stop):
        await poller.run()
    assert poller.stats["errors"] == 3
    assert waits == [5, 5, 5]
    assert lister.lists == 4


class _Stop(Exception):
    pass
