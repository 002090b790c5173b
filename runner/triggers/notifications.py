"""Parse S3 event notifications as MinIO (and AWS) publish them.

MinIO's NATS target sends one JSON document per event: top-level
``EventName`` and ``Key`` plus ``Records[]`` in the S3 event format, whose
``s3.object.key`` is URL-encoded (``+`` for a space). Real notifications
carry more fields than runner uses, so parsing is lenient about what it
ignores and strict about what it uses: bucket, key, event name and at least
one of version id, ETag and sequencer (to tell one upload from the next).

A document that cannot be read at all raises :class:`NotificationError`; a
record inside it that is unusable is reported in
:attr:`ParsedNotification.problems` while the good records still count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from runner.errors import PermanentError
from runner.triggers.models import ObjectEvent

__all__ = ["NotificationError", "ParsedNotification", "parse_notification"]

_TEST_EVENTS = frozenset({"s3:TestEvent"})
"""AWS sends this when a notification is configured; it names no object."""


class NotificationError(PermanentError):
    """A bucket notification cannot be used at all."""


@dataclass
class ParsedNotification:
    objects: list[ObjectEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One line per record that could not be used."""


def parse_notification(body: bytes) -> ParsedNotification:
    """The objects a notification announces; see the module doc."""
    try:
        doc = json.loads(body)
    except RecursionError as exc:
        raise NotificationError("notification is JSON nested too deeply to read") from exc
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise NotificationError(f"notification is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(doc, dict):
        raise NotificationError(f"notification is JSON {type(doc).__name__}, not an object")
    records = doc.get("Records")
    if records is None:
        if doc.get("Event") in _TEST_EVENTS:
            return ParsedNotification()
        raise NotificationError(
            "notification has no 'Records' list: expected the S3 event format "
            "(MinIO's NATS target, or an S3 event notification)"
        )
    if not isinstance(records, list) or not records:
        raise NotificationError("notification 'Records' is not a non-empty list")
    parsed = ParsedNotification()
    for index, record in enumerate(records):
        try:
            parsed.objects.append(_record(record))
        except NotificationError as exc:
            parsed.problems.append(f"Records[{index}]: {exc}")
        except Exception as exc:  # garbage must be reported, never stop the feed
            parsed.problems.append(f"Records[{index}]: unusable ({type(exc).__name__})")
    return parsed


def _record(record: Any) -> ObjectEvent:
    if not isinstance(record, dict):
        raise NotificationError("is not an object")
    event_name = _text(record, "eventName")
    s3 = _dict(record, "s3")
    bucket = _text(_dict(s3, "bucket", "s3."), "name", "s3.bucket.")
    obj = _dict(s3, "object", "s3.")
    key = unquote_plus(_text(obj, "key", "s3.object."))
    if not key:
        raise NotificationError("s3.object.key is empty")
    size = obj.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise NotificationError(f"s3.object.size {str(size)[:40]!r} is not a byte count")
    event = ObjectEvent(
        bucket=bucket,
        key=key,
        event_name=event_name,
        size=size,
        etag=_optional(obj, "eTag") or _optional(obj, "etag"),
        version_id=_optional(obj, "versionId"),
        sequencer=_optional(obj, "sequencer"),
        time=_time(record.get("eventTime")),
    )
    try:
        event.version  # noqa: B018 - checks that one upload can be told from the next
    except ValueError as exc:
        raise NotificationError(str(exc)) from exc
    return event


def _dict(parent: dict[str, Any], name: str, path: str = "") -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise NotificationError(f"missing object field {path}{name}")
    return value


def _text(parent: dict[str, Any], name: str, path: str = "") -> str:
    value = parent.get(name)
    if not isinstance(value, str) or not value:
        raise NotificationError(f"missing text field {path}{name}")
    return value


def _optional(parent: dict[str, Any], name: str) -> str | None:
    value = parent.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise NotificationError(f"field {name} is {type(value).__name__}, not text")
    return value.strip('"')


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
