"""Helpers for trigger and sink tests against a real nats-server (and moto S3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from nats.js import JetStreamContext

from runner.bus import NatsBus

REQUESTS = "runner.events.*.*.run.requested"


async def until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait for ``condition`` with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


async def count_on(js: JetStreamContext, stream: str, subject: str) -> int:
    """Messages the stream holds on subjects matching ``subject`` (exact, from the server)."""
    info = await js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def run_requests(js: JetStreamContext, bus: NatsBus) -> int:
    return await count_on(js, bus.settings.stream, REQUESTS)
