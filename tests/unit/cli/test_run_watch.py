"""`runner run` stops waiting when its in-process controller has died."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import pytest

from runner.cli import run
from runner.errors import RunnerError
from runner.stack import Stack
from tests.waiting import until


@dataclass
class FakeStack:
    controller: Any
    running: bool = True
    checks: int = 0

    @property
    def controller_running(self) -> bool:
        self.checks += 1
        return self.running


async def checked(stack: FakeStack, times: int) -> None:
    """Wait (with a deadline) until the watcher has looked at the stack ``times`` times."""
    await until(lambda: stack.checks >= times, f"{times} looks at the stack", 5, interval=0.005)


async def test_a_dead_controller_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "CONTROLLER_POLL_SECONDS", 0.01)
    stack = FakeStack(controller=object())
    watch = asyncio.create_task(run._watch_controller(cast(Stack, stack)))
    await checked(stack, 3)  # it polled a live controller three times and kept waiting
    assert not watch.done()
    stack.running = False
    with pytest.raises(RunnerError, match="in-process controller stopped"):
        await asyncio.wait_for(watch, timeout=5)


async def test_no_in_process_controller_nothing_to_watch() -> None:
    stack = FakeStack(None)
    watch = asyncio.create_task(run._watch_controller(cast(Stack, stack)))
    for _ in range(20):  # it waits forever without polling: let it run a while
        await asyncio.sleep(0)
    assert stack.checks == 0
    assert not watch.done()
    watch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watch
