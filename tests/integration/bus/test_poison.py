"""Poison messages and ten thousand generated ones on a real nats-server.

Each of the four measured poison messages killed ``runner up`` (and again
after every restart: the message was redelivered). Here they go on
``runner.events.*`` together with 10,000 generated messages of every shape
while a controller runs a real pipeline — in process (Stack, local
executor, real step processes) and as ``python -m runner.service``. The
controller must stay alive, the run succeed, and the dead-letter stream hold
exactly one message per bad message, control headers stripped. When the
dead-letter stream is deleted, the message is nak'ed and redelivered, and
dead-lettered once the stream is back.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from runner.api import submit
from runner.bus import DEAD_LETTER_REASON_HEADER, NatsBus
from runner.bus.dead_letters import LOG_REASON_CHARS
from runner.bus.streams import DEAD_LETTER_SUBJECTS, dead_letter_stream_name
from runner.config import NatsSettings, Settings
from runner.controller.controller import Controller
from runner.core import RunStatus
from runner.dsl.loader import LoadedPipeline, load_pipeline
from runner.stack import Stack
from runner.store.factory import open_store
from runner.store.memory import MemoryStore
from tests.fixtures.controllers import OutputDrain, start_controller
from tests.integration.runtime.pipelines import CHAIN
from tests.unit.bus.controller_harness import (
    SEQ_HEADER,
    ReportingExecutor,
    request_run,
    run_succeeded,
    running,
    tagged,
)
from tests.unit.events.garbage import Message, poison_messages, seeded_messages
from tests.waiting import until

pytestmark = pytest.mark.integration

GENERATED = 10_000
CONTROLLER_LOGGER = "runner.controller.controller"


def garbage(stream: str, seed: int) -> list[Message]:
    """The four poison messages, then :data:`GENERATED` seeded ones, numbered."""
    messages = poison_messages(stream) + seeded_messages(GENERATED, seed=seed)
    return [tagged(m, i) for i, m in enumerate(messages)]


async def publish_all(bus: NatsBus, messages: Sequence[Message]) -> None:
    """Publish concurrently (a few hundred in flight): 10,000 acks one by one is slow."""
    for start in range(0, len(messages), 250):
        chunk = messages[start : start + 250]
        await asyncio.gather(*(bus.publish_raw(m.subject, m.body, m.headers) for m in chunk))


def write_chain(tmp_path: Path) -> LoadedPipeline:
    root = tmp_path / "src"
    root.mkdir()
    path = root / f"pipe_poison_{tmp_path.name.replace('-', '_')}.py"
    path.write_text(CHAIN)
    return load_pipeline(f"{path}:chain")


async def dead_letter_count(js: JetStreamContext, settings: NatsSettings) -> int:
    info = await js.stream_info(dead_letter_stream_name(settings))
    return info.state.messages


async def all_dead_letters(js: JetStreamContext) -> list[dict[str, str]]:
    """The headers of every message on the dead-letter subjects."""
    sub = await js.pull_subscribe(
        DEAD_LETTER_SUBJECTS, config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    found: list[dict[str, str]] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=2.0)
            except TimeoutError:  # nats' own, or asyncio's when its first probe is slow
                return found
            found += [dict(m.headers or {}) for m in msgs]
    finally:
        await sub.unsubscribe()


def check_letters(letters: list[dict[str, str]], count: int) -> None:
    """One dead letter per bad message, no server control header left on any."""
    assert sorted(int(h[SEQ_HEADER]) for h in letters) == list(range(count))
    for headers in letters:
        left = [k for k in headers if k.lower().startswith("nats-") and k != "Nats-Msg-Id"]
        assert not left, left
        assert headers[DEAD_LETTER_REASON_HEADER]
    # The poison with Nats-Expected-Stream is the fourth message (seq 3).
    (header_poison,) = [h for h in letters if h[SEQ_HEADER] == "3"]
    assert "Nats-Expected-Stream" in header_poison["Runner-Stripped-Headers"]


async def test_in_process_controller_survives_poison_and_generated_garbage(
    bus: NatsBus,
    bus_settings: NatsSettings,
    jetstream: JetStreamContext,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = garbage(bus_settings.stream, seed=1)
    loaded = write_chain(tmp_path)
    calls = tmp_path / "calls"
    calls.mkdir()
    settings = Settings(home=tmp_path / "home", nats=bus_settings)
    with caplog.at_level(logging.WARNING, logger="runner"):
        async with Stack(settings, controller=True) as stack:
            assert stack.controller_task is not None
            await publish_all(bus, bad[:4])
            handle = await submit(
                loaded.pipeline,
                {"log_dir": str(calls), "seconds": 0.2},
                bus=stack.bus,
                store=stack.store,
                source_root=loaded.source_root,
            )
            await publish_all(bus, bad[4:])
            state = await handle.wait(timeout=120)
            assert state.status is RunStatus.SUCCEEDED, state.error
            await until(
                lambda: _counted(jetstream, bus_settings, len(bad)),
                "every bad message in the dead-letter stream",
                timeout=120,
            )
            assert not stack.controller_task.done(), "the controller stopped"
    check_letters(await all_dead_letters(jetstream), len(bad))
    lines = [r.getMessage() for r in caplog.records if r.name == CONTROLLER_LOGGER]
    dead_lines = [line for line in lines if line.startswith("dead-lettered a message on ")]
    assert len(dead_lines) == len(bad)
    assert max(len(line) for line in lines) <= LOG_REASON_CHARS + 100


async def _counted(js: JetStreamContext, settings: NatsSettings, want: int) -> bool:
    have = await dead_letter_count(js, settings)
    assert have <= want, f"{have} dead letters for {want} bad messages"
    return have == want


async def test_runner_service_survives_poison_and_generated_garbage(
    tmp_path: Path,
    private_nats_url: str,
    private_bus: NatsBus,
    controller_processes: list[subprocess.Popen[str]],
) -> None:
    proc = start_controller(tmp_path, private_nats_url, controller_processes)
    drain: OutputDrain = proc.output  # type: ignore[attr-defined]
    settings = private_bus.settings
    bad = garbage(settings.stream, seed=2)
    loaded = write_chain(tmp_path)
    calls = tmp_path / "calls"
    calls.mkdir()
    store = open_store((tmp_path / "store").as_uri())
    try:
        await publish_all(private_bus, bad[:4])
        handle = await submit(
            loaded.pipeline,
            {"log_dir": str(calls), "seconds": 0.2},
            bus=private_bus,
            store=store,
            source_root=loaded.source_root,
        )
        await publish_all(private_bus, bad[4:])
        state = await handle.wait(timeout=120)
    finally:
        await store.close()
    assert state.status is RunStatus.SUCCEEDED, state.error
    nc = await nats.connect(private_nats_url, allow_reconnect=False)
    try:
        js = nc.jetstream()
        await until(
            lambda: _counted(js, settings, len(bad)), "every bad message dead-lettered", 120
        )
        assert proc.poll() is None, "runner.service exited"
        check_letters(await all_dead_letters(js), len(bad))
    finally:
        await nc.close()
    # Its log: one line per dead letter, each bounded (stdout and stderr together).
    await until(
        lambda: sum("dead-lettered a message on" in line for line in drain.lines) >= len(bad),
        "the dead-letter log lines",
    )
    dead_lines = [line for line in drain.lines if "dead-lettered a message on" in line]
    assert len(dead_lines) == len(bad)
    assert max(len(line) for line in dead_lines) <= LOG_REASON_CHARS + 200


async def test_dead_letter_stream_outage_naks_and_redelivers(
    bus: NatsBus,
    bus_settings: NatsSettings,
    jetstream: JetStreamContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    controller = Controller(
        bus=bus, store=store, executor=ReportingExecutor(bus), reconcile_seconds=3600
    )
    poison = tagged(poison_messages(bus_settings.stream)[3], 0)  # the header one
    await jetstream.delete_stream(dead_letter_stream_name(bus_settings))
    with caplog.at_level(logging.WARNING, logger="runner"):
        async with running(controller) as task:
            await bus.publish_raw(poison.subject, poison.body, poison.headers)
            await until(
                lambda: any("could not dead-letter" in r.getMessage() for r in caplog.records),
                "the failed dead letter",
            )
            await request_run(bus, store, "beside-outage")
            await until(lambda: run_succeeded(controller, "beside-outage"), "the run beside it")
            assert not task.done()
            await bus.ensure_streams()  # the stream is back
            # nak'ed with a delay of 5 s: redelivered, and this time parked.
            await until(
                lambda: _counted(jetstream, bus_settings, 1), "the redelivered dead letter", 30
            )
    (letter,) = await all_dead_letters(jetstream)
    assert letter[SEQ_HEADER] == "0"
    assert "Nats-Expected-Stream" not in letter
    lines = [r.getMessage() for r in caplog.records if r.name == CONTROLLER_LOGGER]
    assert sum(line.startswith("dead-lettered a message on ") for line in lines) == 1
