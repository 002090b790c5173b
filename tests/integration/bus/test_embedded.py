"""EmbeddedNats: the private nats-server of the default setup."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from runner.bus import EmbeddedNats, connect, discover, stop_discovered
from runner.bus.embedded import INFO_FILE, find_binary
from runner.config import NatsSettings
from runner.errors import BusError, ConfigError
from runner.events import EventKind
from tests.unit.events.samples import sample

pytestmark = pytest.mark.integration

PLANTED = "pl4nted-S3CRET-pw"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def settings(url: str, **overrides: object) -> NatsSettings:
    values: dict[str, object] = {"url": url, "user": None, "password": None, "token": None}
    values.update(overrides)
    return NatsSettings(**values)  # type: ignore[arg-type]


def test_binary_comes_from_the_wheel() -> None:
    path = find_binary()
    assert path.name == "nats-server"
    assert os.access(path, os.X_OK)


async def test_start_then_stop_by_pid(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    url = await server.start()
    pid = server.pid
    assert pid is not None
    try:
        assert url.startswith("nats://127.0.0.1:")
        assert alive(pid)
        assert discover(tmp_path) == url
        config = tmp_path / "nats-server.conf"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert "max_payload: 8388608" in config.read_text()
    finally:
        await server.stop()
    assert not alive(pid)
    assert discover(tmp_path) is None
    assert not (tmp_path / INFO_FILE).exists()
    await server.stop()  # idempotent


async def test_a_second_server_on_the_same_dir_is_refused(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path) as first:
        with pytest.raises(BusError, match="already runs on .* at " + first.url):
            await EmbeddedNats(tmp_path).start()


async def test_another_process_can_stop_it(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    await server.start()
    pid = server.pid
    assert pid is not None
    try:
        assert await stop_discovered(tmp_path) is True
        assert discover(tmp_path) is None
        assert await stop_discovered(tmp_path) is False
    finally:
        await server.stop()  # reaps the child
    assert not alive(pid)


def test_discover_ignores_a_dead_pid(tmp_path: Path) -> None:
    (tmp_path / INFO_FILE).write_text(json.dumps({"pid": 2**22 + 7, "url": "nats://127.0.0.1:1"}))
    assert discover(tmp_path) is None
    (tmp_path / INFO_FILE).write_text("{broken")
    assert discover(tmp_path) is None


async def test_start_failure_reports_the_server_log(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path, host="256.0.0.1")
    with pytest.raises(BusError) as info:
        await server.start()
    text = str(info.value)
    assert "nats-server exited with status" in text
    assert "nats-server.log" in text
    assert "256.0.0.1" in text  # the server's own complaint, from its log
    assert server.pid is None


async def test_events_survive_a_restart(tmp_path: Path) -> None:
    event = sample(EventKind.RUN_STARTED)
    async with EmbeddedNats(tmp_path) as server:
        bus = await connect(settings(server.url))
        try:
            await bus.ensure_streams()
            await bus.publish(event)
            await (await bus.state_bucket()).create("run.r1", b"state")
        finally:
            await bus.close()
    async with EmbeddedNats(tmp_path) as server:
        bus = await connect(settings(server.url))
        try:
            consumer = await bus.pull_consumer("after-restart")
            (delivery,) = await consumer.fetch(1, 2.0)
            await consumer.close()
            assert delivery.event == event
            assert (await (await bus.state_bucket()).get("run.r1") or (b"",))[0] == b"state"
        finally:
            await bus.close()


async def test_user_password_auth(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    async with EmbeddedNats(tmp_path, user="alice", password=PLANTED) as server:
        assert PLANTED not in server.url
        bus = await connect(settings(server.url, user="alice", password=PLANTED))
        try:
            await bus.ensure_streams()
            await bus.publish(sample(EventKind.RUN_STARTED))
        finally:
            await bus.close()
        wrong = settings(server.url, user="alice", password="wrong-" + PLANTED)
        with pytest.raises(ConfigError) as info:
            await connect(wrong.model_copy(update={"connect_timeout_seconds": 1.0}))
        assert "rejected the credentials" in str(info.value)
        assert server.url in str(info.value)
        assert PLANTED not in str(info.value)
        anonymous = settings(server.url, connect_timeout_seconds=1.0)
        with pytest.raises(ConfigError):
            await connect(anonymous)
    assert PLANTED not in caplog.text
