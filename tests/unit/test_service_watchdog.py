"""A slow shutdown says what it waits for; a second interrupt ends it at once."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from runner import service


async def test_a_stalled_shutdown_names_the_tasks_it_waits_for(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    async def stuck_somewhere() -> None:
        await asyncio.sleep(30)

    task = asyncio.create_task(stuck_somewhere(), name="the-stuck-one")
    await asyncio.sleep(0)
    watchdog = service._ShutdownWatchdog(asyncio.get_running_loop())
    with caplog.at_level(logging.ERROR, logger="runner.service"):
        watchdog._report()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    text = caplog.text
    assert "still stopping after" in text
    assert "the-stuck-one" in text
    assert "stuck_somewhere" in text
    assert "most recent call first" in capfd.readouterr().err  # faulthandler, every thread


def test_a_second_interrupt_exits_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    codes: list[int] = []
    monkeypatch.setattr(os, "_exit", codes.append)
    loop = asyncio.new_event_loop()
    try:
        service._ShutdownWatchdog(loop).force()
    finally:
        loop.close()
    assert codes == [130]
