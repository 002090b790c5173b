"""Shared builders for trigger tests: a pipeline reference, triggers, objects, a clock."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runner.bus import MemoryBus
from runner.events import CodeRef, EventKind, RunRequested
from runner.events.codec import decode
from runner.spec.models import ParameterDecl, ParameterType
from runner.triggers import (
    Limits,
    NatsSource,
    ObjectEvent,
    ObjectFilter,
    PipelineRef,
    PollSource,
    Trigger,
    new_trigger,
)

FIXTURE = Path(__file__).parent / "data" / "minio-put-event.json"
"""Copy of ../shared/fixtures/minio-put-event.json (MinIO's NATS notification)."""
FIXTURE_URI = "s3://training-data/incoming/day=2026-11-28/part 1.csv"

PIPELINE = PipelineRef(
    name="ingest",
    digest="ab" * 32,
    spec_uri="file:///store/pipelines/ingest/abab.json",
    code=CodeRef(uri="file:///store/code/cd.tar.gz", digest="cd" * 32),
    source="/src/ingest.py:ingest",
    parameters=[
        ParameterDecl(name="uri", type=ParameterType.STR),
        ParameterDecl(name="size", type=ParameterType.INT, optional=True, default=0),
        ParameterDecl(name="note", type=ParameterType.STR, optional=True, default=""),
    ],
)


def fixture_body() -> bytes:
    return FIXTURE.read_bytes()


def notification(**object_fields: Any) -> bytes:
    """The fixture with some ``s3.object`` fields replaced (None removes one)."""
    doc = json.loads(fixture_body())
    obj = doc["Records"][0]["s3"]["object"]
    for name, value in object_fields.items():
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return json.dumps(doc).encode()


def make_trigger(
    name: str = "incoming",
    *,
    bucket: str = "training-data",
    prefix: str = "incoming/",
    suffix: str = "",
    source: NatsSource | PollSource | None = None,
    limits: Limits | None = None,
    parameters: dict[str, Any] | None = None,
    enabled: bool = True,
) -> Trigger:
    return new_trigger(
        name,
        PIPELINE,
        ObjectFilter(bucket=bucket, prefix=prefix, suffix=suffix),
        parameters=parameters if parameters is not None else {"uri": "{{ object.uri }}"},
        source=source,
        limits=limits,
        enabled=enabled,
    )


def obj(
    key: str = "incoming/a.csv", etag: str = "e1", bucket: str = "training-data"
) -> ObjectEvent:
    return ObjectEvent(bucket=bucket, key=key, event_name="s3:ObjectCreated:Put", etag=etag)


def run_requests(bus: MemoryBus) -> list[RunRequested]:
    out = []
    for message in bus.messages:
        event = decode(message.body, message.headers)
        if event.kind is EventKind.RUN_REQUESTED:
            assert isinstance(event.data, RunRequested)
            out.append(event.data)
    return out


@dataclass
class FakeClock:
    now: datetime = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def memory_bus() -> MemoryBus:
    bus = MemoryBus()
    await bus.ensure_streams()
    return bus


def bus_changed(bus: MemoryBus) -> Callable[[], Awaitable[None]]:
    """A ``pause`` for :func:`tests.waiting.until`: the bus's next change (at most 10 ms)."""
    return lambda: bus.wait_changed(0.01)
