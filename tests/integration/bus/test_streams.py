"""ensure_streams, publishing edge cases and consumer cleanup on a real server."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

from runner.bus import NatsBus, connect
from runner.config import NatsSettings
from runner.errors import BusError, InvalidNameError
from runner.events import EventKind
from tests.fixtures.nats import delete_all_streams
from tests.unit.events.samples import sample

pytestmark = pytest.mark.integration


async def test_ensure_streams_creates_everything(bus: NatsBus, jetstream: JetStreamContext) -> None:
    stream = bus.settings.stream
    assert bus.last_ensure == {
        stream: "created",
        f"{stream}_DEADLETTER": "created",
        bus.settings.state_bucket: "created",
    }
    events = (await jetstream.stream_info(stream)).config
    assert events.subjects == ["runner.events.>"]
    assert events.retention == "limits"
    assert events.storage == "file"
    assert events.max_age == pytest.approx(30 * 24 * 3600)
    assert events.duplicate_window == pytest.approx(120)
    dead = (await jetstream.stream_info(f"{stream}_DEADLETTER")).config
    assert dead.subjects == ["runner.deadletter.>"]
    kv = (await jetstream.stream_info(f"KV_{bus.settings.state_bucket}")).config
    assert kv.max_msgs_per_subject == 1
    assert kv.max_msg_size == 8 * 1024 * 1024


async def test_ensure_streams_twice_changes_nothing(
    bus: NatsBus, jetstream: JetStreamContext
) -> None:
    before = await jetstream.stream_info(bus.settings.stream)
    await bus.ensure_streams()
    assert set(bus.last_ensure.values()) == {"unchanged"}
    after = await jetstream.stream_info(bus.settings.stream)
    assert after.config == before.config
    assert after.created == before.created


async def test_changed_settings_update_the_stream(
    bus: NatsBus, jetstream: JetStreamContext, bus_settings: NatsSettings
) -> None:
    # An operator's own limit on the stream must survive runner's update.
    current = (await jetstream.stream_info(bus.settings.stream)).config
    await jetstream.update_stream(current.evolve(max_msgs=1000))
    changed = bus_settings.model_copy(
        update={"stream_max_age_seconds": 3600.0, "duplicate_window_seconds": 30.0}
    )
    other = await connect(changed)
    try:
        await other.ensure_streams()
        assert other.last_ensure[changed.stream] == "updated"
        config = (await jetstream.stream_info(changed.stream)).config
        assert config.max_age == pytest.approx(3600)
        assert config.duplicate_window == pytest.approx(30)
        assert config.max_msgs == 1000
    finally:
        await other.close()


async def test_another_stream_owning_the_subjects_is_explained(
    bus: NatsBus, bus_settings: NatsSettings
) -> None:
    other = await connect(bus_settings.model_copy(update={"stream": "SOMEONE_ELSE"}))
    try:
        with pytest.raises(BusError) as info:
            await other.ensure_streams()
    finally:
        await other.close()
    assert "another stream already stores runner.events.>" in str(info.value)
    assert "RUNNER_NATS_STREAM" in str(info.value)


async def test_publish_without_streams_says_how_to_fix(
    bus: NatsBus, jetstream: JetStreamContext
) -> None:
    await delete_all_streams(jetstream)
    with pytest.raises(BusError) as info:
        await bus.publish(sample(EventKind.RUN_STARTED))
    assert "no JetStream stream stores this subject" in str(info.value)
    assert "runner up" in str(info.value)


async def test_publishing_an_invalid_subject_is_refused(bus: NatsBus) -> None:
    with pytest.raises(InvalidNameError, match=r"pipeline 'a\.b' is not a valid name"):
        await bus.publish(sample(EventKind.RUN_STARTED).model_copy(update={"pipeline": "a.b"}))


async def test_kv_opens_an_existing_bucket_without_ensure(
    bus: NatsBus, bus_settings: NatsSettings
) -> None:
    await (await bus.state_bucket()).create("run.r1", b"x")
    reader = await connect(bus_settings)
    try:
        assert await (await reader.state_bucket()).get("run.r1") == (b"x", 1)
    finally:
        await reader.close()


async def test_kv_without_a_bucket_says_how_to_fix(
    bus: NatsBus, bus_settings: NatsSettings
) -> None:
    reader = await connect(bus_settings.model_copy(update={"state_bucket": "no-such-bucket"}))
    try:
        with pytest.raises(BusError, match=r"'no-such-bucket' does not exist.*runner up"):
            await (await reader.state_bucket()).get("run.r1")
    finally:
        await reader.close()


async def test_kv_value_of_several_megabytes(bus: NatsBus) -> None:
    value = b"x" * (3 * 1024 * 1024)
    kv = await bus.state_bucket()
    rev = await kv.create("run.huge", value)
    assert await kv.get("run.huge") == (value, rev)
    with pytest.raises(BusError, match="max_payload"):
        await kv.create("run.too-big", b"x" * (9 * 1024 * 1024))


async def test_closing_a_subscription_removes_its_ephemeral_consumer(
    bus: NatsBus, jetstream: JetStreamContext
) -> None:
    await bus.publish(sample(EventKind.RUN_STARTED))
    stream = bus.subscribe("runner.events.>")
    durable = bus.subscribe("runner.events.>", durable="keeper")
    try:
        await anext(stream)
        await anext(durable)
        assert (await jetstream.stream_info(bus.settings.stream)).state.consumer_count == 2
    finally:
        await stream.aclose()
        await durable.aclose()
    names = [c.name for c in await jetstream.consumers_info(bus.settings.stream)]
    assert names == ["keeper"]


async def test_consumers_with_one_durable_name_share_the_work(bus: NatsBus) -> None:
    for i in range(6):
        await bus.publish(sample(EventKind.RUN_STARTED, run_id=f"r{i}"))
    a = await bus.pull_consumer("ctl")
    b = await bus.pull_consumer("ctl")
    try:
        got_a = await a.fetch(3, 2.0)
        got_b = await b.fetch(10, 2.0)
        ids = [d.event.id for d in got_a + got_b if d.event]
        assert sorted(ids) == sorted(f"r{i}/run.started" for i in range(6))
        for delivery in got_a + got_b:
            await delivery.ack()
    finally:
        await a.close()
        await b.close()
