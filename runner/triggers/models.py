"""Trigger definitions (what a trigger watches, what it runs) and the objects it sees.

A :class:`Trigger` is stored as JSON in the ``runner-triggers`` KV bucket. Its
pipeline is frozen when the trigger is added
(:class:`~runner.records.pipelines.PipelineRef`: spec and code package already
in the store), so editing the file on disk later does
not change what the trigger runs. :class:`ObjectEvent` is one object that
appeared in a bucket, from a notification or a listing.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from runner.errors import InvalidNameError, ValidationError
from runner.events.kinds import validate_name
from runner.records.pipelines import PipelineRef
from runner.store.keys import validate_bucket

__all__ = [
    "MAX_TRIGGER_NAME",
    "NOTIFICATION_SUBJECTS",
    "NOTIFICATIONS_STREAM",
    "DEFAULT_SUBJECT",
    "Limits",
    "NatsSource",
    "ObjectEvent",
    "ObjectFilter",
    "PollSource",
    "Trigger",
    "validate_trigger_name",
]

MAX_TRIGGER_NAME = 40
"""A trigger's run ids are ``<name>-<20 hex>``, which must stay a valid 63-char name."""
NOTIFICATIONS_STREAM = "RUNNER_NOTIFICATIONS"
"""The stream runner keeps for bucket notifications published with JetStream."""
NOTIFICATION_SUBJECTS = "runner.notifications.>"
DEFAULT_SUBJECT = "runner.notifications.minio"
"""Where ``k8s/`` tells MinIO to publish (``MINIO_NOTIFY_NATS_SUBJECT``)."""

_SUBJECT_TOKEN = re.compile(r"[A-Za-z0-9_$-]+|\*|>")


def validate_trigger_name(name: str) -> str:
    validate_name(name, "trigger")
    if len(name) > MAX_TRIGGER_NAME:
        raise InvalidNameError(
            f"trigger name {name!r} is {len(name)} characters long: use at most "
            f"{MAX_TRIGGER_NAME} (run ids add a 21-character suffix)"
        )
    return name


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NatsSource(_Model):
    """S3 event notifications published to NATS (how MinIO notifies)."""

    kind: Literal["nats"] = "nats"
    subject: str = DEFAULT_SUBJECT
    jetstream: bool = True
    """Read from a JetStream stream (durable, replayable); False: core NATS subscription."""
    stream: str | None = None
    """The stream holding ``subject``; unset = runner's ``RUNNER_NOTIFICATIONS``."""

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        tokens = value.split(".")
        bad = [t for t in tokens if not _SUBJECT_TOKEN.fullmatch(t)]
        if bad or (">" in tokens and tokens[-1] != ">"):
            raise ValueError(
                f"{value!r} is not a NATS subject: use dot-separated tokens of letters, "
                "digits, '-' and '_' ('*' or a final '>' as wildcards)"
            )
        return value

    def check(self) -> None:
        """A JetStream source on runner's stream must use a subject that stream stores."""
        ours = self.subject.startswith("runner.notifications.")
        if self.jetstream and self.stream is None and not ours:
            raise ValidationError(
                f"subject {self.subject!r} is not stored by runner's {NOTIFICATIONS_STREAM} "
                f"stream ({NOTIFICATION_SUBJECTS}): publish notifications under "
                "runner.notifications., name the stream that stores the subject, or use "
                "core NATS"
            )


class PollSource(_Model):
    """List the bucket every interval (ListObjectsV2), for stores that cannot notify."""

    kind: Literal["poll"] = "poll"
    interval_seconds: float = Field(default=60.0, gt=0)
    endpoint_url: str | None = None
    """S3 endpoint; unset = the store settings' endpoint (AWS_ENDPOINT_URL_S3)."""
    region: str | None = None
    start: Literal["new", "all"] = "new"
    """``new``: objects already there at the first poll start nothing; ``all``: they do."""


Source = Annotated[NatsSource | PollSource, Field(discriminator="kind")]


class ObjectFilter(_Model):
    """Which objects start a run: bucket, key prefix and suffix, event names."""

    bucket: str
    prefix: str = ""
    suffix: str = ""
    events: list[str] = Field(default_factory=lambda: ["s3:ObjectCreated:*"])
    """Event-name patterns (``*`` matches anything); a poll lists as ``s3:ObjectCreated:Poll``."""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        return validate_bucket(value)

    def mismatch(self, obj: ObjectEvent) -> str | None:
        """Why ``obj`` does not match (None when it does)."""
        if obj.bucket != self.bucket:
            return f"bucket {obj.bucket!r} is not {self.bucket!r}"
        if not obj.key.startswith(self.prefix):
            return f"key {obj.key!r} does not start with {self.prefix!r}"
        if not obj.key.endswith(self.suffix):
            return f"key {obj.key!r} does not end with {self.suffix!r}"
        if not self.wants_event(obj.event_name):
            return f"event {obj.event_name!r} matches none of {', '.join(self.events)}"
        return None

    def wants_event(self, event_name: str) -> bool:
        return any(fnmatch.fnmatchcase(event_name, p) for p in self.events)


class Limits(_Model):
    """How many runs a trigger may start."""

    max_concurrent_runs: int | None = Field(default=None, ge=1)
    max_runs_per_minute: float | None = Field(default=None, gt=0)


class Trigger(_Model):
    """A stored trigger definition."""

    name: str
    uid: str
    """Random id given at ``add``: a trigger removed and added again is a new trigger."""
    pipeline: PipelineRef
    source: Source = Field(default_factory=NatsSource)
    filter: ObjectFilter
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    """Run parameters; strings may hold ``{{ object.uri }}``-style templates."""
    experiment: str = "default"
    enabled: bool = True
    limits: Limits = Field(default_factory=Limits)
    no_cache: bool = False
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_trigger_name(value)

    @field_validator("experiment")
    @classmethod
    def _experiment(cls, value: str) -> str:
        return validate_name(value, "experiment")

    @property
    def requested_by(self) -> str:
        return f"trigger/{self.name}"


@dataclass(frozen=True)
class ObjectEvent:
    """One object that appeared in a bucket (from a notification or a listing)."""

    bucket: str
    key: str
    """The decoded object key (notifications carry it URL-encoded)."""
    event_name: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    time: datetime | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def version(self) -> str:
        """What makes this object version distinct: version id, else ETag, else sequencer.

        An unversioned object overwritten with identical bytes keeps its ETag,
        so it starts no second run; enable bucket versioning for a run per upload.
        """
        if self.version_id:
            return f"version:{self.version_id}"
        if self.etag:
            return f"etag:{self.etag}"
        if self.sequencer:
            return f"sequencer:{self.sequencer}"
        raise ValidationError(
            f"object {self.uri!r} has no version id, ETag or sequencer: runner cannot tell "
            "one upload from the next"
        )
