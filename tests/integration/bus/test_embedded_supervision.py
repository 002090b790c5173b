"""EmbeddedNats.supervise: a nats-server killed behind our back comes back on the
same port and data dir, clients reconnect; a server that cannot come back is an error."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.bus import EmbeddedNats, NatsBus, connect, embedded
from runner.bus.embedded import RestartPolicy
from runner.bus.server_record import read_record
from runner.config import NatsSettings
from runner.errors import BusError
from runner.events import EventKind
from runner.process_identity import ProcessIdentity
from tests.unit.events.samples import sample
from tests.waiting import until

pytestmark = pytest.mark.integration

FAST = RestartPolicy(poll_seconds=0.05, backoff_seconds=0.05, max_backoff_seconds=0.1)


def settings(url: str) -> NatsSettings:
    return NatsSettings(url=url, user=None, password=None, token=None, connect_timeout_seconds=2)


@contextlib.asynccontextmanager
async def supervised(
    server: EmbeddedNats, policy: RestartPolicy = FAST
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(server.supervise(policy), name="test-supervisor")
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _recorded(data_dir: Path) -> int | None:
    record = read_record(data_dir)
    return record.server.pid if record is not None else None


def kill(server: EmbeddedNats) -> int:
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_a_killed_server_comes_back_on_the_same_port_and_clients_reconnect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="runner.bus.embedded")
    async with EmbeddedNats(tmp_path) as server:
        url = server.url
        bus: NatsBus = await connect(settings(url))
        try:
            await bus.ensure_streams()
            await (await bus.state_bucket()).create("run.before", b"kept")
            consumer = await bus.pull_consumer("survivor")
            async with supervised(server) as task:
                old = kill(server)
                await until(lambda: server.pid not in (None, old), "a new server", 20)
                assert server.url == url, "same port: every client's URL stays right"
                # The record follows once the new server answers (its pid is known first).
                await until(lambda: _recorded(tmp_path) == server.pid, "its record", 20)
                record = read_record(tmp_path)
                assert record is not None
                assert record.owner == ProcessIdentity.current()
                # The old connection reconnects by itself; JetStream kept its data.
                event = sample(EventKind.RUN_STARTED)
                await wait_for_publish(bus, event)
                deliveries = await consumer.fetch(1, 5.0)
                assert [d.event for d in deliveries] == [event]
                await deliveries[0].ack()
                kept = await (await bus.state_bucket()).get("run.before")
                assert (kept or (b"",))[0] == b"kept"
                assert not task.done()
                assert server.restarts == 1
            await consumer.close()
        finally:
            await bus.close()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and r.name == "runner.bus.embedded"
    ]
    assert len(warnings) == 1, warnings
    assert f"(pid {old}) was killed by SIGKILL; restarting it on port" in warnings[0]


async def wait_for_publish(bus: NatsBus, event: object, timeout: float = 20) -> None:
    """Publish once the client is back (tries fail fast while it reconnects)."""
    errors: list[BusError] = []

    async def published() -> bool:
        try:
            await bus.publish(event)  # type: ignore[arg-type]
        except BusError as exc:
            errors.append(exc)
            return False
        return True

    await until(
        published,
        "the reconnected client to publish",
        timeout,
        interval=0.1,
        detail=lambda: f"the last try said: {errors[-1]}",
    )


async def test_a_taken_port_is_reported_and_supervision_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "PORT_RELEASE_SECONDS", 0.2)
    policy = RestartPolicy(
        poll_seconds=0.05, max_failed_starts=2, backoff_seconds=0.05, max_backoff_seconds=0.1
    )
    async with EmbeddedNats(tmp_path) as server:
        port = int(server.url.rsplit(":", 1)[1])
        kill(server)
        with socket.socket() as squatter:
            # REUSEADDR: the old server's TIME_WAIT connections must not stop the squat.
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            await until(lambda: _bound(squatter, port), "the dead server's port", 10)
            squatter.listen()
            async with supervised(server, policy) as task:
                await asyncio.wait({task}, timeout=30)
                assert task.done(), "it must give up, not retry forever"
                error = task.exception()
        assert isinstance(error, BusError)
        text = str(error)
        assert "could not be restarted 2 times in a row" in text
        assert f"127.0.0.1:{port}" in text
        assert "taken by another process" in text
        assert "start again" in text


def _bound(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False  # the killed server's last threads still hold it
    return True


async def test_a_deliberate_stop_is_not_restarted(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    await server.start()
    pid = server.pid
    assert pid is not None
    async with supervised(server) as task:
        await server.stop()
        await asyncio.wait({task}, timeout=5)
        assert task.done()
        assert task.exception() is None
    assert server.pid is None
    assert ProcessIdentity.of(pid) is None
    assert read_record(tmp_path) is None
