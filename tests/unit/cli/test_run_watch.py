"""`runner run` stops waiting when its in-process controller has died."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import pytest

from runner.cli import run
from runner.errors import RunnerError
from runner.local import LocalStack


@dataclass
class FakeStack:
    controller: Any
    controller_running: bool = True


async def test_a_dead_controller_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "CONTROLLER_POLL_SECONDS", 0.01)
    stack = FakeStack(controller=object())
    watch = asyncio.create_task(run._watch_controller(cast(LocalStack, stack)))
    await asyncio.sleep(0.05)
    assert not watch.done()
    stack.controller_running = False
    with pytest.raises(RunnerError, match="in-process controller stopped"):
        await asyncio.wait_for(watch, timeout=5)


async def test_no_in_process_controller_nothing_to_watch() -> None:
    watch = asyncio.create_task(run._watch_controller(cast(LocalStack, FakeStack(None))))
    await asyncio.sleep(0.05)
    assert not watch.done()
    watch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watch
