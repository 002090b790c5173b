"""The long-lived service stops (non-zero) when its nats-server cannot be kept running."""

from __future__ import annotations

import asyncio

import pytest

from runner.errors import BusError
from runner.service import ServiceError, _until_stopped


async def test_a_supervisor_that_gave_up_stops_the_service() -> None:
    async def supervisor() -> None:
        raise BusError("the embedded nats-server stopped 6 times within 60s")

    controller = asyncio.create_task(asyncio.sleep(3600))
    server = asyncio.create_task(supervisor())
    try:
        with pytest.raises(ServiceError, match="embedded nats-server could not be kept running"):
            await _until_stopped(asyncio.Event(), controller, server)
        assert not controller.done(), "the caller stops the controller, in phases"
    finally:
        controller.cancel()
        await asyncio.gather(controller, return_exceptions=True)


async def test_a_running_supervisor_does_not_end_the_wait() -> None:
    stop = asyncio.Event()
    server = asyncio.create_task(asyncio.sleep(3600))
    asyncio.get_running_loop().call_later(0.05, stop.set)
    await _until_stopped(stop, None, server)
    assert not server.done()
    server.cancel()
    await asyncio.gather(server, return_exceptions=True)
