"""runner.subscribe: filters, durable resume, and clear errors (MemoryBus)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import runner
from runner.config import NatsSettings, Settings
from runner.errors import ConfigError
from tests.unit.triggers.helpers import memory_bus
from tests.unit.triggers.test_sink import started, step_started
from tests.waiting import until


async def test_keywords_filter_and_durable_resumes() -> None:
    bus = await memory_bus()
    for event in (started("r1"), step_started("r1", "a"), started("r2", pipeline="other")):
        await bus.publish(event)
    async with (
        asyncio.timeout(10),
        runner.subscribe(pipeline="iris", kind="run", durable="notifier", bus=bus) as events,
    ):
        assert events.subject == "runner.events.iris.*.run.*"
        first = await anext(events)
        assert first.id == "r1/run.started"
    await bus.publish(started("r3"))
    seen = []
    async for event in runner.subscribe(pipeline="iris", kind="run", durable="notifier", bus=bus):
        seen.append(event.id)
        break
    # The event being handled when the first subscriber stopped comes again (at least once).
    assert seen == ["r1/run.started"]


async def test_a_subject_filter_and_deliver_new() -> None:
    bus = await memory_bus()
    await bus.publish(started("r1"))
    # "new" starts when the consumer is made, at the first anext.
    async with (
        asyncio.timeout(10),
        runner.subscribe("runner.events.*.*.step.>", deliver="new", bus=bus) as events,
    ):
        await bus.publish(step_started("r1", "old"))
        waiting = asyncio.create_task(anext(events))
        await until(
            lambda: any(name.startswith("_ephemeral") for name in bus._consumers),
            "the ephemeral consumer",
            10,
            interval=0,
        )
        await bus.publish(step_started("r2", "a"))
        assert (await waiting).id == "r2/a/1/step.started"
    assert not bus._closed, "a bus passed in is not closed by the subscription"


def test_bad_filters() -> None:
    with pytest.raises(ConfigError, match="not both"):
        runner.subscribe("runner.events.>", pipeline="iris")
    with pytest.raises(ConfigError, match="not a runner event subject"):
        runner.subscribe("orders.>")
    with pytest.raises(ValueError, match="not a valid name"):
        runner.subscribe(pipeline="Bad Name")


async def test_no_nats_to_connect_to(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, nats=NatsSettings(url=None))
    with pytest.raises(ConfigError, match="no NATS to subscribe to"):
        async with runner.subscribe(settings=settings):
            pass
