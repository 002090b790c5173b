"""The behaviour every :class:`runner.bus.Bus` must have, as reusable tests.

``TestMemoryBus`` (unit) and ``TestNatsBus`` (integration, real nats-server)
both inherit :class:`BusContract`, which is what proves the in-memory fake
is faithful to JetStream. A subclass provides the ``bus`` fixture and
:meth:`BusContract.dead_letters`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping

import pytest

from runner.bus import DEAD_LETTER_REASON_HEADER, DEAD_LETTER_SUBJECT_HEADER, Bus
from runner.bus.dead_letters import DEAD_LETTER_STRIPPED_HEADER
from runner.errors import BusUnavailableError, ConflictError, EventError, InvalidNameError
from runner.events import EventKind
from runner.events.codec import encode
from tests.unit.events.garbage import poison_messages
from tests.unit.events.samples import sample

STEP = sample(EventKind.STEP_SUCCEEDED)
RUN = sample(EventKind.RUN_STARTED)


def run_events(n: int, run_id: str = "r1") -> list[object]:
    """``n`` distinct events of one run (distinct ids, same subject family)."""
    return [sample(EventKind.RUN_STARTED, run_id=f"{run_id}-{i}") for i in range(n)]


class BusContract:
    async def dead_letters(self, bus: Bus) -> list[tuple[str, bytes, Mapping[str, str]]]:
        raise NotImplementedError

    async def remove_dead_letter_stream(self, bus: Bus) -> None:
        """Make the dead-letter stream unavailable, as an operator's mistake would."""
        raise NotImplementedError

    async def restore_dead_letter_stream(self, bus: Bus) -> None:
        """Undo :meth:`remove_dead_letter_stream` (after ``ensure_streams``)."""

    # -- publish and pull -------------------------------------------------

    async def test_published_event_is_delivered_decoded(self, bus: Bus) -> None:
        await bus.publish(STEP)
        consumer = await bus.pull_consumer("ctl")
        try:
            (delivery,) = await consumer.fetch(10, 2.0)
            assert delivery.event == STEP
            assert delivery.error is None
            assert delivery.subject == "runner.events.iris.r1.step.succeeded"
            assert delivery.headers["Nats-Msg-Id"] == STEP.id
            assert delivery.num_delivered == 1
            await delivery.ack()
        finally:
            await consumer.close()

    async def test_same_event_twice_is_stored_once(self, bus: Bus) -> None:
        await bus.publish(STEP)
        await bus.publish(STEP)  # a re-sent fact: not an error
        await bus.publish(RUN)
        consumer = await bus.pull_consumer("ctl")
        try:
            got = await consumer.fetch(10, 2.0)
            assert [d.event for d in got] == [STEP, RUN]
            assert bus.stats["duplicates"] == 1
            assert bus.stats["published"] == 2
        finally:
            await consumer.close()

    async def test_closed_consumer_cannot_fetch(self, bus: Bus) -> None:
        consumer = await bus.pull_consumer("ctl")
        await consumer.close()
        await consumer.close()  # idempotent
        with pytest.raises(BusUnavailableError, match="closed"):
            await consumer.fetch(1, 0.1)

    async def test_fetch_returns_empty_list_on_timeout(self, bus: Bus) -> None:
        consumer = await bus.pull_consumer("ctl")
        try:
            started = time.monotonic()
            assert await consumer.fetch(5, 0.2) == []
            assert time.monotonic() - started < 2.0
        finally:
            await consumer.close()

    async def test_nak_redelivers(self, bus: Bus) -> None:
        await bus.publish(STEP)
        consumer = await bus.pull_consumer("ctl")
        try:
            (first,) = await consumer.fetch(1, 2.0)
            await first.nak()
            (again,) = await consumer.fetch(1, 2.0)
            assert again.event == STEP
            assert again.num_delivered == 2
            await again.ack()
            assert await consumer.fetch(1, 0.2) == []
        finally:
            await consumer.close()

    async def test_nak_with_delay_waits(self, bus: Bus) -> None:
        await bus.publish(STEP)
        consumer = await bus.pull_consumer("ctl")
        try:
            (first,) = await consumer.fetch(1, 2.0)
            naked_at = time.monotonic()
            await first.nak(delay=0.3)
            (again,) = await consumer.fetch(1, 3.0)
            assert time.monotonic() - naked_at >= 0.25
            assert again.num_delivered == 2
            await again.ack()
        finally:
            await consumer.close()

    async def test_unacked_message_comes_back_after_ack_wait(self, bus: Bus) -> None:
        await bus.publish(STEP)
        consumer = await bus.pull_consumer("ctl", ack_wait=0.3)
        try:
            (_first,) = await consumer.fetch(1, 2.0)
            (again,) = await consumer.fetch(1, 3.0)  # no ack: the server gives it back
            assert again.event == STEP
            assert again.num_delivered == 2
            await again.ack()
        finally:
            await consumer.close()

    async def test_term_stops_redelivery(self, bus: Bus) -> None:
        await bus.publish(STEP)
        consumer = await bus.pull_consumer("ctl", ack_wait=0.2)
        try:
            (first,) = await consumer.fetch(1, 2.0)
            await first.term()
            assert await consumer.fetch(1, 0.4) == []  # past the ack wait
        finally:
            await consumer.close()

    async def test_durable_position_survives_reopening(self, bus: Bus) -> None:
        events = run_events(3)
        for event in events:
            await bus.publish(event)  # type: ignore[arg-type]
        first = await bus.pull_consumer("ctl")
        for delivery in await first.fetch(2, 2.0):
            await delivery.ack()
        await first.close()
        second = await bus.pull_consumer("ctl")
        try:
            (rest,) = await second.fetch(10, 2.0)
            assert rest.event == events[2]
        finally:
            await second.close()

    async def test_filter_subject_selects(self, bus: Bus) -> None:
        await bus.publish(RUN)
        await bus.publish(STEP)
        consumer = await bus.pull_consumer("steps", "runner.events.iris.*.step.>")
        try:
            assert [d.event for d in await consumer.fetch(10, 2.0)] == [STEP]
        finally:
            await consumer.close()

    async def test_undecodable_message_carries_its_error(self, bus: Bus) -> None:
        await bus.publish_raw("runner.events.iris.r1.run.started", b"{not json")
        consumer = await bus.pull_consumer("ctl")
        try:
            (delivery,) = await consumer.fetch(1, 2.0)
            assert delivery.event is None
            assert isinstance(delivery.error, EventError)
            assert "not JSON" in str(delivery.error)
            assert delivery.body == b"{not json"
            await delivery.term()
        finally:
            await consumer.close()

    async def test_binary_mode_message_published_raw_decodes(self, bus: Bus) -> None:
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "r9/run.requested",
            "ce-source": "/runner/trigger/landing",
            "ce-type": "runner.run.requested",
            "ce-time": "2024-05-17T12:30:15Z",
            "ce-runid": "r9",
            "ce-pipeline": "iris",
            "Content-Type": "application/json",
        }
        data = {"pipeline": "iris", "pipeline_digest": "sha256:00", "spec_uri": "file:///x"}
        await bus.publish_raw(
            "runner.events.iris.r9.run.requested", json.dumps(data).encode(), headers
        )
        consumer = await bus.pull_consumer("ctl")
        try:
            (delivery,) = await consumer.fetch(1, 2.0)
            assert delivery.event is not None
            assert delivery.event.kind is EventKind.RUN_REQUESTED
            assert delivery.event.source == "/runner/trigger/landing"
            assert delivery.event.data_json()["spec_uri"] == "file:///x"
        finally:
            await consumer.close()

    async def test_dead_letter_records_subject_and_reason(self, bus: Bus) -> None:
        body, headers = encode(STEP)
        await bus.dead_letter("runner.events.iris.r1.step.succeeded", body, headers, "bad\nthing")
        assert bus.stats["dead_letters"] == 1
        ((subject, stored, stored_headers),) = await self.dead_letters(bus)
        assert subject == "runner.deadletter.events"
        assert stored == body
        assert stored_headers[DEAD_LETTER_SUBJECT_HEADER] == "runner.events.iris.r1.step.succeeded"
        assert stored_headers[DEAD_LETTER_REASON_HEADER] == "bad thing"
        assert stored_headers["Nats-Msg-Id"] == STEP.id

    async def test_dead_letter_strips_what_the_server_would_act_on(self, bus: Bus) -> None:
        # Each of these made the old publish to the dead-letter stream fail (a
        # wrong expected stream or sequence; rollups and TTLs it does not allow).
        control = {
            "Nats-Expected-Stream": "RUNNER_EVENTS_ELSEWHERE",
            "Nats-Expected-Last-Sequence": "999",
            "Nats-Rollup": "all",
            "Nats-TTL": "1s",
        }
        body, headers = encode(STEP)
        await bus.dead_letter(STEP.subject, body, {**headers, **control, "X-Keep": "1"}, "why")
        ((subject, stored, stored_headers),) = await self.dead_letters(bus)
        assert subject == "runner.deadletter.events"
        assert stored == body
        assert stored_headers["Nats-Msg-Id"] == STEP.id
        assert stored_headers["X-Keep"] == "1"
        assert stored_headers[DEAD_LETTER_STRIPPED_HEADER] == ", ".join(control)
        assert not set(control) & set(stored_headers)

    async def test_dead_letter_keeps_a_long_reason_whole_up_to_4_kib(self, bus: Bus) -> None:
        reason = "; ".join(f"problem {i}" for i in range(300))  # 3,000+ chars
        await bus.dead_letter(STEP.subject, b"x", None, reason)
        ((_, _, stored_headers),) = await self.dead_letters(bus)
        assert stored_headers[DEAD_LETTER_REASON_HEADER] == reason

    async def test_dead_letter_to_another_subject_with_its_own_id(self, bus: Bus) -> None:
        body, headers = encode(STEP)
        await bus.dead_letter(
            STEP.subject, body, headers, "sink refused", to="runner.deadletter.sink.web",
            msg_id=f"{STEP.id}/sink/web",
        )  # fmt: skip
        await bus.dead_letter(STEP.subject, body, headers, "controller refused")
        letters = {subject: h for subject, _, h in await self.dead_letters(bus)}
        assert letters["runner.deadletter.sink.web"]["Nats-Msg-Id"] == f"{STEP.id}/sink/web"
        assert letters["runner.deadletter.events"]["Nats-Msg-Id"] == STEP.id

    async def test_dead_letter_stream_outage_is_bus_unavailable(self, bus: Bus) -> None:
        await self.remove_dead_letter_stream(bus)
        with pytest.raises(BusUnavailableError, match="dead-letter stream is unavailable"):
            await bus.dead_letter(STEP.subject, b"x", None, "why")
        assert bus.stats["dead_letters"] == 0
        await bus.ensure_streams()
        await self.restore_dead_letter_stream(bus)
        await bus.dead_letter(STEP.subject, b"x", None, "why")
        assert len(await self.dead_letters(bus)) == 1

    # -- subscribe --------------------------------------------------------

    async def test_subscribe_yields_in_order_and_skips_undecodable(self, bus: Bus) -> None:
        events = run_events(3)
        await bus.publish(events[0])  # type: ignore[arg-type]
        await bus.publish_raw("runner.events.iris.r1.run.started", b"garbage")
        await bus.publish(events[1])  # type: ignore[arg-type]
        await bus.publish(STEP)
        await bus.publish(events[2])  # type: ignore[arg-type]
        stream = bus.subscribe("runner.events.iris.*.run.>")
        try:
            got = [await anext(stream) for _ in range(3)]
        finally:
            await stream.aclose()
        assert got == events
        assert bus.stats["decode_failures"] == 1

    async def test_subscribe_skips_poison_messages(self, bus: Bus) -> None:
        events = run_events(2)
        await bus.publish(events[0])  # type: ignore[arg-type]
        for message in poison_messages("unused")[:3]:
            await bus.publish_raw("runner.events.iris.r1.run.started", message.body)
        await bus.publish(events[1])  # type: ignore[arg-type]
        stream = bus.subscribe("runner.events.iris.*.run.>", durable="poison-reader")
        try:
            got = [await anext(stream) for _ in range(2)]
        finally:
            await stream.aclose()
        assert got == events
        assert bus.stats["decode_failures"] == 3

    async def test_subscribe_new_only_sees_later_events(self, bus: Bus) -> None:
        await bus.publish(RUN)
        stream = bus.subscribe("runner.events.>", deliver="new")
        try:
            # The consumer is made on the first request, at a moment we cannot
            # see: keep publishing fresh events until the subscription yields.
            first = asyncio.ensure_future(anext(stream))
            for i in range(200):
                await bus.publish(sample(EventKind.RUN_SUCCEEDED, run_id=f"n{i}"))
                await asyncio.wait({first}, timeout=0.02)
                if first.done():
                    break
            got = await asyncio.wait_for(first, 5.0)
        finally:
            await stream.aclose()
        assert got.kind is EventKind.RUN_SUCCEEDED  # never the earlier RUN

    async def test_durable_subscription_resumes(self, bus: Bus) -> None:
        events = run_events(4)
        for event in events[:3]:
            await bus.publish(event)  # type: ignore[arg-type]
        first = bus.subscribe("runner.events.>", durable="audit")
        try:
            assert await anext(first) == events[0]
            assert await anext(first) == events[1]  # acks events[0]
        finally:
            await first.aclose()  # events[1] was not acked: it comes again
        await bus.publish(events[3])  # type: ignore[arg-type]
        second = bus.subscribe("runner.events.>", durable="audit")
        try:
            assert [await anext(second) for _ in range(3)] == events[1:]
        finally:
            await second.aclose()

    async def test_bad_durable_name_is_refused(self, bus: Bus) -> None:
        with pytest.raises(InvalidNameError):
            await bus.pull_consumer("bad.name")
        with pytest.raises(InvalidNameError):
            bus.subscribe("runner.events.>", durable="a b")

    # -- KV ---------------------------------------------------------------

    async def test_kv_compare_and_set(self, bus: Bus) -> None:
        kv = await bus.state_bucket()
        assert await kv.get("run.r1") is None
        rev1 = await kv.create("run.r1", b"v1")
        assert await kv.get("run.r1") == (b"v1", rev1)
        with pytest.raises(ConflictError, match="already exists"):
            await kv.create("run.r1", b"other")
        rev2 = await kv.update("run.r1", b"v2", rev1)
        assert rev2 > rev1
        with pytest.raises(ConflictError, match=f"no longer at revision {rev1}"):
            await kv.update("run.r1", b"stale", rev1)
        assert await kv.get("run.r1") == (b"v2", rev2)

    async def test_kv_update_of_missing_key_conflicts(self, bus: Bus) -> None:
        kv = await bus.state_bucket()
        with pytest.raises(ConflictError):
            await kv.update("run.none", b"x", 5)

    async def test_kv_delete_and_recreate(self, bus: Bus) -> None:
        kv = await bus.state_bucket()
        await kv.create("run.r1", b"v1")
        await kv.delete("run.r1")
        assert await kv.get("run.r1") is None
        assert await kv.keys() == []
        rev = await kv.create("run.r1", b"again")
        assert await kv.get("run.r1") == (b"again", rev)

    async def test_kv_keys_by_prefix(self, bus: Bus) -> None:
        kv = await bus.state_bucket()
        assert await kv.keys() == []
        for key in ("run.b", "run.a", "cursor.landing"):
            await kv.create(key, b"{}")
        assert await kv.keys() == ["cursor.landing", "run.a", "run.b"]
        assert await kv.keys("run.") == ["run.a", "run.b"]

    async def test_kv_holds_a_large_value(self, bus: Bus) -> None:
        kv = await bus.state_bucket()
        value = json.dumps({f"step-{i}": {"state": "succeeded"} for i in range(10_000)}).encode()
        assert len(value) > 300_000
        rev = await kv.create("run.big", value)
        assert await kv.get("run.big") == (value, rev)

    @pytest.mark.parametrize("key", ["", "run..x", "run.*", "run.>", "Run.x", "a b", "../x"])
    async def test_kv_rejects_bad_keys(self, bus: Bus, key: str) -> None:
        kv = await bus.state_bucket()
        with pytest.raises(InvalidNameError):
            await kv.get(key)
        with pytest.raises(InvalidNameError):
            await kv.create(key, b"x")
