"""The engine: one run per object version, limits, and dead letters for bad notifications."""

from __future__ import annotations

import json

import pytest

from runner.bus import DEAD_LETTER_REASON_HEADER, DEAD_LETTER_SUBJECT_HEADER, MemoryBus
from runner.events.codec import decode
from runner.triggers import NOTIFICATION_DEAD_LETTERS, Fired, Limits, TriggerEngine
from runner.triggers.limits import CONCURRENCY_RECHECK_SECONDS, UNSEEN_RUN_GRACE, RunLimiter
from runner.triggers.requests import request_key
from tests.unit.triggers.helpers import (
    FIXTURE_URI,
    FakeClock,
    fixture_body,
    make_trigger,
    memory_bus,
    notification,
    obj,
    run_requests,
)

SUBJECT = "runner.notifications.minio"


class Runs:
    """What the limiter asks about runs: finished, running, or unknown."""

    def __init__(self) -> None:
        self.status: dict[str, bool | None] = {}

    async def __call__(self, pipeline: str, run_id: str) -> bool | None:
        return self.status.get(run_id)


async def engine_on(bus: MemoryBus, clock: FakeClock, runs: Runs | None = None) -> TriggerEngine:
    kv = await bus.kv_bucket("runner-triggers")
    seen = await bus.kv_bucket("runner-trigger-seen")
    return TriggerEngine(bus, seen, RunLimiter(kv, runs or Runs()), clock=clock)


async def test_fire_publishes_one_deterministic_run_request() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger(
        parameters={"uri": "{{ object.uri }}", "note": "{{ object.key | basename }}"}
    )

    first = await engine.fire(trigger, obj())
    again = await engine.fire(trigger, obj())

    assert first.outcome is Fired.REQUESTED
    assert again.outcome is Fired.DUPLICATE
    assert again.run_id == first.run_id
    (request,) = run_requests(bus)
    assert request.parameters == {"uri": "s3://training-data/incoming/a.csv", "note": "a.csv"}
    assert request.requested_by == "trigger/incoming"
    assert request.labels == {"trigger": "incoming", "object": "s3://training-data/incoming/a.csv"}
    event = decode(bus.messages[0].body, bus.messages[0].headers)
    assert event.run_id == first.run_id
    assert first.run_id.startswith("incoming-")
    assert len(first.run_id) == len("incoming-") + 20
    assert event.id == f"{first.run_id}/run.requested"
    assert event.source == "/runner/trigger/incoming"
    assert engine.stats["requested"] == 1
    assert engine.stats["duplicates"] == 1


async def test_a_new_version_is_a_new_run_and_a_new_trigger_uid_too() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger()
    a = await engine.fire(trigger, obj(etag="e1"))
    b = await engine.fire(trigger, obj(etag="e2"))
    readded = make_trigger()  # same name, added again: a fresh uid
    c = await engine.fire(readded, obj(etag="e1"))
    assert len({a.run_id, b.run_id, c.run_id}) == 3
    assert len(run_requests(bus)) == 3


async def test_a_pending_record_publishes_again_for_jetstream_to_drop() -> None:
    """A crash between publishing and marking the record leaves it pending."""
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger()
    key = request_key(trigger, obj())
    await engine.seen.create(f"incoming.{key}", b'{"status": "pending"}')
    result = await engine.fire(trigger, obj())
    assert result.outcome is Fired.REQUESTED
    assert json.loads((await engine.seen.get(f"incoming.{key}"))[0])["status"] == "requested"  # type: ignore[index]


async def test_rate_limit_defers_then_refills() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger(limits=Limits(max_runs_per_minute=2))
    assert (await engine.fire(trigger, obj(etag="1"))).outcome is Fired.REQUESTED
    assert (await engine.fire(trigger, obj(etag="2"))).outcome is Fired.REQUESTED
    deferred = await engine.fire(trigger, obj(etag="3"))
    assert deferred.outcome is Fired.DEFERRED
    assert deferred.retry_after == pytest.approx(30.0)
    clock.advance(30)
    assert (await engine.fire(trigger, obj(etag="3"))).outcome is Fired.REQUESTED
    assert len(run_requests(bus)) == 3


async def test_concurrency_cap_waits_for_runs_to_finish() -> None:
    bus, clock, runs = await memory_bus(), FakeClock(), Runs()
    engine = await engine_on(bus, clock, runs)
    trigger = make_trigger(limits=Limits(max_concurrent_runs=1))
    first = await engine.fire(trigger, obj(etag="1"))
    runs.status[first.run_id] = False  # running
    blocked = await engine.fire(trigger, obj(etag="2"))
    assert blocked.outcome is Fired.DEFERRED
    assert blocked.retry_after == CONCURRENCY_RECHECK_SECONDS
    runs.status[first.run_id] = True  # finished
    assert (await engine.fire(trigger, obj(etag="2"))).outcome is Fired.REQUESTED


