"""HTTP sinks end to end: real nats-server, a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web
from cloudevents.http import from_http
from nats.js import JetStreamContext

from runner.bus import DEAD_LETTER_REASON_HEADER, NatsBus
from runner.events import EventKind, RunStarted, StepStarted, StepSucceeded, make_event
from runner.events.envelope import Event
from runner.triggers import Sink, TriggerService, sink_dead_letter_subject, sink_definitions
from tests.integration.triggers.conftest import count_on
from tests.waiting import until

pytestmark = pytest.mark.integration

T = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """A Knative-style receiver: answers from a script, then 200."""

    url: str = ""
    script: dict[str, list[int]] = field(default_factory=dict)
    """path -> statuses to answer, in order, before answering 200."""
    received: list[tuple[str, str, int]] = field(default_factory=list)
    """(path, ce-id, status answered)."""
    cloudevents: list[object] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        statuses = self.script.get(request.path, [])
        status = statuses.pop(0) if statuses else 200
        self.received.append((request.path, request.headers["ce-id"], status))
        if status == 200:
            # What a Knative service does with the request: the SDK reads binary mode.
            self.cloudevents.append(from_http(dict(request.headers), body))
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/{path:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


def events(run: str) -> list[Event]:
    return [
        make_event(
            EventKind.RUN_STARTED,
            run_id=run,
            pipeline="iris",
            time=T,
            data=RunStarted(pipeline_digest="d", steps=1),
        ),
        make_event(
            EventKind.STEP_STARTED,
            run_id=run,
            pipeline="iris",
            step="train",
            attempt=1,
            time=T,
            data=StepStarted(attempt=1),
        ),
        make_event(
            EventKind.STEP_SUCCEEDED,
            run_id=run,
            pipeline="iris",
            step="train",
            attempt=1,
            time=T,
            data=StepSucceeded(attempt=1),
        ),
    ]


async def test_in_order_with_a_503_retried_and_500s_dead_lettered(
    bus: NatsBus, jetstream: JetStreamContext, receiver: Receiver
) -> None:
    receiver.script = {"/ok": [503], "/broken": [500, 500, 500]}
    sinks = await sink_definitions(bus)
    fast = {"backoff_seconds": 0.01, "max_backoff_seconds": 0.05}
    await sinks.add("ok", Sink(name="ok", url=f"{receiver.url}/ok", **fast))
    await sinks.add(
        "broken",
        Sink(name="broken", url=f"{receiver.url}/broken", kind="run", max_attempts=3, **fast),
    )
    async with TriggerService(bus, reload_seconds=3600) as service:
        for event in events("r1"):
            await bus.publish(event)
        ok, broken = service.sinks["ok"], service.sinks["broken"]
        await until(lambda: ok.stats["delivered"] == 3, what="three deliveries", timeout=20)
        await until(lambda: broken.stats["dead_letters"] == 1, what="a dead letter", timeout=20)

    to_ok = [(ce_id, status) for path, ce_id, status in receiver.received if path == "/ok"]
    assert to_ok == [
        ("r1/run.started", 503),
        ("r1/run.started", 200),
        ("r1/train/1/step.started", 200),
        ("r1/train/1/step.succeeded", 200),
    ]
    first = receiver.cloudevents[0]
    assert first["type"] == "runner.run.started"  # type: ignore[index]
    assert first["runid"] == "r1"  # type: ignore[index]
    assert first.get_data() == {"pipeline_digest": "d", "steps": 1}  # type: ignore[attr-defined]

    to_broken = [status for path, _, status in receiver.received if path == "/broken"]
    assert to_broken == [500, 500, 500]
    dead_stream = f"{bus.settings.stream}_DEADLETTER"
    subject = sink_dead_letter_subject("broken")
    assert await count_on(jetstream, dead_stream, subject) == 1
    letter = await jetstream.get_last_msg(dead_stream, subject)
    assert letter.headers is not None
    assert "3 attempt(s)" in letter.headers[DEAD_LETTER_REASON_HEADER]


async def test_a_sink_resumes_after_a_restart(bus: NatsBus, receiver: Receiver) -> None:
    sinks = await sink_definitions(bus)
    await sinks.add("ok", Sink(name="ok", url=f"{receiver.url}/ok"))
    first, second = events("r1"), events("r2")
    async with TriggerService(bus, reload_seconds=3600) as service:
        await bus.publish(first[0])
        await until(
            lambda: service.sinks["ok"].stats["delivered"] == 1, what="one delivery", timeout=20
        )
    for event in second:
        await bus.publish(event)  # while no sink runs
    async with TriggerService(bus, reload_seconds=3600) as service:
        await until(
            lambda: service.sinks["ok"].stats["delivered"] == 3, what="the backlog", timeout=20
        )
    assert [ce_id for _, ce_id, _ in receiver.received] == [
        "r1/run.started",
        "r2/run.started",
        "r2/train/1/step.started",
        "r2/train/1/step.succeeded",
    ]


async def test_connection_refused_is_retried_then_dead_lettered(
    bus: NatsBus, jetstream: JetStreamContext
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    sinks = await sink_definitions(bus)
    await sinks.add("gone", Sink(name="gone", url=url, max_attempts=2, backoff_seconds=0.01))
    async with TriggerService(bus, reload_seconds=3600) as service:
        await bus.publish(events("r1")[0])
        worker = service.sinks["gone"]
        await until(lambda: worker.stats["dead_letters"] == 1, what="a dead letter", timeout=20)
        assert worker.stats["attempts"] == 2
    letter = await jetstream.get_last_msg(
        f"{bus.settings.stream}_DEADLETTER", sink_dead_letter_subject("gone")
    )
    assert letter.headers is not None
    assert f"POST {url} failed" in letter.headers[DEAD_LETTER_REASON_HEADER]
