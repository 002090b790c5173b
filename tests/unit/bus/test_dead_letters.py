"""Dead letters: which headers survive, how long the reason may be, retries,
and what the in-memory bus does when the dead-letter stream is gone."""

from __future__ import annotations

import pytest

from runner.bus import DEAD_LETTER_REASON_HEADER, DEAD_LETTER_SUBJECT_HEADER, MemoryBus
from runner.bus.dead_letters import (
    DEAD_LETTER_STRIPPED_HEADER,
    DEAD_LETTER_TRUNCATED_HEADER,
    LOG_REASON_CHARS,
    MAX_REASON_HEADER_CHARS,
    PUBLISH_BACKOFF_SECONDS,
    dead_letter_headers,
    fit_payload,
    log_reason,
    publish_dead_letter,
    redelivery_delay,
)
from runner.errors import BusError, BusUnavailableError
from runner.events import EventKind
from runner.events.codec import encode
from tests.unit.events.samples import sample

SUBJECT = "runner.events.iris.r1.step.succeeded"
CONTROL = {
    "Nats-Expected-Stream": "RUNNER_EVENTS",
    "Nats-Expected-Last-Sequence": "7",
    "Nats-Expected-Last-Msg-Id": "x",
    "Nats-Rollup": "all",
    "Nats-TTL": "1s",
    "nats-marker-reason": "MaxAge",
    "Status": "503",
}


def test_control_headers_are_stripped_and_the_dedup_id_kept() -> None:
    headers = {"Nats-Msg-Id": "r1/x", "Content-Type": "application/json", "X-Mine": "1"}
    marked = dead_letter_headers(SUBJECT, {**headers, **CONTROL}, "bad")
    assert marked == {
        **headers,
        DEAD_LETTER_STRIPPED_HEADER: ", ".join(CONTROL),
        DEAD_LETTER_SUBJECT_HEADER: SUBJECT,
        DEAD_LETTER_REASON_HEADER: "bad",
    }


def test_a_lowercase_msg_id_is_kept_under_its_canonical_name() -> None:
    assert dead_letter_headers(SUBJECT, {"nats-msg-id": "a"}, "bad")["Nats-Msg-Id"] == "a"


def test_the_dead_letter_can_have_its_own_dedup_id() -> None:
    marked = dead_letter_headers(SUBJECT, {"Nats-Msg-Id": "a"}, "bad", msg_id="a/sink/s")
    assert marked["Nats-Msg-Id"] == "a/sink/s"


def test_headers_nats_would_refuse_are_dropped_and_values_kept_on_one_line() -> None:
    marked = dead_letter_headers(SUBJECT, {"bad name": "1", "": "2", "X-Ok": "a\r\nb"}, "r")
    assert "bad name" not in marked
    assert "" not in marked
    assert marked["X-Ok"] == "a b"
    assert marked[DEAD_LETTER_STRIPPED_HEADER] == "'bad name', ''"


def test_the_full_reason_rides_in_the_header_up_to_a_bound() -> None:
    reason = "why " * 600  # 2,400 chars: all of it
    assert dead_letter_headers(SUBJECT, {}, reason)[DEAD_LETTER_REASON_HEADER] == reason.strip()
    huge = dead_letter_headers(SUBJECT, {}, "x" * 100_000)[DEAD_LETTER_REASON_HEADER]
    assert len(huge) == MAX_REASON_HEADER_CHARS
    assert huge.endswith("...")


def test_log_reason_is_one_bounded_line() -> None:
    text = log_reason("line one\nline two " + "z" * 10_000)
    assert "\n" not in text
    assert len(text) == LOG_REASON_CHARS


def test_a_body_near_max_payload_is_cut_to_fit() -> None:
    headers = dead_letter_headers(SUBJECT, {}, "r" * 4000)
    assert fit_payload(b"small", dict(headers), 1024 * 1024) == b"small"
    body = fit_payload(b"b" * 1_000_000, headers, 1_000_000)
    size = len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 16
    assert size <= 1_000_000
    assert headers[DEAD_LETTER_TRUNCATED_HEADER].startswith("1000000 bytes, cut to")


