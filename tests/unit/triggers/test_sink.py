"""HTTP sinks: binary-mode requests, the retry policy, per-run order, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from runner.bus import DEAD_LETTER_REASON_HEADER, MemoryBus
from runner.errors import TransientError
from runner.events import EventKind, RunStarted, StepStarted, make_event
from runner.events.envelope import Event
from runner.triggers import Sink
from runner.triggers.sink import Verdict, backoff_seconds, binary_request, classify
from runner.triggers.sink_worker import SinkWorker
from tests.unit.triggers.helpers import bus_changed, memory_bus
from tests.waiting import until

T = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def started(run: str, pipeline: str = "iris") -> Event:
    return make_event(
        EventKind.RUN_STARTED,
        run_id=run,
        pipeline=pipeline,
        time=T,
        data=RunStarted(pipeline_digest="d", steps=2),
        traceparent=TRACE,
    )


def step_started(run: str, step: str) -> Event:
    return make_event(
        EventKind.STEP_STARTED,
        run_id=run,
        pipeline="iris",
        step=step,
        attempt=1,
        time=T,
        data=StepStarted(attempt=1),
    )


def test_binary_mode_headers_and_body() -> None:
    headers, body = binary_request(step_started("r1", "train"))
    assert headers == {
        "ce-specversion": "1.0",
        "ce-id": "r1/train/1/step.started",
        "ce-source": "/runner/controller",
        "ce-type": "runner.step.started",
        "ce-time": "2026-11-28T09:00:00+00:00",
        "ce-runid": "r1",
        "ce-pipeline": "iris",
        "ce-subject": "train",
        "Content-Type": "application/json",
    }
    assert body.startswith(b'{"attempt":1')
    traced, _ = binary_request(started("r1"))
    assert traced["ce-traceparent"] == TRACE == traced["traceparent"]
    assert "ce-subject" not in traced


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (202, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (301, Verdict.GIVE_UP),
        (400, Verdict.GIVE_UP),
        (404, Verdict.GIVE_UP),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_backoff_grows_and_is_capped() -> None:
    sink = Sink(name="s", url="http://x.test/", backoff_seconds=1, max_backoff_seconds=5)
    assert [backoff_seconds(sink, n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"url": "ftp://x"}, "not an http"),
        ({"name": "Bad Name"}, "not a valid name"),
        ({"max_attempts": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_sink_definitions(fields: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"name": "s", "url": "http://x.test/", **fields}
    with pytest.raises(ValueError, match=match):
        Sink(**args)  # type: ignore[arg-type]


def test_sink_filters_become_a_subject() -> None:
    assert Sink(name="s", url="http://x.test/").subject == "runner.events.*.*.>"
    assert (
        Sink(name="s", url="http://x.test/", pipeline="iris", kind="run").subject
        == "runner.events.iris.*.run.*"
    )


class FakeSender:
    """Answers from a script per run; records what was posted."""

    def __init__(self, script: Iterator[int | Exception]) -> None:
        self.script = script
        self.posted: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        if self.gate is not None:
            await self.gate.wait()
        answer = next(self.script, 200)
        self.posted.append((headers["ce-id"], str(answer)))
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        return None


async def run_worker(
    bus: MemoryBus, sink: Sink, sender: FakeSender, handled: int, events: list[Event]
) -> tuple[SinkWorker, list[float]]:
    """Start a worker, publish ``events`` once its consumer exists, wait until it has
    handled (delivered or dead-lettered) ``handled`` of them."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    worker = SinkWorker(sink, bus, sender, sleep=sleep)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await worker.ready.wait()
            for event in events:
                await bus.publish(event)
            await until(
                lambda: worker.stats["delivered"] + worker.stats["dead_letters"] >= handled,
                f"{handled} events delivered or dead-lettered",
                10,
                pause=bus_changed(bus),
            )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return worker, waits


async def test_delivers_in_order_retrying_503_then_success() -> None:
    bus = await memory_bus()
    await bus.publish(started("r0"))  # before the sink existed: not delivered
    sender = FakeSender(iter([503, 503, 200]))
    sink = Sink(name="hook", url="http://x.test/", backoff_seconds=0.5)
    events = [started("r1"), step_started("r1", "a"), step_started("r1", "b")]
    worker, waits = await run_worker(bus, sink, sender, handled=3, events=events)
    assert [p[0] for p in sender.posted] == [
        "r1/run.started",
        "r1/run.started",
        "r1/run.started",
        "r1/a/1/step.started",
        "r1/b/1/step.started",
    ]
    assert waits == [0.5, 1.0]
    assert worker.stats == {"delivered": 3, "retries": 2, "dead_letters": 0, "attempts": 5}


async def test_dead_letters_after_max_attempts_and_gives_up_on_4xx() -> None:
    bus = await memory_bus()
    sender = FakeSender(iter([500, 500, 500, 404]))
    sink = Sink(name="hook", url="http://x.test/", max_attempts=3)
    # One run, so the script is consumed in order: r1 three times, then its next event.
    events = [started("r1"), step_started("r1", "a")]
    worker, _ = await run_worker(bus, sink, sender, handled=2, events=events)
    assert [m.subject for m in bus.dead_letters] == ["runner.deadletter.sink.hook"] * 2
    reasons = [m.headers[DEAD_LETTER_REASON_HEADER] for m in bus.dead_letters]
    assert "3 attempt(s) to deliver to http://x.test/ failed; last: HTTP 500" in reasons[0]
    assert "answered HTTP 404: not retried" in reasons[1]
    assert bus.dead_letters[0].headers["Nats-Msg-Id"] == "r1/run.started/sink/hook"
    assert bus.dead_letters[1].headers["Nats-Msg-Id"] == "r1/a/1/step.started/sink/hook"
    assert worker.stats["dead_letters"] == 2
    assert worker.stats["attempts"] == 4


async def test_connection_errors_are_retried() -> None:
    bus = await memory_bus()
    sender = FakeSender(iter([TransientError("refused"), 200]))
    sink = Sink(name="hook", url="http://x.test/")
    worker, waits = await run_worker(bus, sink, sender, 1, [started("r1")])
    assert worker.stats["delivered"] == 1
    assert waits == [1.0]


async def test_a_stuck_run_does_not_hold_back_other_runs() -> None:
    bus = await memory_bus()
    script = iter([500, 500, 500, 500, 200])
    sender = FakeSender(script)
    blocked = asyncio.Event()
    released = asyncio.Event()

    async def sleep(seconds: float) -> None:
        blocked.set()
        await released.wait()

    worker = SinkWorker(Sink(name="hook", url="http://x.test/"), bus, sender, sleep=sleep)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await worker.ready.wait()
            await bus.publish(started("r1"))
            await bus.publish(started("r2"))
            await blocked.wait()
            # r1 is sleeping between retries; r2 went out meanwhile (and failed: its
            # lane sleeps too) - both lanes were in flight at once.
            await until(lambda: len(sender.posted) >= 2, "both posts", 10, pause=bus_changed(bus))
        assert {p[0] for p in sender.posted} == {"r1/run.started", "r2/run.started"}
    finally:
        released.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_filters_select_events() -> None:
    bus = await memory_bus()
    # The one that matches comes last: lanes start in stream order, so anything
    # not filtered out would have been posted before it.
    events = [started("r2", pipeline="other"), step_started("r3", "a"), started("r1")]
    sender = FakeSender(iter([]))
    sink = Sink(name="hook", url="http://x.test/", pipeline="iris", kind="run")
    await run_worker(bus, sink, sender, handled=1, events=events)
    assert [p[0] for p in sender.posted] == ["r1/run.started"]
