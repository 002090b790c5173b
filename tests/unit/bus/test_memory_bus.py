"""MemoryBus behaviour beyond the shared contract, and the bus helpers."""

from __future__ import annotations

import asyncio
import time

import pytest

from runner.bus import MemoryBus, subject_matches, validate_kv_key
from runner.bus.base import header_value
from runner.errors import BusError, BusUnavailableError, InvalidNameError
from runner.events import EventKind
from tests.unit.events.samples import sample

RUN = sample(EventKind.RUN_STARTED)


async def test_streams_must_be_ensured_first() -> None:
    bus = MemoryBus()
    with pytest.raises(BusError, match=r"call ensure_streams\(\) first"):
        await bus.publish(RUN)
    with pytest.raises(BusError, match="ensure_streams"):
        await (await bus.state_bucket()).get("run.r1")


async def test_duplicates_are_dropped_only_within_the_window() -> None:
    bus = MemoryBus(duplicate_window=0.05)
    await bus.ensure_streams()
    await bus.publish(RUN)
    await bus.publish(RUN)
    assert len(bus.messages) == 1
    window_end = time.monotonic() + 0.05
    while time.monotonic() <= window_end:  # wait for the window to pass, not a guess
        await bus.wait_changed(0.01)
    await bus.publish(RUN)
    assert len(bus.messages) == 2
    assert bus.stats == {"published": 2, "duplicates": 1, "dead_letters": 0, "decode_failures": 0}


async def test_subject_outside_the_stream_is_refused() -> None:
    bus = MemoryBus()
    await bus.ensure_streams()
    with pytest.raises(BusError, match="no stream stores this subject"):
        await bus.publish_raw("somewhere.else", b"{}")


async def test_closed_bus_is_unavailable() -> None:
    bus = MemoryBus()
    await bus.ensure_streams()
    consumer = await bus.pull_consumer("ctl")
    await bus.close()
    with pytest.raises(BusUnavailableError):
        await bus.publish(RUN)
    with pytest.raises(BusUnavailableError):
        await consumer.fetch(1, 0.1)


async def test_max_ack_pending_holds_back_deliveries() -> None:
    bus = MemoryBus()
    await bus.ensure_streams()
    for i in range(3):
        await bus.publish(sample(EventKind.RUN_STARTED, run_id=f"r{i}"))
    consumer = await bus.pull_consumer("ctl")
    bus._consumers["ctl"].max_ack_pending = 2
    first = await consumer.fetch(10, 1.0)
    assert len(first) == 2
    assert await consumer.fetch(10, 0.05) == []
    await first[0].ack()
    (third,) = await consumer.fetch(10, 1.0)
    assert third.event is not None
    assert third.event.run_id == "r2"


async def test_a_waiting_fetch_wakes_on_publish() -> None:
    bus = MemoryBus()
    await bus.ensure_streams()
    consumer = await bus.pull_consumer("ctl")
    started = time.monotonic()
    fetching = asyncio.ensure_future(consumer.fetch(1, 5.0))
    await asyncio.sleep(0)  # let the fetch find nothing and start waiting
    assert not fetching.done()
    await bus.publish(RUN)
    (delivery,) = await fetching
    assert delivery.event == RUN
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("runner.events.>", "runner.events.iris.r1.run.started", True),
        ("runner.events.>", "runner.events", False),
        ("runner.events.iris.*.run.>", "runner.events.iris.r1.run.started", True),
        ("runner.events.iris.*.run.>", "runner.events.iris.r1.step.failed", False),
        ("runner.events.*.*.step.failed", "runner.events.a.b.step.failed", True),
        ("runner.events.*.*.step.failed", "runner.events.a.b.step.failed.x", False),
        ("a.b", "a.b", True),
        ("a.b", "a", False),
    ],
)
def test_subject_matches(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


def test_kv_keys_are_names_joined_by_dots() -> None:
    assert validate_kv_key("run.r-1") == "run.r-1"
    with pytest.raises(InvalidNameError, match=r"KV key 'run\.R' is invalid"):
        validate_kv_key("run.R")


def test_header_value_is_one_bounded_line() -> None:
    assert header_value("a\r\nb\tc") == "a b c"
    assert len(header_value("x" * 5000)) == 1024
