"""No message makes decoding raise anything but a short EventError.

The four messages that each killed ``runner up`` (exit 2, again after every
restart, because the poison was redelivered), then Hypothesis over raw bytes,
any JSON value, CloudEvent-shaped documents and binary-mode headers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.bus.base import Delivery
from runner.errors import EventError
from runner.events import Event, EventKind
from runner.events.codec import MAX_REASON_CHARS, decode
from runner.events.kinds import SHOWN_NAME_CHARS, shown_name, validate_name
from tests.unit.events.garbage import (
    GIVEN_SETTINGS,
    any_binary_headers,
    cloudevent_docs,
    json_values,
    messages,
    poison_messages,
    skeleton,
)

POISON = poison_messages("RUNNER_EVENTS")


class _Acks:
    async def ack(self) -> None: ...
    async def nak(self, delay: float | None) -> None: ...
    async def term(self) -> None: ...


def decodes_or_says_why(body: bytes, headers: dict[str, str] | None = None) -> Event | None:
    """The property: an Event, or an EventError of bounded length; nothing else."""
    try:
        return decode(body, headers)
    except EventError as exc:
        reason = str(exc)
    assert 0 < len(reason) <= MAX_REASON_CHARS, reason[:300]
    return None


@pytest.mark.parametrize("message", POISON, ids=[m.what for m in POISON])
def test_poison_messages_are_event_errors(message: Any) -> None:
    if message.what.startswith("header"):
        # The event is fine: it is the header that broke the dead letter (bus tests).
        assert decode(message.body, message.headers).run_id == "fuzz-hdr"
        return
    with pytest.raises(EventError) as info:
        decode(message.body, message.headers)
    assert len(str(info.value)) <= MAX_REASON_CHARS


def test_poison_reasons_say_what_is_wrong() -> None:
    reasons = []
    for message in POISON[:3]:
        with pytest.raises(EventError) as info:
            decode(message.body, message.headers)
        reasons.append(str(info.value))
    assert reasons[0] == ("message is not a CloudEvent: id is null; these attributes are strings")
    assert reasons[1] == (
        "message is not a CloudEvent: specversion is an array; these attributes are strings"
    )
    assert reasons[2].startswith("message body is JSON nested too deeply to read")


@pytest.mark.parametrize(
    "message", [m for m in POISON if "surrogate" in m.what], ids=lambda m: m.what
)
def test_lone_surrogates_are_refused_and_the_reason_is_valid_utf8(message: Any) -> None:
    with pytest.raises(EventError) as info:
        decode(message.body, message.headers)
    reason = str(info.value)
    reason.encode("utf-8")  # would raise on a lone surrogate: a log line must be writable
    assert "\\udc80" in reason or "\\ud800" in reason or "not valid Unicode" in reason


@pytest.mark.parametrize("message", POISON, ids=[m.what for m in POISON])
def test_a_delivery_of_a_poison_message_never_raises(message: Any) -> None:
    delivery = Delivery(
        "runner.events.fuzz.r.step.succeeded", message.body, message.headers, 1, _Acks()
    )
    assert (delivery.event is None) == (delivery.error is not None)
    if delivery.error is not None:
        assert len(str(delivery.error)) <= MAX_REASON_CHARS
    assert "Delivery(" in repr(delivery)


def test_a_delivery_survives_a_decoder_that_breaks_its_promise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(body: bytes, headers: object = None) -> Event:
        raise ZeroDivisionError("a bug in decode")

    monkeypatch.setattr("runner.bus.base.decode", broken)
    delivery = Delivery("runner.events.x.r.run.started", b"{}", {}, 1, _Acks())
    assert delivery.event is None
    assert isinstance(delivery.error, EventError)
    assert "ZeroDivisionError" in str(delivery.error)


def test_a_decoder_bug_becomes_an_event_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(attrs: object, data: object) -> Event:
        raise KeyError("x" * 5000)

    monkeypatch.setattr("runner.events.codec._to_event", broken)
    body = json.dumps(skeleton(EventKind.RUN_STARTED)).encode()
    with pytest.raises(EventError, match="raised KeyError") as info:
        decode(body)
    assert len(str(info.value)) <= MAX_REASON_CHARS


def test_a_10kb_name_is_shortened_in_the_error() -> None:
    doc = skeleton(EventKind.STEP_SUCCEEDED)
    doc["pipeline"] = "a" * 10_000
    with pytest.raises(EventError) as info:
        decode(json.dumps(doc).encode())
    text = str(info.value)
    assert len(text) < 400
    assert f"pipeline '{'a' * SHOWN_NAME_CHARS}'... (10000 chars) is not a valid name" in text


def test_invalid_names_are_shown_short() -> None:
    assert shown_name("Bad") == "'Bad'"
    assert shown_name("x" * 64) == repr("x" * 64)
    assert shown_name("x" * 65) == f"{'x' * 64!r}... (65 chars)"
    assert shown_name(list(range(1000))).endswith("...")
    assert len(shown_name(list(range(1000)))) <= SHOWN_NAME_CHARS + 3
    with pytest.raises(ValueError, match=r"\(5000 chars\)") as info:
        validate_name("Q" * 5000, "run id")
    assert len(str(info.value)) < 300


def test_every_error_echo_is_bounded() -> None:
    doc = skeleton(EventKind.STEP_SUCCEEDED)
    for key in ("id", "type", "specversion", "datacontenttype", "subject", "time"):
        bad = dict(doc, **{key: "é" * 20_000})
        decodes_or_says_why(json.dumps(bad).encode())
    bad = dict(doc, data={"attempt": 1, "outputs": {"k" * 20_000: {"uri": 1}}})
    decodes_or_says_why(json.dumps(bad).encode())


# -- properties ----------------------------------------------------------------------


@GIVEN_SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes(body: bytes) -> None:
    decodes_or_says_why(body)


@GIVEN_SETTINGS
@given(json_values)
def test_any_json_value(value: Any) -> None:
    decodes_or_says_why(json.dumps(value).encode())


@GIVEN_SETTINGS
@given(cloudevent_docs)
def test_cloudevent_shaped_documents(doc: dict[str, Any]) -> None:
    event = decodes_or_says_why(json.dumps(doc).encode())
    if event is not None:  # what passes is valid through and through
        assert event.run_id == doc["runid"]
        assert event.kind.type == doc["type"]


@GIVEN_SETTINGS
@given(
    any_binary_headers, st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())
)
def test_binary_mode_headers(headers: dict[str, str], body: bytes) -> None:
    event = decodes_or_says_why(body, headers)
    if event is not None:
        assert event.run_id == headers["ce-runid"]


@GIVEN_SETTINGS
@given(messages)
def test_any_message_makes_a_delivery(message: Any) -> None:
    delivery = Delivery(message.subject, message.body, message.headers, 1, _Acks())
    assert (delivery.event is None) == (delivery.error is not None)
    if delivery.error is not None:
        assert len(str(delivery.error)) <= MAX_REASON_CHARS