async def test_a_run_the_controller_never_recorded_stops_counting_after_a_grace() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)  # every run: unknown to the controller
    trigger = make_trigger(limits=Limits(max_concurrent_runs=1))
    await engine.fire(trigger, obj(etag="1"))
    assert (await engine.fire(trigger, obj(etag="2"))).outcome is Fired.DEFERRED
    clock.advance(UNSEEN_RUN_GRACE.total_seconds() + 1)
    assert (await engine.fire(trigger, obj(etag="2"))).outcome is Fired.REQUESTED


async def test_the_fixture_notification_fires_with_the_decoded_key() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger(parameters={"uri": "{{ object.uri }}", "size": "{{ object.size }}"})
    assert await engine.handle_notification(SUBJECT, fixture_body(), {}, [trigger]) is None
    (request,) = run_requests(bus)
    assert request.parameters == {"uri": FIXTURE_URI, "size": 48213}
    assert bus.dead_letters == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "notification is not JSON"),
        (b'{"EventName": "s3:ObjectCreated:Put"}', "no 'Records' list"),
        (notification(key=None), "missing text field s3.object.key"),
        (notification(eTag=None, sequencer=None), "no version id, ETag or sequencer"),
    ],
)
async def test_bad_notifications_are_dead_lettered_and_the_next_good_one_fires(
    body: bytes, reason: str
) -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger()
    assert await engine.handle_notification(SUBJECT, body, {"X-Seen": "1"}, [trigger]) is None
    (letter,) = bus.dead_letters
    assert letter.subject == NOTIFICATION_DEAD_LETTERS
    assert letter.body == body
    assert letter.headers[DEAD_LETTER_SUBJECT_HEADER] == SUBJECT
    assert reason in letter.headers[DEAD_LETTER_REASON_HEADER]
    assert letter.headers["X-Seen"] == "1"
    assert engine.stats["bad_notifications"] == 1
    await engine.handle_notification(SUBJECT, fixture_body(), {}, [trigger])
    assert len(run_requests(bus)) == 1


@pytest.mark.parametrize(
    ("trigger_args", "reason"),
    [
        ({"bucket": "other-bucket"}, "bucket 'training-data' is not 'other-bucket'"),
        ({"prefix": "archive/"}, "does not start with 'archive/'"),
        ({"suffix": ".parquet"}, "does not end with '.parquet'"),
        ({"enabled": False}, "no enabled trigger reads this subject"),
    ],
)
async def test_objects_no_enabled_trigger_wants_are_dead_lettered(
    trigger_args: dict[str, object], reason: str
) -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger(**trigger_args)  # type: ignore[arg-type]
    await engine.handle_notification(SUBJECT, fixture_body(), {}, [trigger])
    assert run_requests(bus) == []
    (letter,) = bus.dead_letters
    assert reason in letter.headers[DEAD_LETTER_REASON_HEADER]
    assert engine.stats["unmatched"] == 1


async def test_events_no_trigger_listens_to_are_ignored_not_dead_lettered() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    removed = fixture_body().replace(b"s3:ObjectCreated:Put", b"s3:ObjectRemoved:Delete")
    # Even with the trigger disabled: what it would not react to is no dead letter.
    await engine.handle_notification(SUBJECT, removed, {}, [make_trigger(enabled=False)])
    assert bus.dead_letters == []
    assert engine.stats["ignored"] == 1
    assert run_requests(bus) == []


async def test_one_notification_fires_every_matching_trigger() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    triggers = [make_trigger("a"), make_trigger("b", suffix=".csv"), make_trigger("c", prefix="x/")]
    await engine.handle_notification(SUBJECT, fixture_body(), {}, triggers)
    assert sorted(r.requested_by for r in run_requests(bus)) == ["trigger/a", "trigger/b"]
    assert bus.dead_letters == []


async def test_a_deferred_notification_is_not_dead_lettered_yet() -> None:
    bus, clock = await memory_bus(), FakeClock()
    engine = await engine_on(bus, clock)
    trigger = make_trigger(limits=Limits(max_runs_per_minute=1))
    await engine.fire(trigger, obj(etag="other"))
    retry = await engine.handle_notification(SUBJECT, fixture_body(), {}, [trigger])
    assert retry == pytest.approx(60.0)
    assert bus.dead_letters == []
    assert len(run_requests(bus)) == 1
