"""Leases: one holder at a time, renewal, takeover after expiry, release on stop."""

from __future__ import annotations

import asyncio
import json

import pytest

from runner.bus.memory_feeds import MemoryKV
from runner.triggers.lease import Lease


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_holder_then_the_next_after_release() -> None:
    kv, clock = MemoryKV("b"), Clock()
    first_running, stop_first = asyncio.Event(), asyncio.Event()
    blocked = asyncio.Event()

    async def first_work() -> None:
        first_running.set()
        await stop_first.wait()

    async def second_work() -> None:
        return None

    async def nap(seconds: float) -> None:
        await asyncio.sleep(0)

    a = Lease(kv, "lease.x", "a", ttl=30, clock=clock, sleep=nap)
    b = Lease(kv, "lease.x", "b", ttl=30, clock=clock, sleep=nap, on_blocked=blocked.set)
    async with asyncio.timeout(5):
        task_a = asyncio.create_task(a.run(first_work))
        await first_running.wait()
        assert json.loads((await kv.get("lease.x"))[0])["owner"] == "a"  # type: ignore[index]
        task_b = asyncio.create_task(b.run(second_work))
        await blocked.wait()
        assert not b.held
        stop_first.set()
        await task_a
        await task_b  # took the released lease and ran
    assert await kv.get("lease.x") is None


async def test_an_expired_lease_is_taken_over_and_the_old_holder_stops() -> None:
    kv, clock = MemoryKV("b"), Clock()
    await kv.create("lease.x", json.dumps({"owner": "dead", "expires": 999.0}).encode())
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    lease = Lease(kv, "lease.x", "me", ttl=0.03, clock=clock)
    task = asyncio.create_task(lease.run(work))
    try:
        async with asyncio.timeout(5):
            await started.wait()
            # Someone else takes it over (e.g. our renewals were too late).
            _, revision = await kv.get("lease.x")  # type: ignore[misc]
            await kv.update(
                "lease.x", json.dumps({"owner": "other", "expires": 2e9}).encode(), revision
            )
            await cancelled.wait()  # the renewal failed: the work was stopped
            assert not lease.held
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert json.loads((await kv.get("lease.x"))[0])["owner"] == "other"  # type: ignore[index]


async def test_work_errors_propagate_and_release_the_lease() -> None:
    kv = MemoryKV("b")

    async def broken() -> None:
        raise RuntimeError("boom")

    lease = Lease(kv, "lease.x", "me")
    with pytest.raises(RuntimeError, match="boom"):
        await lease.run(broken)
    assert await kv.get("lease.x") is None
