"""Stopping owned tasks whose libraries swallow a cancellation."""

from __future__ import annotations

import asyncio

from runner.errors import BusError
from runner.tasks import raise_if_cancelling, stop_task, stop_tasks


async def _stubborn(passes: list[int]) -> None:
    """A loop that survives errors, around a call that turns a cancel into its error."""
    while True:
        passes.append(1)
        try:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise BusError("publish stalled") from None  # what nats-py does in places
        except BusError:
            pass  # logged and retried, as a service loop does
        await asyncio.sleep(10)


async def test_stop_task_ends_a_task_that_swallowed_the_first_cancel() -> None:
    passes: list[int] = []
    task = asyncio.create_task(_stubborn(passes))
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await stop_task(task)
    assert task.done()
    assert len(passes) == 1  # it went on once, then the second cancel ended it


async def _careful() -> None:
    while True:
        try:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise BusError("publish stalled") from None
        except BusError as exc:
            raise_if_cancelling(exc)
        await asyncio.sleep(10)


async def test_a_loop_that_checks_stops_at_the_first_cancel() -> None:
    task = asyncio.create_task(_careful())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done
    assert task.cancelled()


async def test_stop_tasks_and_none() -> None:
    await stop_task(None)
    tasks = [asyncio.create_task(asyncio.sleep(10)) for _ in range(3)]
    await stop_tasks(tasks)
    assert all(t.cancelled() for t in tasks)
