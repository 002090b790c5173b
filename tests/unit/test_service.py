"""The long-lived service notices a dead controller instead of idling."""

from __future__ import annotations

import asyncio

import pytest

from runner.service import ServiceError, _until_stopped


async def test_a_dead_controller_stops_the_service_with_its_cause() -> None:
    async def controller() -> None:
        raise RuntimeError("lost the bus")

    task = asyncio.create_task(controller())
    with pytest.raises(ServiceError, match=r"RuntimeError: lost the bus"):
        await _until_stopped(asyncio.Event(), task)


async def test_a_stop_request_ends_the_wait_and_leaves_the_controller_alone() -> None:
    stop = asyncio.Event()
    controller = asyncio.create_task(asyncio.sleep(3600))
    asyncio.get_running_loop().call_later(0.05, stop.set)
    await _until_stopped(stop, controller)
    assert not controller.done()
    controller.cancel()
    await asyncio.gather(controller, return_exceptions=True)