def test_redelivery_backs_off_and_is_capped() -> None:
    assert [redelivery_delay(n) for n in (0, 1, 2, 3, 4, 5, 100)] == [5, 5, 10, 20, 40, 60, 60]


async def test_publish_is_retried_with_backoff_then_succeeds() -> None:
    calls: list[int] = []
    pauses: list[float] = []

    async def publish() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise BusError("refused")

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    await publish_dead_letter(publish, what="dead-letter a message", sleep=sleep)
    assert len(calls) == 3
    assert pauses == list(PUBLISH_BACKOFF_SECONDS[:2])


async def test_publish_gives_up_with_bus_unavailable_naming_the_cause() -> None:
    pauses: list[float] = []

    async def publish() -> None:
        raise BusError("no stream stores this subject")

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    with pytest.raises(BusUnavailableError) as info:
        await publish_dead_letter(publish, what="dead-letter a message from x", sleep=sleep)
    assert pauses == list(PUBLISH_BACKOFF_SECONDS)
    text = str(info.value)
    assert "could not dead-letter a message from x after 4 attempts" in text
    assert "no stream stores this subject" in text
    assert "runner up" in text


# -- MemoryBus: as strict as JetStream ------------------------------------------------


@pytest.fixture
async def bus() -> MemoryBus:
    async def no_wait(seconds: float) -> None:
        return None

    bus = MemoryBus(sleep=no_wait)
    await bus.ensure_streams()
    return bus


async def test_memory_bus_refuses_a_wrong_expected_stream(bus: MemoryBus) -> None:
    body, headers = encode(sample(EventKind.STEP_SUCCEEDED))
    with pytest.raises(BusError, match="expected stream does not match"):
        await bus.publish_raw(SUBJECT, body, {**headers, "Nats-Expected-Stream": "OTHER"})
    await bus.publish_raw(SUBJECT, body, {**headers, "Nats-Expected-Stream": "RUNNER_EVENTS"})
    assert len(bus.messages) == 1


async def test_memory_bus_dead_letters_a_message_that_expected_the_events_stream(
    bus: MemoryBus,
) -> None:
    body, headers = encode(sample(EventKind.STEP_SUCCEEDED))
    await bus.dead_letter(SUBJECT, body, {**headers, **CONTROL}, "unknown run")
    (letter,) = bus.dead_letters
    assert not [k for k in letter.headers if k.lower().startswith("nats-") and k != "Nats-Msg-Id"]
    assert letter.headers["Nats-Msg-Id"] == headers["Nats-Msg-Id"]
    assert bus.stats["dead_letters"] == 1


async def test_memory_bus_dead_letter_stream_outage(bus: MemoryBus) -> None:
    bus.dead_letter_stream = False
    with pytest.raises(BusUnavailableError, match="dead-letter stream is unavailable"):
        await bus.dead_letter(SUBJECT, b"x", {}, "bad")
    assert bus.stats["dead_letters"] == 0
    bus.dead_letter_stream = True
    await bus.dead_letter(SUBJECT, b"x", {}, "bad")
    assert len(bus.dead_letters) == 1


async def test_memory_bus_dead_letter_stream_drops_a_second_copy(bus: MemoryBus) -> None:
    await bus.dead_letter(SUBJECT, b"x", {"Nats-Msg-Id": "a"}, "bad")
    await bus.dead_letter(SUBJECT, b"x", {"Nats-Msg-Id": "a"}, "bad")
    await bus.dead_letter(SUBJECT, b"y", {}, "bad")
    await bus.dead_letter(SUBJECT, b"y", {}, "bad")
    assert [m.body for m in bus.dead_letters] == [b"x", b"y", b"y"]


async def test_dead_letters_go_only_to_dead_letter_subjects(bus: MemoryBus) -> None:
    with pytest.raises(BusError, match=r"runner\.deadletter"):
        await bus.dead_letter(SUBJECT, b"x", {}, "bad", to="runner.events.iris.r1.run.failed")
    await bus.dead_letter(SUBJECT, b"x", {}, "bad", to="runner.deadletter.sink.web")
    assert bus.dead_letters[0].subject == "runner.deadletter.sink.web"
