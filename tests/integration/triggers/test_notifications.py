"""MinIO-format notifications on a real nats-server: one run per object version,
dead letters for what cannot be used, core NATS too."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

from runner.api import RunHandle
from runner.bus import DEAD_LETTER_REASON_HEADER, DEAD_LETTER_SUBJECT_HEADER, NatsBus
from runner.config import Settings
from runner.core import RunStatus
from runner.stack import Stack
from runner.triggers import (
    NOTIFICATION_DEAD_LETTERS,
    NatsSource,
    ObjectFilter,
    TriggerService,
    freeze_pipeline,
    new_trigger,
    trigger_definitions,
)
from runner.triggers.requests import request_key, run_id_for
from tests.integration.triggers.conftest import count_on, run_requests
from tests.unit.triggers.helpers import FIXTURE_URI, fixture_body, make_trigger
from tests.waiting import until

pytestmark = pytest.mark.integration

SUBJECT = "runner.notifications.minio"
_n = itertools.count()

PIPELINE = """
from runner import component, pipeline


@component
def echo(uri: str, size: int) -> str:
    return f"{uri}|{size}"


@pipeline(name="ingest")
def ingest(uri: str, size: int = 0):
    echo(uri=uri, size=size)
"""


def write_pipeline(tmp_path: Path) -> str:
    root = tmp_path / f"src{next(_n)}"
    root.mkdir()
    path = root / f"trigger_ingest_{next(_n)}.py"
    path.write_text(PIPELINE)
    return f"{path}:ingest"


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[Stack]:
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        yield stack


async def test_fixture_notification_runs_the_pipeline_once_even_after_a_restart(
    local: Stack, tmp_path: Path
) -> None:
    assert isinstance(local.bus, NatsBus)
    bus = local.bus
    ref = await freeze_pipeline(write_pipeline(tmp_path), local.store)
    params = {"uri": "{{ object.uri }}", "size": "{{ object.size }}"}
    trigger = new_trigger("incoming", ref, ObjectFilter(bucket="training-data"), parameters=params)
    await (await trigger_definitions(bus)).add(trigger.name, trigger)
    nc = await nats.connect(local.nats_url, allow_reconnect=False)  # stands in for MinIO
    js = nc.jetstream()
    try:
        async with TriggerService(bus, reload_seconds=3600) as service:
            await js.publish(SUBJECT, fixture_body())
            run_id = run_id_for(trigger, request_key(trigger, _fixture_object()))
            state = await RunHandle(bus=bus, run_id=run_id, pipeline="ingest").wait(timeout=90)
            assert state.status is RunStatus.SUCCEEDED, state.error
            assert state.parameters["uri"] == FIXTURE_URI
            assert state.steps["echo"].parameters["output"] == f"{FIXTURE_URI}|48213"

            await js.publish(SUBJECT, fixture_body())  # MinIO retried: the same event again
            engine = service.engine
            assert engine is not None
            await until(lambda: engine.stats["duplicates"] == 1, what="the duplicate", timeout=20)

        published = bus.stats["published"]
        async with TriggerService(bus, reload_seconds=3600) as restarted:
            await js.publish(SUBJECT, fixture_body())
            engine = restarted.engine
            assert engine is not None
            await until(lambda: engine.stats["duplicates"] == 1, what="the duplicate", timeout=20)
            assert engine.stats["requested"] == 0
        assert bus.stats["published"] == published, "the durable record stops it before NATS"
        assert await run_requests(js, bus) == 1
    finally:
        await nc.close()


def _fixture_object():  # type: ignore[no-untyped-def]
    from runner.triggers import parse_notification

    return parse_notification(fixture_body()).objects[0]


@pytest.fixture
async def service(bus: NatsBus) -> AsyncIterator[TriggerService]:
    triggers = await trigger_definitions(bus)
    await triggers.add("incoming", make_trigger())
    await triggers.add(
        "core", make_trigger("core", source=NatsSource(subject="minio.core", jetstream=False))
    )
    async with TriggerService(bus, reload_seconds=3600) as running:
        yield running


async def test_a_bad_notification_is_dead_lettered_and_the_next_good_one_fires(
    bus: NatsBus, service: TriggerService, jetstream: JetStreamContext
) -> None:
    engine = service.engine
    assert engine is not None
    await bus.publish_raw(SUBJECT, b"this is not JSON", {"X-Origin": "test"})
    await bus.publish_raw(SUBJECT, fixture_body().replace(b"training-data", b"unknown-bucket"))
    await until(lambda: engine.stats["dead_letters"] == 2, what="two dead letters", timeout=20)
    dead_stream = f"{bus.settings.stream}_DEADLETTER"
    assert await count_on(jetstream, dead_stream, NOTIFICATION_DEAD_LETTERS) == 2
    first = await jetstream.get_msg(dead_stream, seq=1)
    assert first.data == b"this is not JSON"
    assert first.headers is not None
    assert first.headers[DEAD_LETTER_SUBJECT_HEADER] == SUBJECT
    assert "notification is not JSON" in first.headers[DEAD_LETTER_REASON_HEADER]
    assert first.headers["X-Origin"] == "test"
    second = await jetstream.get_msg(dead_stream, seq=2)
    assert second.headers is not None
    assert "matches no enabled trigger" in second.headers[DEAD_LETTER_REASON_HEADER]

    await bus.publish_raw(SUBJECT, fixture_body())
    await until(lambda: engine.stats["requested"] == 1, what="the good one", timeout=20)
    assert await run_requests(jetstream, bus) == 1


async def test_core_nats_notifications(
    bus: NatsBus, service: TriggerService, jetstream: JetStreamContext
) -> None:
    engine = service.engine
    assert engine is not None
    await bus.publish_core("minio.core", fixture_body())
    await bus.publish_core("minio.core", fixture_body())
    await until(lambda: engine.stats["notifications"] == 2, what="both notifications", timeout=20)
    assert engine.stats["requested"] == 1
    assert engine.stats["duplicates"] == 1
    assert await run_requests(jetstream, bus) == 1


async def test_distinct_objects_each_start_a_run(
    bus: NatsBus, service: TriggerService, jetstream: JetStreamContext
) -> None:
    engine = service.engine
    assert engine is not None
    for etag in ("a1", "a2", "a3"):
        await bus.publish_raw(SUBJECT, fixture_body().replace(b"9b2cf535f2773", etag.encode()))
    await until(lambda: engine.stats["requested"] == 3, what="three runs", timeout=20)
    assert await run_requests(jetstream, bus) == 3
