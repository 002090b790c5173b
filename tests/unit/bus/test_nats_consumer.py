"""NatsConsumer.fetch never raises on a timeout, whichever TimeoutError nats-py uses."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest

from runner.bus.consumer import NatsConsumer, StreamTarget


class _TimingOut:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        raise self.exc


@pytest.mark.parametrize("exc", [nats.errors.TimeoutError(), TimeoutError()])
async def test_fetch_timeout_is_an_empty_list(exc: BaseException) -> None:
    sub: Any = _TimingOut(exc)
    consumer = NatsConsumer(None, sub, StreamTarget("S", "nats://h"), "c", durable=True)  # type: ignore[arg-type]
    assert await consumer.fetch(10, 0.1) == []
