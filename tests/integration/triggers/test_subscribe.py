"""runner.subscribe over a real nats-server, connecting by itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import runner
from runner.bus import NatsBus
from runner.config import NatsSettings, Settings
from tests.unit.triggers.test_sink import started

pytestmark = pytest.mark.integration


async def test_durable_subscription_resumes_where_it_left_off(
    bus: NatsBus, bus_settings: NatsSettings, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, nats=bus_settings)
    for run in ("r1", "r2"):
        await bus.publish(started(run))
    async with (
        asyncio.timeout(20),
        runner.subscribe(kind="run", durable="audit", settings=settings) as events,
    ):
        assert (await anext(events)).run_id == "r1"
        assert (await anext(events)).run_id == "r2"  # acks r1
    await bus.publish(started("r3"))
    async with (
        asyncio.timeout(20),
        runner.subscribe(kind="run", durable="audit", settings=settings) as events,
    ):
        # r2 was being handled when the loop stopped: it comes again, then r3.
        assert [(await anext(events)).run_id for _ in range(2)] == ["r2", "r3"]
