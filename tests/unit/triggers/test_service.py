"""The service reconciles stored definitions into running feeds, pollers and sinks."""

from __future__ import annotations

from datetime import UTC, datetime

from runner.bus import MemoryBus
from runner.store.listing import MemoryBucketLister
from runner.triggers import (
    NOTIFICATION_DEAD_LETTERS,
    NatsSource,
    PollSource,
    Sink,
    TriggerService,
    sink_definitions,
    trigger_definitions,
)
from runner.triggers.feeds import FeedKey
from tests.unit.triggers.helpers import (
    bus_changed,
    fixture_body,
    make_trigger,
    memory_bus,
    run_requests,
)
from tests.unit.triggers.test_sink import FakeSender, started
from tests.waiting import until

SUBJECT = "runner.notifications.minio"


def service(
    bus: MemoryBus, lister: MemoryBucketLister | None = None, **kw: object
) -> TriggerService:
    return TriggerService(
        bus,
        lister_factory=lambda _source: lister or MemoryBucketLister(),
        sender=FakeSender(iter([])),
        reload_seconds=3600,  # reconcile is called by the tests
        **kw,  # type: ignore[arg-type]
    )


async def test_jetstream_feed_fires_and_survives_a_restart() -> None:
    bus = await memory_bus()
    triggers = await trigger_definitions(bus)
    await triggers.add("incoming", make_trigger())
    async with service(bus) as svc:
        assert list(svc.feeds) == [FeedKey(SUBJECT, "RUNNER_NOTIFICATIONS")]
        await bus.publish_raw(SUBJECT, fixture_body())
        await until(
            lambda: len(run_requests(bus)) == 1, "one run request", 5, pause=bus_changed(bus)
        )
    async with service(bus) as svc:
        await bus.publish_raw(SUBJECT, fixture_body())
        assert svc.engine is not None
        await until(
            lambda: svc.engine.stats["duplicates"] == 1,  # type: ignore[union-attr]
            "the duplicate",
            5,
            pause=bus_changed(bus),
        )
    assert len(run_requests(bus)) == 1


async def test_core_nats_feed() -> None:
    bus = await memory_bus()
    triggers = await trigger_definitions(bus)
    trigger = make_trigger(source=NatsSource(subject="minio.events", jetstream=False))
    await triggers.add("incoming", trigger)
    async with service(bus) as svc:
        assert list(svc.feeds) == [FeedKey("minio.events", None)]
        await bus.publish_core("minio.events", fixture_body())
        await until(
            lambda: len(run_requests(bus)) == 1, "one run request", 5, pause=bus_changed(bus)
        )


async def test_disabling_stops_reacting_and_dead_letters_meanwhile() -> None:
    bus = await memory_bus()
    triggers = await trigger_definitions(bus)
    await triggers.add("incoming", make_trigger())
    async with service(bus) as svc:
        await triggers.set_enabled("incoming", False)
        await svc.reconcile()
        await bus.publish_raw(SUBJECT, fixture_body())
        await until(
            lambda: len(bus.dead_letters) == 1, "the dead letter", 5, pause=bus_changed(bus)
        )
        assert bus.dead_letters[0].subject == NOTIFICATION_DEAD_LETTERS
        await triggers.set_enabled("incoming", True)
        await svc.reconcile()
        await bus.publish_raw(SUBJECT, fixture_body())
        await until(
            lambda: len(run_requests(bus)) == 1, "one run request", 5, pause=bus_changed(bus)
        )


async def test_pollers_and_sinks_follow_their_definitions() -> None:
    bus = await memory_bus()
    lister = MemoryBucketLister()
    lister.put("training-data", "incoming/a.csv", "e1", modified=datetime(2026, 1, 1, tzinfo=UTC))
    triggers = await trigger_definitions(bus)
    await triggers.add(
        "polled", make_trigger("polled", source=PollSource(interval_seconds=0.01, start="all"))
    )
    async with service(bus, lister) as svc:
        await until(
            lambda: len(run_requests(bus)) == 1, "one run request", 5, pause=bus_changed(bus)
        )
        assert list(svc.pollers) == ["polled"]
        assert svc.feeds == {}
        sinks = await sink_definitions(bus)
        await sinks.add("hook", Sink(name="hook", url="http://x.test/"))
        await svc.reconcile()
        await bus.publish(started("r1"))
        await until(
            lambda: svc.sinks["hook"].stats["delivered"] >= 1,
            "a delivery",
            5,
            pause=bus_changed(bus),
        )
        await triggers.remove("polled")
        await sinks.set_enabled("hook", False)
        await svc.reconcile()
        assert svc._tasks == {}
