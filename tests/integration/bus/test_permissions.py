"""The NATS permissions documented in docs/events.md, on a real nats-server.

The example configuration is read from the docs page itself (so the page
cannot drift from what is tested), given passwords, a port and a data dir,
and started. Then each user does what its row of the table says it may — and
is refused what it may not.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from runner.bus import connect
from runner.bus.client import NatsBus
from runner.bus.embedded import find_binary
from runner.config import NatsSettings
from runner.events.codec import encode
from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import RunCancelRequested, RunRequested, StepStarted
from runner.records.states import RunStates
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

DOC = Path(__file__).parents[3] / "docs" / "events.md"
USERS = ("controller", "step", "viewer", "submitter")


def documented_config() -> str:
    text = DOC.read_text()
    match = re.search(r"An example `nats-server` configuration.*?```\n(.*?)```", text, re.S)
    assert match is not None, "docs/events.md lost its example nats-server configuration"
    return match[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("nats-perms")
    config = documented_config().replace('"/data/jetstream"', f'"{data / "js"}"')
    for user in USERS:
        config = config.replace(f'"${user.upper()}_PASSWORD"', f'"{user}-pw"')
    assert "$" not in config.split("authorization")[1].replace("$JS", "").replace("$KV", "")
    port = free_port()
    path = data / "nats.conf"
    path.write_text(f"host: 127.0.0.1\nport: {port}\n{config}")
    with open(data / "log", "wb") as log:
        proc = subprocess.Popen([str(find_binary()), "-c", str(path)], stdout=log, stderr=log)
    url = f"nats://127.0.0.1:{port}"

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError:
            assert proc.poll() is None, (data / "log").read_text()
            return False
        return True

    try:
        wait_until(listening, "nats-server to start", 15)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def bus_as(url: str, user: str) -> NatsBus:
    settings = NatsSettings(user=user, password=f"{user}-pw", connect_timeout_seconds=3)
    return await connect(settings, url=url)


@pytest.fixture
async def controller(server: str) -> AsyncIterator[NatsBus]:
    bus = await bus_as(server, "controller")
    await bus.ensure_streams()
    try:
        yield bus
    finally:
        await bus.close()


async def raw(url: str, user: str) -> Client:
    async def quiet(_exc: Exception) -> None:  # permission errors are expected here
        return None

    return await nats.connect(
        url, user=user, password=f"{user}-pw", allow_reconnect=False, error_cb=quiet
    )


def event(kind: EventKind, run: str) -> Event:
    data = {
        EventKind.STEP_STARTED: StepStarted(attempt=1),
        EventKind.RUN_REQUESTED: RunRequested(
            pipeline="p", pipeline_digest="0" * 64, spec_uri="file:///x.json"
        ),
        EventKind.RUN_CANCEL_REQUESTED: RunCancelRequested(reason="test"),
    }[kind]
    step = "train" if kind.is_step else None
    return make_event(kind, run_id=run, pipeline="p", step=step, attempt=1 if step else None,
                      data=data, time=datetime.now(UTC))  # fmt: skip


async def refused_publish(client: Client, ev: Event) -> bool:
    """A JetStream publish the server refuses never gets its acknowledgement."""
    body, headers = encode(ev)
    try:
        await client.jetstream().publish(ev.subject, body, headers=headers, timeout=1)
    except (TimeoutError, nats.errors.Error):
        return True
    return False


async def stored(controller: NatsBus, ev: Event) -> bool:
    """Whether ``ev`` reached the events stream (read with the controller's rights)."""
    stream = controller.subscribe(ev.subject, deliver="all")
    try:
        async with asyncio.timeout(3):
            async for got in stream:
                if got.id == ev.id:
                    return True
    except TimeoutError:
        return False
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return False


async def read_state(client: Client) -> object:
    kv = await client.jetstream().key_value("runner-runs")
    return await kv.get("run.perm-step")


async def test_a_step_can_report_and_do_nothing_else(server: str, controller: NatsBus) -> None:
    step = await bus_as(server, "step")
    try:
        report = event(EventKind.STEP_STARTED, "perm-step")
        await step.publish(report)  # through runner's own client, as the step process does
        assert await stored(controller, report)
    finally:
        await step.close()
    client = await raw(server, "step")
    try:
        assert await refused_publish(client, event(EventKind.RUN_REQUESTED, "perm-step-2"))
        with pytest.raises((TimeoutError, nats.errors.Error)):
            await read_state(client)
    finally:
        await client.close()


async def test_a_viewer_reads_events_but_cannot_publish(server: str, controller: NatsBus) -> None:
    report = event(EventKind.STEP_STARTED, "perm-view")
    await controller.publish(report)
    viewer = await bus_as(server, "viewer")
    try:
        assert await stored(viewer, report)  # runner.subscribe / runner events, as a viewer
    finally:
        await viewer.close()
    client = await raw(server, "viewer")
    try:
        for kind in (EventKind.STEP_STARTED, EventKind.RUN_REQUESTED):
            assert await refused_publish(client, event(kind, "perm-view-2"))
    finally:
        await client.close()


async def test_a_submitter_requests_cancels_and_reads_run_state(
    server: str, controller: NatsBus
) -> None:
    await (await controller.state_bucket()).create("run.perm-sub", b'j{"x": 1}')
    submitter = await bus_as(server, "submitter")
    try:
        for kind in (EventKind.RUN_REQUESTED, EventKind.RUN_CANCEL_REQUESTED):
            ev = event(kind, "perm-sub")
            await submitter.publish(ev)
            assert await stored(controller, ev)
        # what `runner status` reads
        entry = await (await submitter.state_bucket()).get("run.perm-sub")
        assert entry is not None
        assert entry[0] == b'j{"x": 1}'
        assert RunStates(submitter) is not None
    finally:
        await submitter.close()
    client = await raw(server, "submitter")
    try:
        assert await refused_publish(client, event(EventKind.STEP_STARTED, "perm-sub"))
    finally:
        await client.close()
