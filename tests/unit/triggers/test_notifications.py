"""Parsing MinIO / S3 notifications: lenient about extras, strict about what is used."""

from __future__ import annotations

import json

import pytest

from runner.triggers import NotificationError, parse_notification
from tests.unit.triggers.helpers import FIXTURE_URI, fixture_body, notification


def test_the_minio_fixture() -> None:
    parsed = parse_notification(fixture_body())
    assert parsed.problems == []
    (obj,) = parsed.objects
    assert obj.bucket == "training-data"
    assert obj.key == "incoming/day=2026-11-28/part 1.csv"  # %2F, %3D and + decoded
    assert obj.uri == FIXTURE_URI
    assert obj.size == 48213
    assert obj.etag == "9b2cf535f27731c974343645a3985328"
    assert obj.version_id is None  # "" in the notification
    assert obj.sequencer == "187BD2A6C5C1A9F4"
    assert obj.event_name == "s3:ObjectCreated:Put"
    assert obj.time is not None
    assert obj.time.isoformat() == "2026-11-28T09:27:27.514000+00:00"
    assert obj.version == "etag:9b2cf535f27731c974343645a3985328"


def test_version_id_wins_over_etag() -> None:
    (obj,) = parse_notification(notification(versionId="v7")).objects
    assert obj.version == "version:v7"


def test_sequencer_is_the_last_resort() -> None:
    (obj,) = parse_notification(notification(eTag=None)).objects
    assert obj.version == "sequencer:187BD2A6C5C1A9F4"


def test_aws_test_event_names_no_object() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}).encode()
    parsed = parse_notification(body)
    assert parsed.objects == []
    assert parsed.problems == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"EventName": "s3:ObjectCreated:Put"}', "no 'Records' list"),
        (b'{"Records": []}', "not a non-empty list"),
        (b'{"Records": {"a": 1}}', "not a non-empty list"),
    ],
)
def test_unusable_documents(body: bytes, match: str) -> None:
    with pytest.raises(NotificationError, match=match):
        parse_notification(body)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"key": None}, "missing text field s3.object.key"),
        ({"key": ""}, "missing text field s3.object.key"),
        ({"size": "big"}, "not a byte count"),
        ({"size": -1}, "not a byte count"),
        ({"eTag": None, "sequencer": None}, "no version id, ETag or sequencer"),
        ({"eTag": 5}, "eTag is int"),
    ],
)
def test_unusable_records_are_problems(fields: dict[str, object], match: str) -> None:
    parsed = parse_notification(notification(**fields))
    assert parsed.objects == []
    (problem,) = parsed.problems
    assert problem.startswith("Records[0]: ")
    assert match in problem


def test_a_bad_record_does_not_spoil_the_good_one() -> None:
    doc = json.loads(fixture_body())
    doc["Records"].append({"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {}}})
    doc["Records"].append("junk")
    parsed = parse_notification(json.dumps(doc).encode())
    assert [o.uri for o in parsed.objects] == [FIXTURE_URI]
    assert parsed.problems == [
        "Records[1]: missing text field s3.bucket.name",
        "Records[2]: is not an object",
    ]


def test_missing_event_name() -> None:
    doc = json.loads(fixture_body())
    del doc["Records"][0]["eventName"]
    assert (
        "missing text field eventName" in parse_notification(json.dumps(doc).encode()).problems[0]
    )
