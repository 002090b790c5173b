"""The CloudEvents codec: round trips, binary mode, and every way to be wrong."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from runner.errors import EventError
from runner.events import EventKind
from runner.events.codec import CONTENT_TYPE, decode, encode
from tests.unit.events.samples import DATA, NOW, TRACEPARENT, sample


def structured(**changes: Any) -> bytes:
    """A valid step.succeeded body with some attributes changed (None = removed)."""
    body, _ = encode(sample(EventKind.STEP_SUCCEEDED))
    raw = json.loads(body)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return json.dumps(raw).encode()


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_round_trips(kind: EventKind) -> None:
    event = sample(kind)
    body, headers = encode(event)
    assert decode(body, headers) == event
    # The data is complete: nothing dropped by the base-typed ``data`` field.
    assert json.loads(body)["data"] == DATA[kind].model_dump(mode="json")


def test_encode_is_structured_mode_with_dedup_header() -> None:
    event = sample(EventKind.STEP_FAILED)
    body, headers = encode(event)
    assert headers == {"Content-Type": CONTENT_TYPE, "Nats-Msg-Id": "r1/train/2/step.failed"}
    raw = json.loads(body)
    assert raw["specversion"] == "1.0"
    assert raw["id"] == "r1/train/2/step.failed"
    assert raw["type"] == "runner.step.failed"
    assert raw["source"] == "/runner/controller"
    assert raw["subject"] == "train"
    assert raw["runid"] == "r1"
    assert raw["pipeline"] == "iris"
    assert raw["traceparent"] == TRACEPARENT
    assert raw["datacontenttype"] == "application/json"
    assert datetime.fromisoformat(raw["time"]) == NOW
    assert "tracestate" not in raw  # unset extensions are omitted, not null


def test_run_events_have_no_subject() -> None:
    body, _ = encode(sample(EventKind.RUN_STARTED))
    assert "subject" not in json.loads(body)
    assert decode(body).step is None


def test_naive_time_is_encoded_as_utc() -> None:
    event = sample(EventKind.RUN_STARTED).model_copy(update={"time": datetime(2024, 1, 2, 3, 4)})
    body, _ = encode(event)
    assert json.loads(body)["time"] == "2024-01-02T03:04:00+00:00"


def test_decode_accepts_headers_in_any_case_and_none() -> None:
    body, _ = encode(sample(EventKind.RUN_SUCCEEDED))
    assert decode(body, None).kind is EventKind.RUN_SUCCEEDED
    assert decode(body, {"content-type": CONTENT_TYPE}).kind is EventKind.RUN_SUCCEEDED


def test_binary_mode_decodes() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "r7/train/1/step.started",
        "ce-source": "/runner/step",
        "ce-type": "runner.step.started",
        "ce-subject": "train",
        "ce-time": "2024-05-17T12:30:15Z",
        "ce-runid": "r7",
        "ce-pipeline": "iris",
        "Content-Type": "application/json",
    }
    event = decode(b'{"attempt": 1, "host": "node-1"}', headers)
    assert event.kind is EventKind.STEP_STARTED
    assert (event.run_id, event.pipeline, event.step) == ("r7", "iris", "train")
    assert event.source == "/runner/step"
    assert event.time == NOW.replace(microsecond=0)
    assert event.data_json()["host"] == "node-1"


def test_binary_mode_from_the_sdk_round_trips() -> None:
    event = sample(EventKind.STEP_CACHED)
    body, _ = encode(event)
    ce_headers, ce_body = to_binary(
        CloudEvent(json.loads(body) | {"data": None}, event.data_json())
    )
    assert decode(ce_body, ce_headers) == event


def test_binary_mode_without_time_is_rejected() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "x",
        "ce-source": "/s",
        "ce-type": "runner.run.succeeded",
        "ce-runid": "r1",
        "ce-pipeline": "iris",
    }
    with pytest.raises(EventError, match="missing attribute time"):
        decode(b"{}", headers)


def test_invalid_traceparent_is_ignored_not_fatal() -> None:
    event = decode(structured(traceparent="not-a-trace", tracestate="a=b"))
    assert event.traceparent is None
    assert event.tracestate is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "message body is not JSON"),
        (b"\xff\xfe", "message body is not JSON"),
        (b"[1, 2]", "message body is JSON list, not a CloudEvent object"),
        (b'{"hello": "world"}', "missing attribute(s) specversion, id, source, type, time"),
        (b"", "message body is not JSON"),
    ],
)
def test_not_a_cloudevent(body: bytes, message: str) -> None:
    with pytest.raises(EventError) as info:
        decode(body)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "runner.step.exploded"}, "unknown type 'runner.step.exploded'; known: "),
        ({"type": "com.example.thing"}, "unknown type 'com.example.thing'"),
        ({"specversion": "0.3"}, "specversion '0.3' is not 1.0"),
        ({"runid": None}, "missing extension 'runid' (run id)"),
        ({"pipeline": None}, "missing extension 'pipeline' (pipeline)"),
        ({"runid": "R1"}, "run id 'R1' is not a valid name"),
        ({"subject": None}, "missing attribute 'subject' (the step name)"),
        ({"subject": "../etc"}, "step '../etc' is not a valid name"),
        ({"id": "two words"}, "event id 'two words' is invalid"),
        ({"id": "a\r\nNats-Msg-Id: b"}, "is invalid: use 1-512 printable ASCII"),
        ({"time": "yesterday"}, "time: input should be a valid datetime"),
        ({"time": "2024-05-17T12:30:15"}, "has no UTC offset"),
        ({"datacontenttype": "text/plain"}, "datacontenttype 'text/plain' is not supported"),
    ],
)
def test_bad_attributes(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(EventError) as info:
        decode(structured(**changes))
    assert message in str(info.value)


@pytest.mark.parametrize("name", ["../x", "*", ">", "a b", "iris.v2", "Iris", "", "-x", "a" * 64])
def test_bad_pipeline_names(name: str) -> None:
    with pytest.raises(EventError) as info:
        decode(structured(pipeline=name))
    text = str(info.value)
    assert "event 'r1/train/1/step.succeeded' of type runner.step.succeeded" in text
    assert f"pipeline {name!r} is not a valid name" in text


def test_non_string_pipeline() -> None:
    with pytest.raises(EventError, match="pipeline 7 is not a valid name"):
        decode(structured(pipeline=7))


def test_wrong_data_schema_names_the_field() -> None:
    with pytest.raises(EventError) as info:
        decode(structured(data={"outputs": {}}))
    assert str(info.value) == (
        "event 'r1/train/1/step.succeeded' of type runner.step.succeeded: "
        "data invalid: attempt: field required"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"attempt": 1, "extra": True}, "data invalid: extra: extra inputs are not permitted"),
        ({"attempt": "one"}, "data invalid: attempt: input should be a valid integer"),
        ("just text", "data invalid: (root): input should be a valid dictionary"),
        ({"attempt": 1, "outputs": {"m": {"uri": "x"}}}, "outputs.m.digest: field required"),
    ],
)
def test_bad_data(data: Any, message: str) -> None:
    with pytest.raises(EventError) as info:
        decode(structured(data=data))
    assert message in str(info.value)


def test_many_data_errors_are_summarised() -> None:
    bad = {"attempt": "x", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}
    with pytest.raises(EventError, match=r"and \d+ more$"):
        decode(structured(data=bad))


def test_missing_data_is_validated_as_empty() -> None:
    # run.succeeded has only optional fields, so no data is valid ...
    body, _ = encode(sample(EventKind.RUN_SUCCEEDED))
    raw = json.loads(body)
    del raw["data"]
    assert decode(json.dumps(raw).encode()).kind is EventKind.RUN_SUCCEEDED
    # ... but a step.succeeded needs its attempt.
    with pytest.raises(EventError, match="attempt: field required"):
        decode(structured(data=None))
