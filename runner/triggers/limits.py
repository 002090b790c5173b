"""How many runs a trigger may start: a rate and a cap on unfinished runs.

Over a limit, the answer is "not now, ask again in N seconds": a JetStream
notification is nak'ed with that delay, a core NATS one waits, a poll stops
and keeps its cursor. Nothing is dropped.

The rate is a token bucket per trigger in this process (``max_runs_per_minute``
tokens, refilled continuously). The concurrency cap counts the trigger's
unfinished runs, kept in KV (``active.<trigger>``) so that it holds across
restarts and replicas; a run leaves the list when its state is terminal, or
when the controller never recorded it within :data:`UNSEEN_RUN_GRACE`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from runner.bus.base import KVBucket
from runner.errors import ConflictError
from runner.triggers.models import Trigger

__all__ = ["CONCURRENCY_RECHECK_SECONDS", "UNSEEN_RUN_GRACE", "RunLimiter", "RunStatus"]

CONCURRENCY_RECHECK_SECONDS = 10.0
UNSEEN_RUN_GRACE = timedelta(minutes=10)

RunStatus = Callable[[str, str], Awaitable[bool | None]]
"""``(pipeline, run_id) -> True`` if finished, ``False`` if not, ``None`` if unknown."""


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class RunLimiter:
    """Answers "may this trigger start a run now?" and records the runs it starts."""

    def __init__(self, kv: KVBucket, finished: RunStatus) -> None:
        self._kv = kv
        self._finished = finished
        self._buckets: dict[str, _Bucket] = {}

    async def delay(self, trigger: Trigger, now: datetime) -> float | None:
        """Seconds to wait before trying again, or None: go ahead."""
        rate = trigger.limits.max_runs_per_minute
        if rate is not None:
            bucket = self._refill(trigger.name, rate, now)
            if bucket.tokens < 1.0:
                return (1.0 - bucket.tokens) * 60.0 / rate
        cap = trigger.limits.max_concurrent_runs
        if cap is not None and len(await self._active(trigger, now)) >= cap:
            return CONCURRENCY_RECHECK_SECONDS
        return None

    def _refill(self, name: str, rate: float, now: datetime) -> _Bucket:
        capacity = max(rate, 1.0)
        bucket = self._buckets.setdefault(name, _Bucket(capacity, now))
        elapsed = max((now - bucket.at).total_seconds(), 0.0)
        bucket.tokens = min(capacity, bucket.tokens + elapsed * rate / 60.0)
        bucket.at = now
        return bucket

    async def started(self, trigger: Trigger, run_id: str, now: datetime) -> None:
        if trigger.limits.max_runs_per_minute is not None:
            self._refill(trigger.name, trigger.limits.max_runs_per_minute, now).tokens -= 1.0
        if trigger.limits.max_concurrent_runs is None:
            return
        for _ in range(5):
            runs, revision = await self._load(trigger.name)
            if any(r["run_id"] == run_id for r in runs):
                return
            runs.append(
                {"run_id": run_id, "pipeline": trigger.pipeline.name, "at": now.isoformat()}
            )
            if await self._save(trigger.name, runs, revision):
                return

    async def _active(self, trigger: Trigger, now: datetime) -> list[dict[str, str]]:
        runs, revision = await self._load(trigger.name)
        still = [r for r in runs if not await self._gone(r, now)]
        if len(still) != len(runs):
            await self._save(trigger.name, still, revision)  # losing the race is harmless
        return still

    async def _gone(self, run: dict[str, str], now: datetime) -> bool:
        finished = await self._finished(run["pipeline"], run["run_id"])
        if finished is None:
            return now - datetime.fromisoformat(run["at"]) > UNSEEN_RUN_GRACE
        return finished

    async def _load(self, name: str) -> tuple[list[dict[str, str]], int]:
        found = await self._kv.get(f"active.{name}")
        if found is None:
            return [], 0
        try:
            runs = json.loads(found[0])
        except ValueError:
            runs = []
        return (runs if isinstance(runs, list) else []), found[1]

    async def _save(self, name: str, runs: list[dict[str, str]], revision: int) -> bool:
        data = json.dumps(runs).encode()
        try:
            if revision == 0:
                await self._kv.create(f"active.{name}", data)
            else:
                await self._kv.update(f"active.{name}", data, revision)
        except ConflictError:
            return False
        return True
