"""Which stack a command uses: the ``runner up`` marker and other commands' servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.cli import stack
from runner.config import Settings
from runner.errors import ConfigError


def test_up_marker_round_trip_and_dead_pid(tmp_path: Path) -> None:
    assert stack.read_up(tmp_path) is None
    stack.write_up(tmp_path, "nats://127.0.0.1:4222")
    info = stack.read_up(tmp_path)
    assert info == stack.UpInfo(pid=os.getpid(), nats_url="nats://127.0.0.1:4222")
    (tmp_path / stack.UP_MARKER).write_text('{"pid": 999999999, "nats_url": "nats://x:1"}')
    assert stack.read_up(tmp_path) is None, "a dead runner up is no stack"
    stack.write_up(tmp_path, "nats://127.0.0.1:4222")
    stack.remove_up(tmp_path)
    assert not (tmp_path / stack.UP_MARKER).exists()


def test_shared_stack_is_an_external_nats_or_a_live_runner_up(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert stack.shared_stack_url(settings) is None
    stack.write_up(tmp_path, "nats://127.0.0.1:4222")
    assert stack.shared_stack_url(settings) == "nats://127.0.0.1:4222"
    external = Settings(home=tmp_path / "other")
    external.nats.url = "nats://remote:4222"
    assert stack.shared_stack_url(external) == "nats://remote:4222"


async def test_another_commands_private_server_is_waited_for_then_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path)
    answers = ["nats://127.0.0.1:5", None]
    monkeypatch.setattr(stack, "discover", lambda _dir: answers.pop(0))
    await stack.wait_for_private_server(settings, grace=5)
    assert answers == [], "it went away: the run may start its own"

    monkeypatch.setattr(stack, "discover", lambda _dir: "nats://127.0.0.1:5")
    with pytest.raises(ConfigError, match="belongs to another runner command"):
        await stack.wait_for_private_server(settings, grace=0.2)


def test_kubernetes_steps_need_a_nats_they_can_reach(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, executor="kubernetes")
    with pytest.raises(ConfigError, match="needs a NATS server its step pods can reach"):
        stack.check_executor(settings, in_process=True)
    stack.check_executor(settings, in_process=False)
    settings.nats.url = "nats://nats:4222"
    stack.check_executor(settings, in_process=True)
    stack.check_executor(Settings(home=tmp_path), in_process=True)
